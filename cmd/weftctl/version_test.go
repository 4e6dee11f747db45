package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/weftmesh/weft/version"
)

func TestVersionCmd(t *testing.T) {
	for _, tt := range []struct {
		name     string
		args     []string
		wantCode int
		want     string // prefix of stdout, or a part of stderr on failure
	}{
		{"full", []string{"version"}, 0, "weftctl "},
		{"short", []string{"version", "--short"}, 0, version.Get().Version + "\n"},
		{"argument", []string{"version", "client"}, 2, `version takes no arguments, got ["client"]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d; stderr %q", code, tt.wantCode, stderr.String())
			}
			if code == 0 && !strings.HasPrefix(stdout.String(), tt.want) || code != 0 && !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stdout %q, stderr %q; want %q", stdout.String(), stderr.String(), tt.want)
			}
		})
	}
}

// TestVersionStamped builds weftctl stamped as the Makefile does: "weftctl
// version" names the stamped version and commit.
func TestVersionStamped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds weftctl")
	}
	ldflags, err := version.LDFlags("v9.8.7-test", "feedface")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "weftctl")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(t.Context(), bin, "version").CombinedOutput()
	if want := "weftctl v9.8.7-test (commit feedface, " + runtime.Version() + ")\n"; err != nil || string(out) != want {
		t.Errorf("weftctl version = %q, %v; want %q", out, err, want)
	}
}
