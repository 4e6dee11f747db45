package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/weftmesh/weft/hack/internal/ociimage"
	"github.com/weftmesh/weft/version"
)

// buildAll builds every image cfg names into cfg.OutDir, one line per
// image on progress.
func buildAll(ctx context.Context, cfg Config, progress io.Writer) error {
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil { //nolint:gosec // build output others read
		return fmt.Errorf("output directory: %w", err)
	}
	binDir, err := os.MkdirTemp("", "weft-images-")
	if err != nil {
		return fmt.Errorf("build directory: %w", err)
	}
	defer os.RemoveAll(binDir)
	for _, s := range Specs() {
		if !contains(cfg.Binaries, s.Name) {
			continue
		}
		fmt.Fprintf(progress, "building %s (linux/%s) ...\n", s.Name, cfg.Arch)
		bin, err := buildBinary(ctx, cfg, s.Name, binDir)
		if err != nil {
			return err
		}
		img, err := newImage(s, bin, cfg)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		out := filepath.Join(cfg.OutDir, s.Name+".tar")
		if err := writeTarball(out, img, cfg, s); err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		digest, err := img.Digest()
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		fmt.Fprintf(progress, "wrote %s: %s/%s:%s (and :latest) %s\n", out, Registry, s.Name, cfg.Version, digest)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// buildBinary builds ./cmd/<name> static for linux/cfg.Arch into dir and
// returns its path.
func buildBinary(ctx context.Context, cfg Config, name, dir string) (string, error) {
	ldflags, err := version.LDFlags(cfg.Version, cfg.Commit)
	if err != nil {
		return "", err
	}
	out, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	// -s -w: no symbol table or DWARF in an image nobody debugs in place.
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w "+ldflags, "-o", out, "./cmd/"+name) //nolint:gosec // name is one of Specs (Validate)
	cmd.Dir = cfg.ModuleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+cfg.Arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/%s: %w\n%s", name, err, msg)
	}
	return out, nil
}

// writeTarball writes img under cfg's tags for s to path, atomically: a
// failed write leaves no half tarball for "make images" to skip over.
func writeTarball(path string, img v1.Image, cfg Config, s Spec) error {
	tags, err := cfg.tags(s)
	if err != nil {
		return err
	}
	return ociimage.Write(path, img, tags...)
}
