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

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/weftmesh/weft/hack/internal/ociimage"
)

const (
	testVersion = "v0.0.0-test.1"
	testCommit  = "c0ffee1"
)

// TestImages is the issue's "an image tarball is a valid OCI image whose
// entrypoint runs and prints its version": it builds the three images as
// "make images" does, reads each tarball back, checks it, and runs its
// entrypoint with --version in a chroot of the image's root file system,
// as the image's user: nothing from the host is there to lean on, so the
// binary must be static and the image self-contained.
func TestImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three binaries")
	}
	cfg := Config{
		OutDir: t.TempDir(), ModuleDir: "../..", Version: testVersion, Commit: testCommit,
		Arch: runtime.GOARCH, Binaries: Names(),
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
			if !strings.Contains(progress.String(), "wrote "+path+": ghcr.io/weftmesh/"+s.Name+":"+testVersion) {
				t.Errorf("progress does not report %s:\n%s", path, progress.String())
			}
			img := checkTarball(t, path, s)
			checkConfig(t, img, s)
			root := extract(t, img)
			checkRootfs(t, root, s)
			runVersion(t, root, s)
		})
	}
}

// checkTarball reads the tarball as "kind load image-archive" and "ctr
// images import" do: by the tags in its manifest.json, both naming one
// valid image.
func checkTarball(t *testing.T, path string, s Spec) v1.Image {
	t.Helper()
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		t.Fatal(err)
	}
	wantTags := []string{"ghcr.io/weftmesh/" + s.Name + ":" + testVersion, "ghcr.io/weftmesh/" + s.Name + ":latest"}
	if len(m) != 1 || !slices.Equal(sorted(m[0].RepoTags), sorted(wantTags)) {
		t.Fatalf("manifest.json = %+v, want one image tagged %q", m, wantTags)
	}
	var digests []v1.Hash
	var img v1.Image
	for _, ref := range wantTags {
		tag, err := name.NewTag(ref)
		if err != nil {
			t.Fatal(err)
		}
		img, err = tarball.ImageFromPath(path, &tag)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		// Every layer's digest and diff ID, the config's digest and the
		// manifest's sizes are recomputed and compared (once: the other
		// tag must then name the same digest).
		if len(digests) == 0 {
			if err := validate.Image(img); err != nil {
				t.Fatalf("%s is not a valid image: %v", ref, err)
			}
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	if digests[0] != digests[1] {
		t.Errorf("the tags name different images: %v", digests)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Errorf("%d layers (%v), want 1", len(layers), err)
	}
	return img
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func checkConfig(t *testing.T, img v1.Image, s Spec) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	wantUser := strconv.Itoa(s.UID) + ":" + strconv.Itoa(s.UID)
	for _, check := range []struct {
		what      string
		got, want any
	}{
		{"platform", cf.OS + "/" + cf.Architecture, "linux/" + runtime.GOARCH},
		{"entrypoint", c.Entrypoint, []string{"/usr/local/bin/" + s.Name}},
		{"user", c.User, wantUser},
		{"working directory", c.WorkingDir, "/"},
		{"source label", c.Labels["org.opencontainers.image.source"], "https://github.com/weftmesh/weft"},
		{"version label", c.Labels["org.opencontainers.image.version"], testVersion},
		{"revision label", c.Labels["org.opencontainers.image.revision"], testCommit},
	} {
		if !equal(check.got, check.want) {
			t.Errorf("%s = %v, want %v", check.what, check.got, check.want)
		}
	}
	if strings.HasPrefix(c.User, "0:") || c.User == "" || strings.HasPrefix(c.User, "root") {
		t.Errorf("user %q runs as root", c.User)
	}
	if !slices.ContainsFunc(c.Env, func(e string) bool {
		return strings.HasPrefix(e, "PATH=") && slices.Contains(strings.Split(strings.TrimPrefix(e, "PATH="), ":"), "/usr/local/bin")
	}) {
		t.Errorf("env %q: PATH lacks /usr/local/bin (install/cni.yaml runs \"weft-cni install\" by name)", c.Env)
	}
}

func equal(a, b any) bool {
	if as, ok := a.([]string); ok {
		bs, ok := b.([]string)
		return ok && slices.Equal(as, bs)
	}
	return a == b
}

// extract writes the image's file system into a new directory, with the
// owners and modes its layer records.
func extract(t *testing.T, img v1.Image) string {
	t.Helper()
	root := t.TempDir()
	// "/" of the chroot: the image's user must be able to walk it.
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ociimage.Extract(img, root); err != nil {
		t.Fatal(err)
	}
	return root
}

func checkRootfs(t *testing.T, root string, s Spec) {
	t.Helper()
	if mode := fileMode(t, filepath.Join(root, "usr/local/bin", s.Name)); mode != 0o755 {
		t.Errorf("binary: mode %v, want -rwxr-xr-x", mode)
	}
	if mode := fileMode(t, filepath.Join(root, "tmp")); mode != os.ModeDir|os.ModeSticky|0o777 {
		t.Errorf("/tmp: mode %v, want a world-writable sticky directory (dtrwxrwxrwx)", mode)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	if want := ":x:" + strconv.Itoa(s.UID) + ":" + strconv.Itoa(s.UID) + ":"; !strings.Contains(string(passwd), want) {
		t.Errorf("/etc/passwd has no user %d:\n%s", s.UID, passwd)
	}
	group, err := os.ReadFile(filepath.Join(root, "etc/group"))
	if err != nil || !strings.Contains(string(group), ":x:"+strconv.Itoa(s.UID)+":") {
		t.Errorf("/etc/group has no group %d (%v):\n%s", s.UID, err, group)
	}
}

// runVersion runs the entrypoint with --version inside the image's root as
// the image's user.
func runVersion(t *testing.T, root string, s Spec) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running the entrypoint in a chroot of the image needs root; the image was checked, not run")
	}
	cmd := exec.CommandContext(t.Context(), BinDir+"/"+s.Name, "--version")
	cmd.Dir = "/"
	cmd.Env = []string{}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     root,
		Credential: &syscall.Credential{Uid: uint32(s.UID), Gid: uint32(s.UID)},
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s --version in the image: %v\nstderr: %s", s.Name, err, stderr.String())
	}
	if want := s.Name + " " + testVersion + " (commit " + testCommit + ", " + runtime.Version() + ")\n"; stdout.String() != want {
		t.Errorf("%s --version printed %q, want %q", s.Name, stdout.String(), want)
	}
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}
