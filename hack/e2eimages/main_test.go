package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunUsage: what a bad "make e2e-images" command line tells the user.
func TestRunUsage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown image", []string{"--images", "weft-e2e-app,kindnet"}, `--images: unknown image "kindnet", want one of weft-e2e-pause, weft-e2e-app, metallb-controller, metallb-speaker, coredns`},
		{"nothing to build", []string{"--images", ""}, "--images: no image to build"},
		{"unknown architecture", []string{"--arch", "x86"}, `--arch "x86": want amd64 or arm64`},
		{"MetalLB without its binaries", []string{"--metallb-dir", ""}, "--metallb-dir is required for the MetalLB images"},
		{"CoreDNS without its binary", []string{"--coredns-dir", ""}, "--coredns-dir is required for the CoreDNS image"},
		{"stray argument", []string{"weft-e2e-app"}, "unexpected arguments: [weft-e2e-app]"},
		{"unknown flag", []string{"--version", "v1"}, "flag provided but not defined: -version"},
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

// TestMissingMetalLB: the MetalLB images without metallb.sh's binaries
// fail with the way out.
func TestMissingMetalLB(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"--out-dir", t.TempDir(), "--metallb-dir", t.TempDir(), "--images", "metallb-speaker"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "run hack/e2eimages/metallb.sh first") {
		t.Errorf("run = %d, stderr %q; want 1 and the way out", code, stderr.String())
	}
}

// TestMissingCoreDNS: the CoreDNS image without coredns.sh's binary fails
// with the way out.
func TestMissingCoreDNS(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"--out-dir", t.TempDir(), "--coredns-dir", t.TempDir(), "--images", "coredns"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "run hack/e2eimages/coredns.sh first") {
		t.Errorf("run = %d, stderr %q; want 1 and the way out", code, stderr.String())
	}
}
