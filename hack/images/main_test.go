package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunUsage: what a bad "make images" command line tells the user.
func TestRunUsage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown image", []string{"--version", "v1", "--commit", "abc", "--binaries", "weft-proxy,envoy"}, `--binaries: unknown image "envoy", want one of weft-proxy, weft-controlplane, weft-cni`},
		{"tag with a plus", []string{"--version", "v1.0.0+meta", "--commit", "abc"}, `--version "v1.0.0+meta" is not a valid image tag`},
		{"version with a space", []string{"--version", "v1 beta", "--commit", "abc"}, `--version/--commit: version "v1 beta": want a non-empty word without spaces or quotes`},
		{"unknown architecture", []string{"--version", "v1", "--commit", "abc", "--arch", "x86"}, `--arch "x86": want a GOARCH`},
		{"nothing to build", []string{"--version", "v1", "--commit", "abc", "--binaries", ""}, "--binaries: no image to build"},
		{"stray argument", []string{"--version", "v1", "--commit", "abc", "weft-proxy"}, "unexpected arguments: [weft-proxy]"},
		{"unknown flag", []string{"--tag", "v1"}, "flag provided but not defined: -tag"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), append([]string{"--out-dir", t.TempDir()}, tt.args...), &stdout, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("run(%q) = %d, stderr %q; want 2 and %q", tt.args, code, stderr.String(), tt.want)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q: nothing should be built", stdout.String())
			}
		})
	}
}

// TestFillFromGit: without --version and --commit, the work tree names
// the build (this test runs in Weft's own checkout).
func TestFillFromGit(t *testing.T) {
	cfg := Config{ModuleDir: "."}
	if err := cfg.fillFromGit(t.Context()); err != nil {
		t.Skipf("not in a git work tree: %v", err)
	}
	if cfg.Version == "" || cfg.Commit == "" || !strings.Contains(cfg.Version, cfg.Commit[:4]) && !strings.HasPrefix(cfg.Version, "v") {
		t.Errorf("from git: version %q, commit %q", cfg.Version, cfg.Commit)
	}
	bad := Config{ModuleDir: t.TempDir()}
	if err := bad.fillFromGit(t.Context()); err == nil || !strings.Contains(err.Error(), "pass --version and --commit outside a git work tree") {
		t.Errorf("outside a work tree: %v, want a hint to pass --version and --commit", err)
	}
}
