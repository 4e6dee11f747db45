package injector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
proxyImage: registry.example.com/weft-proxy:v1.2.3
logLevel: debug
cni: true
resources:
  requests:
    cpu: 50m
`))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.ProxyImage = "registry.example.com/weft-proxy:v1.2.3"
	want.LogLevel = "debug"
	want.CNI = true
	want.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("50m")
	if !equalJSON(t, cfg, want) {
		t.Errorf("config %+v, want %+v", cfg, want)
	}

	empty, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !equalJSON(t, empty, DefaultConfig()) {
		t.Errorf("empty config %+v is not the default", empty)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		wantErr    []string
	}{
		{"unknown field", "proxyImage: x\nlogLevle: debug\n", []string{`unknown field "logLevle"`}},
		{"unknown nested field", "resources:\n  requets: {}\n", []string{`unknown field "resources.requets"`}},
		{"not yaml", "proxyImage: [\n", []string{"injector configuration"}},
		{"empty image", "proxyImage: \"\"\n", []string{"proxyImage is required"}},
		{"bad address", "controlPlaneAddress: weft-controlplane\n", []string{`controlPlaneAddress "weft-controlplane"`}},
		{"bad port", "controlPlaneAddress: cp:http\n", []string{`controlPlaneAddress "cp:http": port "http" is not a port`}},
		{"bad trust domain", "trustDomain: Not/Valid\n", []string{`trustDomain "Not/Valid"`}},
		{"bad level", "logLevel: loud\n", []string{`logLevel "loud": want debug, info, warn or error`}},
		{"no configmap", "caRootConfigMap: \"\"\n", []string{"caRootConfigMap is required"}},
		{"request over limit", "resources:\n  requests:\n    memory: 1Gi\n", []string{"resources.requests.memory 1Gi exceeds resources.limits.memory 256Mi"}},
		{"other resource", "resources:\n  limits:\n    nvidia.com/gpu: 1\n", []string{"resources.limits.nvidia.com/gpu: only cpu and memory are supported"}},
		{"every error", "proxyImage: \"\"\nlogLevel: loud\n", []string{"proxyImage is required", "logLevel"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

// TestDocumentedDefaults keeps the configuration example of
// docs/injection.md equal to DefaultConfig.
func TestDocumentedDefaults(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "injection.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\nproxyImage:")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/injection.md lacks the configuration example")
	}
	cfg, err := ParseConfig([]byte("proxyImage:" + block))
	if err != nil {
		t.Fatal(err)
	}
	if !equalJSON(t, cfg, DefaultConfig()) {
		t.Errorf("documented configuration %+v is not DefaultConfig %+v", cfg, DefaultConfig())
	}
}
