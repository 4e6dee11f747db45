package ociimage

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func testSpec(path string) Spec {
	return Spec{
		Binary: []byte("#!/bin/false\n"), Path: path, Args: []string{"serve"}, User: "65532:65532", Arch: "amd64",
		Labels: map[string]string{"org.opencontainers.image.title": "x"}, CreatedBy: "test", Comment: "x v1",
	}
}

func TestNew(t *testing.T) {
	for _, tt := range []struct {
		path     string
		wantDirs []string
	}{
		{"/pause", nil},
		{"/usr/local/bin/weft-e2e-app", []string{"usr", "usr/local", "usr/local/bin"}},
		{"/tmp/x", nil},
	} {
		t.Run(tt.path, func(t *testing.T) {
			img, err := New(testSpec(tt.path))
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(img); err != nil {
				t.Fatalf("not a valid image: %v", err)
			}
			m, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON || len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer {
				t.Errorf("manifest %+v: want an OCI manifest, config and one layer", m)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cf.Config.Entrypoint, []string{tt.path}) || !slices.Equal(cf.Config.Cmd, []string{"serve"}) ||
				cf.Config.User != "65532:65532" || cf.OS+"/"+cf.Architecture != "linux/amd64" || cf.Created.Unix() != 0 {
				t.Errorf("config %+v", cf)
			}
			root := t.TempDir()
			if err := Extract(img, root); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(filepath.Join(root, tt.path))
			if err != nil || fi.Mode() != 0o755 {
				t.Fatalf("binary %s: %v, %v; want mode -rwxr-xr-x", tt.path, fi, err)
			}
			for _, d := range append([]string{"etc", "tmp", "home/nonroot"}, tt.wantDirs...) {
				if fi, err := os.Stat(filepath.Join(root, d)); err != nil || !fi.IsDir() {
					t.Errorf("/%s: %v, want a directory", d, err)
				}
			}
			if fi, err := os.Stat(filepath.Join(root, "tmp")); err != nil || fi.Mode() != os.ModeDir|os.ModeSticky|0o777 {
				t.Errorf("/tmp: %v %v, want dtrwxrwxrwx", fi.Mode(), err)
			}
		})
	}
	t.Run("reproducible", func(t *testing.T) {
		a, b := mustNew(t, testSpec("/pause")), mustNew(t, testSpec("/pause"))
		if digest(t, a) != digest(t, b) {
			t.Error("the same spec gave two digests")
		}
	})
}

func TestNewRejects(t *testing.T) {
	for _, tt := range []struct {
		name string
		spec func(*Spec)
		want string
	}{
		{"no binary", func(s *Spec) { s.Binary = nil }, "no binary"},
		{"relative path", func(s *Spec) { s.Path = "pause" }, `binary path "pause"`},
		{"directory path", func(s *Spec) { s.Path = "/usr/" }, `binary path "/usr/"`},
		{"unclean path", func(s *Spec) { s.Path = "/a/../pause" }, `binary path "/a/../pause"`},
		{"over /etc/passwd", func(s *Spec) { s.Path = "/etc/passwd" }, "one of the image's own files"},
		{"over a directory", func(s *Spec) { s.Path = "/tmp" }, "one of the image's own files"},
		{"no arch", func(s *Spec) { s.Arch = "" }, "no architecture"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := testSpec("/pause")
			tt.spec(&s)
			if _, err := New(s); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	img := mustNew(t, testSpec("/pause"))
	dir := t.TempDir()
	file := filepath.Join(dir, "pause.tar")
	tags := []name.Tag{mustTag(t, "weft.dev/e2e/pause:v1"), mustTag(t, "weft.dev/e2e/pause:latest")}
	if err := Write(file, img, tags...); err != nil {
		t.Fatal(err)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(file) })
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(m[0].RepoTags))
	if len(m) != 1 || !slices.Equal(got, []string{"weft.dev/e2e/pause:latest", "weft.dev/e2e/pause:v1"}) {
		t.Errorf("manifest.json %+v: want one image with both tags", m)
	}
	back, err := tarball.ImageFromPath(file, &tags[0])
	if err != nil {
		t.Fatal(err)
	}
	// The tarball records no media types (a reader makes its own
	// manifest), so the config and the layer are what must match.
	if configName(t, back) != configName(t, img) {
		t.Error("the tarball's image config is not the one written")
	}
	if err := validate.Image(back); err != nil {
		t.Errorf("the tarball's image is not valid: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Errorf("directory holds %v (%v): want only pause.tar, no temporary file", entries, err)
	}
	if err := Write(filepath.Join(dir, "none.tar"), img); err == nil {
		t.Error("Write without a tag succeeded")
	}
	if err := Write(filepath.Join(dir, "missing", "x.tar"), img, tags...); err == nil {
		t.Error("Write into a missing directory succeeded")
	}
}

func mustNew(t *testing.T, s Spec) v1.Image {
	t.Helper()
	img, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func mustTag(t *testing.T, ref string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func digest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func configName(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h
}
