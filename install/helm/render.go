package helm

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Where and as what the chart is installed.
const (
	// Namespace is the release namespace; the chart refuses any other.
	Namespace = "weft-system"
	// ReleaseName is the release weftctl installs.
	ReleaseName = "weft"
	// ManagedBy is app.kubernetes.io/managed-by of what weftctl renders
	// (Helm's own releases say Helm).
	ManagedBy = "weftctl"
)

// Labels and annotations every rendered object carries: they select what
// an upgrade prunes and what uninstall deletes.
const (
	LabelPartOf   = "app.kubernetes.io/part-of" // always "weft"
	LabelInstance = "app.kubernetes.io/instance"
	PartOf        = "weft"
	// AnnotationRevision is the install (1, 2, …) that last applied the
	// object; set by weftctl when it applies, not in the manifest.
	AnnotationRevision = "weft.dev/revision"
)

// Options are the inputs of one render.
type Options struct {
	// ReleaseName names the release (app.kubernetes.io/instance); empty
	// means ReleaseName.
	ReleaseName string
	// Values override the chart's values.yaml, key by key (as helm's -f
	// and --set do); see ParseValues.
	Values map[string]any
	// APIVersions are what the cluster serves, as Helm's Capabilities
	// spell them: "group/version" and "group/version/Kind". The
	// GatewayClass is rendered when "gateway.networking.k8s.io/v1/GatewayClass"
	// is among them (or gatewayClass.enabled).
	APIVersions []string
	// KubeVersion is the cluster's version ("v1.37.2"); empty means
	// Helm's default.
	KubeVersion string
	// Upgrade renders for an upgrade rather than a first install
	// (.Release.IsUpgrade).
	Upgrade bool
}

// Object is one rendered object.
type Object struct {
	*unstructured.Unstructured
	// Source is the chart file it came from, e.g. weft/templates/service.yaml.
	Source string
	// text is the object's YAML as rendered, comments kept.
	text []byte
}

// Render renders the embedded chart with opts and returns its objects in
// Order: the chart's crds/ first after the Namespace, then its templates.
// A value the schema refuses is an error naming it; so is a template
// object without the part-of and instance labels, or of a kind not in
// Order.
func Render(opts Options) ([]Object, error) {
	c, err := Load()
	if err != nil {
		return nil, err
	}
	release := cmp.Or(opts.ReleaseName, ReleaseName)
	caps := chartutil.DefaultCapabilities.Copy()
	caps.APIVersions = append(slices.Clone(caps.APIVersions), opts.APIVersions...)
	if opts.KubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(opts.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("kubernetes version %q: %w", opts.KubeVersion, err)
		}
		caps.KubeVersion = *kv
	}
	vals, err := chartutil.ToRenderValues(c, opts.Values, chartutil.ReleaseOptions{
		Name: release, Namespace: Namespace, Revision: 1, IsInstall: !opts.Upgrade, IsUpgrade: opts.Upgrade,
	}, caps)
	if err != nil {
		return nil, fmt.Errorf("chart values: %w%s", err, typeHint(err))
	}
	if r, ok := vals["Release"].(map[string]any); ok {
		r["Service"] = ManagedBy
	}
	files, err := engine.Render(c, vals)
	if err != nil {
		return nil, fmt.Errorf("render the chart: %w", err)
	}
	var objs []Object
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if !strings.HasSuffix(name, ".yaml") {
			continue // NOTES.txt
		}
		docs, err := decode(name, []byte(files[name]))
		if err != nil {
			return nil, err
		}
		for _, o := range docs {
			if l := o.GetLabels(); l[LabelPartOf] != PartOf || l[LabelInstance] != release {
				return nil, fmt.Errorf("%s: %s %s lacks the labels %s=%s and %s=%s", name, o.GetKind(), o.GetName(), LabelPartOf, PartOf, LabelInstance, release)
			}
		}
		objs = append(objs, docs...)
	}
	crds, err := crdObjects(c, release)
	if err != nil {
		return nil, err
	}
	objs = append(objs, crds...)
	return sortObjects(objs)
}

// crdObjects decodes the chart's crds/ (which Helm never templates) and
// gives each the labels templates carry; their YAML is re-encoded.
func crdObjects(c *chart.Chart, release string) ([]Object, error) {
	var out []Object
	for _, f := range c.CRDObjects() {
		docs, err := decode(f.Filename, f.File.Data)
		if err != nil {
			return nil, err
		}
		for _, o := range docs {
			labels := o.GetLabels()
			if labels == nil {
				labels = map[string]string{}
			}
			labels[LabelPartOf] = PartOf
			labels[LabelInstance] = release
			labels["app.kubernetes.io/managed-by"] = ManagedBy
			o.SetLabels(labels)
			text, err := yaml.Marshal(o.Object)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Filename, err)
			}
			o.text = text
			out = append(out, o)
		}
	}
	return out, nil
}

// docSeparator splits a YAML stream into documents.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decode returns the objects of a YAML stream, skipping empty documents
// (a template whose condition is false renders comments or nothing).
func decode(source string, data []byte) ([]Object, error) {
	var out []Object
	for i, doc := range docSeparator.Split(string(data), -1) {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, fmt.Errorf("%s, document %d: %w", source, i+1, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("%s, document %d: not a Kubernetes object (apiVersion, kind and metadata.name are required)", source, i+1)
		}
		out = append(out, Object{Unstructured: u, Source: source, text: []byte(strings.TrimSpace(doc) + "\n")})
	}
	return out, nil
}

// Manifest is the objects as one YAML stream for kubectl apply -f, each
// under a comment naming its source; templates keep their comments.
func Manifest(objs []Object) []byte {
	var b bytes.Buffer
	b.WriteString("# Weft, rendered from the Helm chart install/helm/weft by\n" +
		"# `weftctl install --dry-run` (make generate): do not edit. Install with\n" +
		"#   kubectl apply --server-side -f install/weft.yaml\n" +
		"# after the Gateway API CRDs (docs/install.md).\n")
	for _, o := range objs {
		fmt.Fprintf(&b, "---\n# Source: %s\n", o.Source)
		b.Write(o.text)
	}
	return b.Bytes()
}

// YAML is the object's YAML as rendered, comments kept (CRDs: re-encoded
// with the labels Render gives them).
func (o Object) YAML() []byte { return o.text }

// Find returns the object of kind and name among objs, or nil.
func Find(objs []Object, kind, name string) *Object {
	for i := range objs {
		if objs[i].GetKind() == kind && objs[i].GetName() == name {
			return &objs[i]
		}
	}
	return nil
}
