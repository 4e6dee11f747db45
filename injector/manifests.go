package injector

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// ManifestResult is what InjectManifests did to one pod template.
type ManifestResult struct {
	// Document is the 1-based index of the YAML document holding it.
	Document int
	// Kind, Namespace and Name identify the object (an item of a List is
	// named by itself, not by the List).
	Kind, Namespace, Name string
	Result                Result
}

// templatePaths says where each workload kind keeps its pod template; a Pod
// is its own template (nil path).
var templatePaths = map[string][]string{
	"Pod":                   nil,
	"Deployment":            {"spec", "template"},
	"StatefulSet":           {"spec", "template"},
	"DaemonSet":             {"spec", "template"},
	"ReplicaSet":            {"spec", "template"},
	"ReplicationController": {"spec", "template"},
	"Job":                   {"spec", "template"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template"},
}

// InjectManifests injects every pod template of a multi-document YAML text
// (Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs, Pods
// and Lists of them) and returns the text with those documents rewritten.
//
// Documents it does not change (other kinds, comments, templates left
// alone) are returned byte for byte. In a changed document only the pod
// template is patched: the difference injection makes to the typed template
// is applied to the decoded YAML, so fields the Kubernetes API types do not
// know survive; the document's comments and key order do not.
func InjectManifests(cfg Config, manifests []byte) ([]byte, []ManifestResult, error) {
	var out strings.Builder
	var results []ManifestResult
	for i, doc := range splitDocuments(string(manifests)) {
		out.WriteString(doc.separator)
		var obj any
		if err := yaml.Unmarshal([]byte(doc.body), &obj, useNumber); err != nil {
			return nil, nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		m, ok := obj.(map[string]any)
		if !ok {
			out.WriteString(doc.body)
			continue
		}
		before := len(results)
		if err := injectObject(cfg, m, i+1, &results); err != nil {
			return nil, nil, err
		}
		if !anyChanged(results[before:]) {
			out.WriteString(doc.body)
			continue
		}
		text, err := yaml.Marshal(m)
		if err != nil {
			return nil, nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		out.Write(text)
	}
	return []byte(out.String()), results, nil
}

func anyChanged(results []ManifestResult) bool {
	for _, r := range results {
		if r.Result.Injected || r.Result.Skipped == SkippedHostNetwork {
			return true
		}
	}
	return false
}

func useNumber(d *json.Decoder) *json.Decoder {
	d.UseNumber()
	return d
}

// injectObject injects obj's pod template, or every item of a List.
func injectObject(cfg Config, obj map[string]any, doc int, results *[]ManifestResult) error {
	kind, _ := obj["kind"].(string)
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	namespace, _ := meta["namespace"].(string)
	if items, ok := obj["items"].([]any); ok && strings.HasSuffix(kind, "List") {
		for _, item := range items {
			if m, ok := item.(map[string]any); ok {
				if err := injectObject(cfg, m, doc, results); err != nil {
					return err
				}
			}
		}
		return nil
	}
	path, ok := templatePaths[kind]
	if !ok {
		return nil
	}
	tmpl := obj
	for _, key := range path {
		if tmpl, ok = tmpl[key].(map[string]any); !ok {
			return nil // no template: nothing to inject
		}
	}
	workload := name // a workload's own manifest: its name
	if kind == "Pod" {
		workload = ""
	}
	res, err := injectTemplate(cfg, tmpl, workload)
	if err != nil {
		return fmt.Errorf("document %d: %s %s: %w", doc, kind, name, err)
	}
	*results = append(*results, ManifestResult{Document: doc, Kind: kind, Namespace: namespace, Name: name, Result: res})
	return nil
}

// injectTemplate injects the metadata and spec of tmpl in place, patching
// only what injection changes.
func injectTemplate(cfg Config, tmpl map[string]any, workload string) (Result, error) {
	orig := map[string]any{}
	for _, key := range []string{"metadata", "spec"} {
		if v, ok := tmpl[key]; ok {
			orig[key] = v
		}
	}
	var typed corev1.PodTemplateSpec
	if err := convert(orig, &typed); err != nil {
		return Result{}, err
	}
	var before map[string]any
	if err := convert(&typed, &before); err != nil {
		return Result{}, err
	}
	if workload == "" {
		workload = workloadOf(&typed.ObjectMeta)
	}
	res, err := injectPodSpec(cfg, &typed.ObjectMeta, &typed.Spec, workload)
	if err != nil || (!res.Injected && res.Skipped != SkippedHostNetwork) {
		return res, err
	}
	var after map[string]any
	if err := convert(&typed, &after); err != nil {
		return Result{}, err
	}
	merged, _ := merge(orig, before, after).(map[string]any)
	for _, key := range []string{"metadata", "spec"} {
		if v, ok := merged[key]; ok {
			tmpl[key] = v
		}
	}
	return res, nil
}

// convert turns in into out through JSON (numbers stay json.Number).
func convert(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encoding pod template: %w", err)
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(out); err != nil {
		return fmt.Errorf("decoding pod template: %w", err)
	}
	return nil
}

// merge applies to orig the change from before to after, where before is
// orig as the typed API sees it: what before and after agree on keeps
// orig's form, so unknown fields and unchanged values survive. A list that
// grew at its front or back keeps orig's elements; a list of the same
// length is merged element by element; any other change takes after.
func merge(orig, before, after any) any {
	if reflect.DeepEqual(before, after) {
		return orig
	}
	switch a := after.(type) {
	case map[string]any:
		b, okB := before.(map[string]any)
		o, okO := orig.(map[string]any)
		if !okB || !okO {
			return after
		}
		out := make(map[string]any, len(o))
		for k, v := range o {
			out[k] = v
		}
		for k, av := range a {
			bv, inBefore := b[k]
			ov, inOrig := o[k]
			switch {
			case inBefore && reflect.DeepEqual(bv, av):
			case inBefore && inOrig:
				out[k] = merge(ov, bv, av)
			default:
				out[k] = av
			}
		}
		for k := range b {
			if _, ok := a[k]; !ok {
				delete(out, k)
			}
		}
		return out
	case []any:
		b, okB := before.([]any)
		o, okO := orig.([]any)
		if !okB || !okO || len(o) != len(b) {
			return after
		}
		grown := len(a) - len(b)
		switch {
		case grown > 0 && reflect.DeepEqual(a[grown:], b):
			return append(append([]any{}, a[:grown]...), o...)
		case grown > 0 && reflect.DeepEqual(a[:len(b)], b):
			return append(append([]any{}, o...), a[len(b):]...)
		case grown == 0:
			out := make([]any, len(a))
			for i := range a {
				out[i] = merge(o[i], b[i], a[i])
			}
			return out
		}
	}
	return after
}

// document is one YAML document of a multi-document text: the separator
// line that opened it ("" for the first) and its text.
type document struct {
	separator string
	body      string
}

func splitDocuments(text string) []document {
	docs := []document{{}}
	for _, line := range strings.SplitAfter(text, "\n") {
		if isSeparator(line) {
			docs = append(docs, document{separator: line})
			continue
		}
		docs[len(docs)-1].body += line
	}
	return docs
}

// isSeparator reports whether line is a document marker "---", alone or
// followed by a comment.
func isSeparator(line string) bool {
	rest, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "---")
	if !ok {
		return false
	}
	rest = strings.TrimSpace(rest)
	return rest == "" || strings.HasPrefix(rest, "#")
}
