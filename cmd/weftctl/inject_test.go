package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weftmesh/weft/injector"
)

const pod = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
spec:
  containers:
  - name: app
    image: example.com/web:1.0
`

func TestInject(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	podFile := write("pod.yaml", pod)
	configFile := write("config.yaml", "proxyImage: registry.example.com/weft-proxy:v9\ncni: true\n")
	badConfig := write("bad.yaml", "proxyImge: x\n")
	badAnnotation := write("bad-annotation.yaml", strings.Replace(pod, "  namespace: shop\n",
		"  namespace: shop\n  annotations:\n    weft.dev/exclude-inbound-ports: \"80,http\"\n", 1))

	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		wantOut  []string // in stdout
		notOut   []string
		wantErr  string // in stderr
	}{
		{"file", []string{"inject", "-f", podFile}, "", 0,
			[]string{"name: weft-proxy", "name: weft-init", "image: " + injector.DefaultProxyImage, "weft.dev/status: injected"}, nil,
			"Pod shop/web: injected"},
		{"stdin and config", []string{"inject", "-f", "-", "--config", configFile}, pod, 0,
			[]string{"name: weft-proxy", "image: registry.example.com/weft-proxy:v9"}, []string{"weft-init"}, "Pod shop/web: injected"},
		{"quiet", []string{"inject", "-q", "-f", "-"}, pod, 0, []string{"name: weft-proxy"}, nil, ""},
		{"no file", []string{"inject"}, "", 2, nil, nil, "-f FILE is required"},
		{"extra argument", []string{"inject", "-f", podFile, "more"}, "", 2, nil, nil, "-f FILE is required"},
		{"missing file", []string{"inject", "-f", filepath.Join(dir, "none.yaml")}, "", 1, nil, nil, "no such file"},
		{"bad config", []string{"inject", "-f", podFile, "--config", badConfig}, "", 1, nil, nil, `bad.yaml: injector configuration: unknown field "proxyImge"`},
		{"bad annotation", []string{"inject", "-f", badAnnotation}, "", 1, nil, nil,
			`document 1: Pod web: annotation weft.dev/exclude-inbound-ports: "80,http": "http" is not a port`},
		{"help", []string{"inject", "--help"}, "", 0, []string{"weftctl inject -f FILE"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			for _, not := range tt.notOut {
				if strings.Contains(stdout.String(), not) {
					t.Errorf("stdout has %q:\n%s", not, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, stderr.String())
			}
			if tt.wantErr == "" && stderr.Len() != 0 {
				t.Errorf("stderr not empty:\n%s", stderr.String())
			}
		})
	}
}

// TestInjectMatchesEngine checks that the command prints exactly what the
// engine makes of the file.
func TestInjectMatchesEngine(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("..", "..", "injector", "testdata", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := injector.InjectManifests(injector.DefaultConfig(), in)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"inject", "-f", "-"}, bytes.NewReader(in), &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, stderr.String())
	}
	if !bytes.Equal(stdout.Bytes(), want) {
		t.Errorf("output is not the engine's:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "StatefulSet shop/legacy: skipped: opted out by label weft.dev/inject=disabled") {
		t.Errorf("stderr lacks the skipped StatefulSet:\n%s", stderr.String())
	}
}
