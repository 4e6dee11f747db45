package injector

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestInjectManifestsRoundTrip injects testdata/manifests.yaml and checks
// every document: one that is not changed comes back byte for byte; in one
// that is, the pod templates are what InjectPodSpec makes of them and
// everything else (unknown fields included) decodes equal.
func TestInjectManifestsRoundTrip(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := goldenConfig(nil)
	out, results, err := InjectManifests(cfg, in)
	if err != nil {
		t.Fatal(err)
	}
	inDocs, outDocs := splitDocuments(string(in)), splitDocuments(string(out))
	if len(inDocs) != len(outDocs) || len(inDocs) != 12 {
		t.Fatalf("%d documents in, %d out, want 12:\n%s", len(inDocs), len(outDocs), out)
	}

	wantResults := []string{
		"5 Deployment web: injected",
		"6 CronJob report: injected",
		"7 Pod debug: injected",
		"8 DaemonSet node-agent: hostNetwork",
		"9 StatefulSet legacy: opted out by label weft.dev/inject=disabled",
		"10 ReplicaSet api: injected",
		"11 Job migrate: injected",
	}
	var gotResults []string
	for _, r := range results {
		what := "injected"
		if !r.Result.Injected {
			what = r.Result.Skipped
		}
		gotResults = append(gotResults, strings.Join([]string{strconv.Itoa(r.Document), r.Kind, r.Name + ":", what}, " "))
	}
	if strings.Join(gotResults, "\n") != strings.Join(wantResults, "\n") {
		t.Errorf("results:\n%s\nwant:\n%s", strings.Join(gotResults, "\n"), strings.Join(wantResults, "\n"))
	}

	changed := map[int]bool{5: true, 6: true, 7: true, 8: true, 10: true, 11: true}
	for i := range inDocs {
		doc := i + 1
		t.Run(strconv.Itoa(doc), func(t *testing.T) {
			if inDocs[i].separator != outDocs[i].separator {
				t.Errorf("separator %q became %q", inDocs[i].separator, outDocs[i].separator)
			}
			if !changed[doc] {
				if inDocs[i].body != outDocs[i].body {
					t.Errorf("unchanged document rewritten:\n%s\nbecame:\n%s", inDocs[i].body, outDocs[i].body)
				}
				return
			}
			var before, after map[string]any
			if err := yaml.Unmarshal([]byte(inDocs[i].body), &before); err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal([]byte(outDocs[i].body), &after); err != nil {
				t.Fatalf("output does not parse: %v\n%s", err, outDocs[i].body)
			}
			beforeTemplates, afterTemplates := podTemplates(before), podTemplates(after)
			if len(beforeTemplates) != 1 || len(afterTemplates) != 1 {
				t.Fatalf("%d and %d templates, want 1", len(beforeTemplates), len(afterTemplates))
			}
			bt, at := beforeTemplates[0], afterTemplates[0]
			var want, got corev1.PodTemplateSpec
			convertT(t, map[string]any{"metadata": bt["metadata"], "spec": bt["spec"]}, &want)
			convertT(t, map[string]any{"metadata": at["metadata"], "spec": at["spec"]}, &got)
			// A workload's template names the workload for its proxy's metrics.
			var kind, workload string
			for _, r := range results {
				if r.Document == doc && r.Result.Injected {
					kind, workload = r.Kind, r.Name
				}
			}
			if kind == "Pod" {
				workload = ""
			}
			if _, err := injectPodSpec(cfg, &want.ObjectMeta, &want.Spec, workload); err != nil {
				t.Fatal(err)
			}
			if !equalJSON(t, got, want) {
				t.Errorf("template is not InjectPodSpec's:\n%s", diffYAML(t, want, got))
			}
			if workload != "" && !hasArgs(got.Spec, "--workload", workload) {
				t.Errorf("the proxy of %s's template is not told its workload %q", kind, workload)
			}
			// Outside the typed template, everything is as it was.
			for _, key := range []string{"metadata", "spec"} {
				delete(bt, key)
				delete(at, key)
			}
			if !reflect.DeepEqual(before, after) {
				t.Errorf("document outside the template changed:\n%v\nbecame:\n%v", before, after)
			}
		})
	}

	// Fields the API types do not know survive inside the template.
	for _, want := range []string{"futureMetadataField: kept", "futureSpecField:", "futurePodField: true",
		"futureContainerField:", "futureVolumeField: x", "memory: 1000000", "terminationGracePeriodSeconds: 45"} {
		if !strings.Contains(outDocs[4].body, want) {
			t.Errorf("injected Deployment lacks %q:\n%s", want, outDocs[4].body)
		}
	}

	// The output injects to itself.
	again, _, err := InjectManifests(cfg, out)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(out) {
		t.Errorf("injecting the output changed it:\n%s", again)
	}
}

func TestInjectManifestsErrors(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"bad yaml", "kind: Pod\n---\nkind: [\n", "document 2: "},
		{"bad annotation", "kind: ConfigMap\n---\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    metadata:\n      annotations: {weft.dev/exclude-outbound-ports: http}\n",
			`document 2: Deployment web: annotation weft.dev/exclude-outbound-ports: "http": "http" is not a port (1-65535)`},
		{"bad template", "kind: Pod\nmetadata: {name: p}\nspec: {containers: 3}\n", "document 1: Pod p: decoding pod template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := InjectManifests(DefaultConfig(), []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name                      string
		orig, before, after, want any
	}{
		{"unchanged keeps orig", map[string]any{"x": "1.0", "u": 1}, map[string]any{"x": "1"}, map[string]any{"x": "1"}, map[string]any{"x": "1.0", "u": 1}},
		{"normalized key stays out", map[string]any{}, map[string]any{"n": nil}, map[string]any{"n": nil, "a": 1}, map[string]any{"a": 1}},
		{"removed key", map[string]any{"a": 1, "u": 2}, map[string]any{"a": 1}, map[string]any{}, map[string]any{"u": 2}},
		{"prepend", []any{map[string]any{"n": "a", "u": 1}}, []any{map[string]any{"n": "a"}}, []any{"p", map[string]any{"n": "a"}}, []any{"p", map[string]any{"n": "a", "u": 1}}},
		{"append", []any{map[string]any{"n": "a", "u": 1}}, []any{map[string]any{"n": "a"}}, []any{map[string]any{"n": "a"}, "q"}, []any{map[string]any{"n": "a", "u": 1}, "q"}},
		{"elementwise", []any{map[string]any{"p": 1, "u": 1}}, []any{map[string]any{"p": 1}}, []any{map[string]any{"p": 2}}, []any{map[string]any{"p": 2, "u": 1}}},
		{"reordered takes after", []any{"a", "b"}, []any{"a", "b"}, []any{"b", "a", "c"}, []any{"b", "a", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := merge(tt.orig, tt.before, tt.after); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("merge = %v, want %v", got, tt.want)
			}
		})
	}
}

// podTemplates finds the pod templates of obj (or its items) as the
// documented kinds keep them.
func podTemplates(obj map[string]any) []map[string]any {
	kind, _ := obj["kind"].(string)
	if kind == "List" {
		var out []map[string]any
		for _, item := range obj["items"].([]any) {
			out = append(out, podTemplates(item.(map[string]any))...)
		}
		return out
	}
	paths := map[string][]string{
		"Pod": nil, "Deployment": {"spec", "template"}, "DaemonSet": {"spec", "template"},
		"ReplicaSet": {"spec", "template"}, "Job": {"spec", "template"},
		"CronJob": {"spec", "jobTemplate", "spec", "template"},
	}
	path, ok := paths[kind]
	if !ok {
		return nil
	}
	m := obj
	for _, key := range path {
		m = m[key].(map[string]any)
	}
	return []map[string]any{m}
}

func convertT(t *testing.T, in, out any) {
	t.Helper()
	if err := convert(in, out); err != nil {
		t.Fatal(err)
	}
}

// hasArgs reports whether the injected proxy of spec has args in a row.
func hasArgs(spec corev1.PodSpec, args ...string) bool {
	for _, c := range spec.InitContainers {
		if c.Name != ProxyContainerName {
			continue
		}
		for i := range c.Args {
			if slices.Equal(c.Args[i:min(i+len(args), len(c.Args))], args) {
				return true
			}
		}
	}
	return false
}
