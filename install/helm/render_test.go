package helm_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/weftmesh/weft/injector"
	"github.com/weftmesh/weft/install/helm"
)

// names are "Kind namespace/name" of objs, in order.
func names(objs []helm.Object) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName())
	}
	return out
}

func find(objs []helm.Object, kind, name string) *helm.Object { return helm.Find(objs, kind, name) }

// injectorConfig is the mesh defaults ConfigMap, parsed as the injector
// parses it.
func injectorConfig(t *testing.T, objs []helm.Object) injector.Config {
	t.Helper()
	cm := find(objs, "ConfigMap", "weft-injector")
	if cm == nil {
		t.Fatalf("no ConfigMap weft-injector in %v", names(objs))
	}
	data, _, _ := unstructuredString(cm.Object, "data", "config.yaml")
	cfg, err := injector.ParseConfig([]byte(data))
	if err != nil {
		t.Fatalf("the injector refuses the chart's config.yaml: %v\n%s", err, data)
	}
	return cfg
}

func unstructuredString(obj map[string]any, path ...string) (string, bool, error) {
	cur := any(obj)
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false, nil
		}
		cur = m[p]
	}
	s, ok := cur.(string)
	return s, ok, nil
}

func TestRender(t *testing.T) {
	gatewayAPI := []string{"gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1/GatewayClass"}
	tests := []struct {
		name        string
		opts        helm.Options
		want        []string // "Kind name" that must be rendered
		wantNot     []string // … and must not
		wantCNI     bool
		wantProxyIm string
	}{
		{
			name: "defaults",
			opts: helm.Options{},
			want: []string{"CustomResourceDefinition authorizationpolicies.mesh.weft.dev", "ServiceAccount weft-controlplane",
				"ClusterRole weft-controlplane", "Role weft-controlplane", "ConfigMap weft-injector", "Service weft-controlplane",
				"Deployment weft-controlplane", "PodDisruptionBudget weft-controlplane", "MutatingWebhookConfiguration weft-sidecar-injector"},
			wantNot:     []string{"Namespace weft-system", "DaemonSet weft-cni", "ClusterRole weft-cni", "GatewayClass weft"},
			wantProxyIm: "ghcr.io/weftmesh/weft-proxy:v0.1.0",
		},
		{
			name:        "cni enabled",
			opts:        helm.Options{Values: map[string]any{"cni": map[string]any{"enabled": true}}},
			want:        []string{"DaemonSet weft-cni", "ServiceAccount weft-cni", "ClusterRole weft-cni", "ClusterRoleBinding weft-cni"},
			wantCNI:     true,
			wantProxyIm: "ghcr.io/weftmesh/weft-proxy:v0.1.0",
		},
		{
			name:        "cluster serves the Gateway API",
			opts:        helm.Options{APIVersions: gatewayAPI},
			want:        []string{"GatewayClass weft"},
			wantProxyIm: "ghcr.io/weftmesh/weft-proxy:v0.1.0",
		},
		{
			name:        "gatewayClass.enabled, namespace.create, own registry",
			opts:        helm.Options{Values: map[string]any{"gatewayClass": map[string]any{"enabled": true}, "namespace": map[string]any{"create": true}, "images": map[string]any{"registry": "registry.example.com/weft", "tag": "v9.9.9"}}},
			want:        []string{"GatewayClass weft", "Namespace weft-system"},
			wantProxyIm: "registry.example.com/weft/weft-proxy:v9.9.9",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := helm.Render(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				kind, name, _ := strings.Cut(w, " ")
				if find(objs, kind, name) == nil {
					t.Errorf("%s not rendered; rendered: %v", w, names(objs))
				}
			}
			for _, w := range tt.wantNot {
				kind, name, _ := strings.Cut(w, " ")
				if find(objs, kind, name) != nil {
					t.Errorf("%s rendered, want it left out", w)
				}
			}
			cfg := injectorConfig(t, objs)
			if cfg.CNI != tt.wantCNI {
				t.Errorf("injector config cni: %v, want %v (it follows cni.enabled)", cfg.CNI, tt.wantCNI)
			}
			if cfg.ProxyImage != tt.wantProxyIm {
				t.Errorf("injector config proxyImage %q, want %q", cfg.ProxyImage, tt.wantProxyIm)
			}
			for _, o := range objs {
				if o.GetLabels()[helm.LabelPartOf] != helm.PartOf || o.GetLabels()[helm.LabelInstance] != helm.ReleaseName {
					t.Errorf("%s %s lacks the part-of and instance labels: %v", o.GetKind(), o.GetName(), o.GetLabels())
				}
				if ns := o.GetNamespace(); ns != "" && ns != helm.Namespace {
					t.Errorf("%s %s is in namespace %q, want %s", o.GetKind(), o.GetName(), ns, helm.Namespace)
				}
			}
		})
	}
}

// TestRenderOrder: the namespace and CRDs come first, the webhook
// configuration after the Deployment serving it.
func TestRenderOrder(t *testing.T) {
	objs, err := helm.Render(helm.Options{Values: map[string]any{"namespace": map[string]any{"create": true}, "cni": map[string]any{"enabled": true}, "gatewayClass": map[string]any{"enabled": true}}})
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, o := range objs {
		pos[o.GetKind()] = i
	}
	if objs[0].GetKind() != "Namespace" || objs[1].GetKind() != "CustomResourceDefinition" {
		t.Errorf("first objects %v, want the Namespace then the CRDs", names(objs[:2]))
	}
	for _, before := range [][2]string{{"CustomResourceDefinition", "ServiceAccount"}, {"ClusterRoleBinding", "Deployment"}, {"ConfigMap", "Deployment"}, {"Deployment", "MutatingWebhookConfiguration"}, {"DaemonSet", "GatewayClass"}} {
		if pos[before[0]] >= pos[before[1]] {
			t.Errorf("%s after %s: %v", before[0], before[1], names(objs))
		}
	}
	again, err := helm.Render(helm.Options{Values: map[string]any{"namespace": map[string]any{"create": true}, "cni": map[string]any{"enabled": true}, "gatewayClass": map[string]any{"enabled": true}}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(helm.Manifest(objs), helm.Manifest(again)) {
		t.Error("two renders of the same values differ")
	}
}

// TestRenderBadValues: what a user sees for values the chart refuses.
// TestRenderAccessLog: controlPlane.accessLog turns on --access-log, and
// only then (the default manifest does not change).
func TestRenderAccessLog(t *testing.T) {
	for _, on := range []bool{false, true} {
		objs, err := helm.Render(helm.Options{Values: map[string]any{"controlPlane": map[string]any{"accessLog": on}}})
		if err != nil {
			t.Fatal(err)
		}
		d := find(objs, "Deployment", "weft-controlplane")
		if d == nil {
			t.Fatal("no Deployment weft-controlplane")
		}
		containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
		args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
		if got := slices.Contains(args, "--access-log"); got != on {
			t.Errorf("controlPlane.accessLog %v: the control plane's args %q, want --access-log %v", on, args, on)
		}
	}
}

func TestRenderBadValues(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"unknown key", map[string]any{"cni": map[string]any{"enable": true}}, "enable"},
		{"wrong type", map[string]any{"controlPlane": map[string]any{"replicas": "two"}}, "replicas"},
		{"bad log level", map[string]any{"controlPlane": map[string]any{"logLevel": "verbose"}}, "logLevel"},
		{"bad outbound policy", map[string]any{"controlPlane": map[string]any{"outboundTrafficPolicy": "DENY"}}, "outboundTrafficPolicy"},
		{"access log not a boolean", map[string]any{"controlPlane": map[string]any{"accessLog": "yes"}}, "accessLog"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := helm.Render(helm.Options{Values: tt.values})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Render: %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(file, []byte("cni:\n  enabled: true\n  binDir: /x\ncontrolPlane:\n  replicas: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]any{"namespace": map[string]any{"create": true}, "cni": map[string]any{"confDir": "/c"}}
	got, err := helm.ParseValues(base, helm.ValueFlags{
		Files:      []string{file},
		Sets:       []string{"controlPlane.replicas=5,cni.enabled=false,images.tag=3547958"},
		SetStrings: []string{"images.registry=1e10"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cni := got["cni"].(map[string]any)
	if cni["enabled"] != false || cni["binDir"] != "/x" || cni["confDir"] != "/c" {
		t.Errorf("cni = %v, want enabled false (--set over -f), binDir /x (file), confDir /c (base)", cni)
	}
	if r := got["controlPlane"].(map[string]any)["replicas"]; r != int64(5) {
		t.Errorf("controlPlane.replicas = %v (%T), want 5", r, r)
	}
	images := got["images"].(map[string]any)
	if images["tag"] != int64(3547958) || images["registry"] != "1e10" {
		t.Errorf("images = %#v, want tag the number 3547958 (--set, as helm) and registry the string 1e10 (--set-string)", images)
	}
	if _, ok := base["controlPlane"]; ok {
		t.Error("ParseValues modified base")
	}
	for _, bad := range []helm.ValueFlags{
		{Files: []string{filepath.Join(dir, "missing.yaml")}},
		{Sets: []string{"noequals"}},
		{SetStrings: []string{"noequals"}},
	} {
		if _, err := helm.ParseValues(nil, bad); err == nil {
			t.Errorf("ParseValues(%+v) succeeded, want an error", bad)
		}
	}
}

// TestChartCRDsUpToDate: the chart's crds/ are install/crds, which make
// generate copies; make verify fails otherwise, and so does this test.
func TestChartCRDsUpToDate(t *testing.T) {
	crds, err := helm.CRDs()
	if err != nil {
		t.Fatal(err)
	}
	src, err := filepath.Glob(filepath.Join("..", "crds", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(src) != len(crds) {
		t.Errorf("install/crds has %d files, the chart's crds/ %d: run make generate", len(src), len(crds))
	}
	for _, p := range src {
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(crds[filepath.Base(p)], want) {
			t.Errorf("install/helm/weft/crds/%s differs from install/crds: run make generate", filepath.Base(p))
		}
	}
}
