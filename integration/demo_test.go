package integration

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs `weftctl demo` exactly as `make demo` does: real binaries,
// real processes. It must pass, print the report's proofs, and leave no
// process behind.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and runs them as processes")
	}
	bin := t.TempDir()
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin+"/", "../cmd/weft-controlplane", "../cmd/weft-proxy", "../cmd/weftctl")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	var stdout, stderr bytes.Buffer
	demo := exec.CommandContext(t.Context(), filepath.Join(bin, "weftctl"), "demo", "--bin-dir", bin)
	demo.Stdout, demo.Stderr = &stdout, &stderr
	err := demo.Run()
	t.Logf("weftctl demo output:\n%s%s", stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("weftctl demo failed: %v", err)
	}
	report := stdout.String()
	for _, want := range []string{
		"PASS: every check held.",
		"spiffe://cluster.local/ns/demo/sa/frontend",
		"spiffe://cluster.local/ns/demo/sa/backend",
		"backend sidecar <- gateway:   spiffe://cluster.local/ns/demo/sa/edge-weft",
		"refused",
		"p99",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}

	// No weft process may outlive the demo.
	out, _ := exec.CommandContext(t.Context(), "pgrep", "-f", bin).Output()
	if len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("processes left behind by the demo: %s", out)
	}
}
