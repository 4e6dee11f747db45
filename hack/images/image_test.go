package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// TestNewImage builds images around a stand-in binary: no Go build, so it
// runs with -short.
func TestNewImage(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "weft-proxy")
	if err := os.WriteFile(bin, []byte("#!/bin/false\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Version: "v1.2.3", Commit: "abc1234", Arch: runtime.GOARCH}
	spec := Spec{Name: "weft-proxy", UID: ProxyUID}
	img := mustImage(t, spec, bin, cfg)
	if err := validate.Image(img); err != nil {
		t.Fatalf("not a valid image: %v", err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON ||
		len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer {
		t.Errorf("media types %s, %s, %v: want an OCI manifest, config and one OCI layer", m.MediaType, m.Config.MediaType, m.Layers)
	}

	t.Run("reproducible", func(t *testing.T) {
		again := mustImage(t, spec, bin, cfg)
		if digest(t, img) != digest(t, again) {
			t.Errorf("the same binary gave two digests: %s, %s", digest(t, img), digest(t, again))
		}
	})
	t.Run("version changes the digest", func(t *testing.T) {
		other := cfg
		other.Version = "v1.2.4"
		if digest(t, img) == digest(t, mustImage(t, spec, bin, other)) {
			t.Error("two versions gave one digest: the label is missing")
		}
	})
	t.Run("missing binary", func(t *testing.T) {
		_, err := newImage(spec, filepath.Join(t.TempDir(), "nothing"), cfg)
		if err == nil || !strings.Contains(err.Error(), "read binary") {
			t.Errorf("newImage without a binary = %v, want a \"read binary\" error", err)
		}
	})
}

func mustImage(t *testing.T, s Spec, bin string, cfg Config) v1.Image {
	t.Helper()
	img, err := newImage(s, bin, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
