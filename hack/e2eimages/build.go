package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/weftmesh/weft/hack/internal/ociimage"
)

// buildAll builds every image cfg names into cfg.OutDir, one line per
// image on progress.
func buildAll(ctx context.Context, cfg Config, progress io.Writer) error {
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil { //nolint:gosec // build output others read
		return fmt.Errorf("output directory: %w", err)
	}
	binDir, err := os.MkdirTemp("", "weft-e2eimages-")
	if err != nil {
		return fmt.Errorf("build directory: %w", err)
	}
	defer os.RemoveAll(binDir)
	for _, s := range Specs() {
		if !slices.Contains(cfg.Images, s.Name) {
			continue
		}
		img, err := build(ctx, cfg, s, binDir)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		tag, err := name.NewTag(s.Ref, name.StrictValidation)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		out := filepath.Join(cfg.OutDir, s.Name+".tar")
		if err := ociimage.Write(out, img, tag); err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		fmt.Fprintf(progress, "wrote %s: %s\n", out, s.Ref)
	}
	return nil
}

// build is the image of s, its binary built from the Weft module or taken
// from cfg.MetalLBDir or cfg.CoreDNSDir.
func build(ctx context.Context, cfg Config, s Spec, binDir string) (v1.Image, error) {
	var bin, script string
	version := "v1"
	switch {
	case s.Package != "":
		var err error
		if bin, err = buildBinary(ctx, cfg, s, binDir); err != nil {
			return nil, err
		}
	case s.MetalLBBinary != "":
		bin, script, version = filepath.Join(cfg.MetalLBDir, s.MetalLBBinary), "metallb.sh", MetalLBVersion
	default:
		bin, script, version = filepath.Join(cfg.CoreDNSDir, s.CoreDNSBinary), "coredns.sh", CoreDNSVersion
	}
	binary, err := os.ReadFile(bin)
	if errors.Is(err, fs.ErrNotExist) && script != "" {
		return nil, fmt.Errorf("%s: run hack/e2eimages/%s first (make e2e-images does): %w", bin, script, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	img, err := ociimage.New(ociimage.Spec{
		Binary: binary,
		Path:   s.Path,
		Args:   s.Args,
		User:   s.User,
		Arch:   cfg.Arch,
		Labels: map[string]string{
			"org.opencontainers.image.source":  s.Source,
			"org.opencontainers.image.title":   s.Name,
			"org.opencontainers.image.version": version,
		},
		CreatedBy: "hack/e2eimages: " + s.Path + ", /etc/passwd, /etc/group, /tmp",
		Comment:   s.Ref,
	})
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return img, nil
}

// buildBinary builds s.Package static for linux/cfg.Arch into dir and
// returns its path.
func buildBinary(ctx context.Context, cfg Config, s Spec, dir string) (string, error) {
	out, err := filepath.Abs(filepath.Join(dir, s.Name))
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, s.Package) //nolint:gosec // s is one of Specs
	cmd.Dir = cfg.ModuleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+cfg.Arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", s.Package, err, msg)
	}
	return out, nil
}
