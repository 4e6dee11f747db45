package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/weftmesh/weft/hack/internal/ociimage"
)

// TestImages builds the e2e images as "make e2e-images" does, reads each
// tarball back as "ctr images import" does, checks it, and runs its
// entrypoint in a chroot of the image's root file system as the image's
// user: nothing of the host is there, so a dynamically linked binary or a
// missing file fails it. MetalLB's and CoreDNS's binaries are the ones
// hack/e2eimages/metallb.sh and coredns.sh cached, when they have run;
// otherwise stand-ins check the images' assembly only.
func TestImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	cfg := Default()
	cfg.OutDir, cfg.ModuleDir = t.TempDir(), "../.."
	cfg.MetalLBDir = filepath.Join("../..", cfg.MetalLBDir)
	realMetalLB := true
	for _, b := range []string{"controller", "speaker"} {
		if _, err := os.Stat(filepath.Join(cfg.MetalLBDir, b)); err != nil {
			realMetalLB = false
		}
	}
	if !realMetalLB {
		t.Logf("no MetalLB binaries in %s (hack/e2eimages/metallb.sh makes them): stand-ins are packaged, not run", cfg.MetalLBDir)
		cfg.MetalLBDir = t.TempDir()
		for _, b := range []string{"controller", "speaker"} {
			if err := os.WriteFile(filepath.Join(cfg.MetalLBDir, b), []byte("stand-in "+b), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg.CoreDNSDir = filepath.Join("../..", cfg.CoreDNSDir)
	_, err := os.Stat(filepath.Join(cfg.CoreDNSDir, "coredns"))
	realCoreDNS := err == nil
	if !realCoreDNS {
		t.Logf("no CoreDNS binary in %s (hack/e2eimages/coredns.sh makes it): a stand-in is packaged, not run", cfg.CoreDNSDir)
		cfg.CoreDNSDir = t.TempDir()
		if err := os.WriteFile(filepath.Join(cfg.CoreDNSDir, "coredns"), []byte("stand-in coredns"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	if err := buildAll(t.Context(), cfg, &progress); err != nil {
		t.Fatalf("buildAll: %v\n%s", err, progress.String())
	}
	for _, s := range Specs() {
		t.Run(s.Name, func(t *testing.T) {
			path := filepath.Join(cfg.OutDir, s.Name+".tar")
			if !strings.Contains(progress.String(), "wrote "+path+": "+s.Ref+"\n") {
				t.Errorf("progress does not report %s:\n%s", path, progress.String())
			}
			img := checkTarball(t, path, s)
			checkConfig(t, img, s)
			root := t.TempDir()
			if err := os.Chmod(root, 0o755); err != nil { // the image's user walks "/"
				t.Fatal(err)
			}
			if err := ociimage.Extract(img, root); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(filepath.Join(root, s.Path)); err != nil || fi.Mode() != 0o755 {
				t.Fatalf("entrypoint %s: %v, %v; want an executable", s.Path, fi, err)
			}
			if s.MetalLBBinary != "" && !realMetalLB || s.CoreDNSBinary != "" && !realCoreDNS {
				return
			}
			runEntrypoint(t, root, s)
		})
	}
}

// checkTarball reads the tarball by the reference manifests name and
// checks that it holds one valid image.
func checkTarball(t *testing.T, path string, s Spec) v1.Image {
	t.Helper()
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || !slices.Equal(m[0].RepoTags, []string{s.Ref}) {
		t.Fatalf("manifest.json = %+v, want one image tagged %s", m, s.Ref)
	}
	tag, err := name.NewTag(s.Ref, name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("%s is not a valid image: %v", s.Ref, err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Errorf("%d layers (%v), want 1", len(layers), err)
	}
	return img
}

func checkConfig(t *testing.T, img v1.Image, s Spec) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if got := cf.OS + "/" + cf.Architecture; got != "linux/"+runtime.GOARCH {
		t.Errorf("platform %s, want linux/%s", got, runtime.GOARCH)
	}
	if !slices.Equal(c.Entrypoint, []string{s.Path}) || !slices.Equal(c.Cmd, s.Args) {
		t.Errorf("entrypoint %q, cmd %q; want %q, %q", c.Entrypoint, c.Cmd, s.Path, s.Args)
	}
	if c.User != s.User || c.WorkingDir != "/" {
		t.Errorf("user %q, working directory %q; want %q, /", c.User, c.WorkingDir, s.User)
	}
	if c.Labels["org.opencontainers.image.title"] != s.Name || c.Labels["org.opencontainers.image.source"] != s.Source {
		t.Errorf("labels %v", c.Labels)
	}
}

// runEntrypoint runs the image's entrypoint as the image's user in a
// chroot of root: the app's, MetalLB's and CoreDNS's help, the pause binary until a
// SIGTERM, which it must answer by exiting 0.
func runEntrypoint(t *testing.T, root string, s Spec) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running the entrypoint in a chroot of the image needs root; the image was checked, not run")
	}
	args := []string{"--help"}
	if s.Name == "weft-e2e-app" {
		args = []string{"help"}
	}
	if s.Name == "weft-e2e-pause" {
		args = nil
	}
	cmd := exec.CommandContext(t.Context(), s.Path, args...)
	cmd.Dir = "/"
	cmd.Env = []string{}
	attr := &syscall.SysProcAttr{Chroot: root}
	if s.User != "" {
		uid, gid, _ := strings.Cut(s.User, ":")
		u, err1 := strconv.ParseUint(uid, 10, 32)
		g, err2 := strconv.ParseUint(gid, 10, 32)
		if err1 != nil || err2 != nil {
			t.Fatalf("user %q: want uid:gid", s.User)
		}
		attr.Credential = &syscall.Credential{Uid: uint32(u), Gid: uint32(g)}
	}
	cmd.SysProcAttr = attr
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if s.Name != "weft-e2e-pause" {
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %q in the image: %v\nstderr: %s", s.Path, args, err, stderr.String())
		}
		if out := stdout.String() + stderr.String(); !strings.Contains(strings.ToLower(out), "usage") {
			t.Errorf("%s %q printed no usage:\n%s", s.Path, args, out)
		}
		return
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s in the image: %v", s.Path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("pause exited on its own: %v\n%s", err, stderr.String())
	case <-time.After(300 * time.Millisecond):
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("pause after SIGTERM: %v, want exit status 0\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("pause did not exit on SIGTERM")
	}
}
