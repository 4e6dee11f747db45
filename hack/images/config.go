package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/weftmesh/weft/hack/internal/ociimage"
	"github.com/weftmesh/weft/version"
)

// Registry is where Weft's images live; the injector's default proxy
// image and the Helm chart name images under it.
const Registry = "ghcr.io/weftmesh"

// SourceURL is the org.opencontainers.image.source label.
const SourceURL = "https://github.com/weftmesh/weft"

// The users in every image's /etc/passwd.
const (
	NonRootUID = ociimage.NonRootUID // distroless's "nonroot": the control plane, weft-cni
	ProxyUID   = ociimage.ProxyUID   // weft-proxy: the capture rules exempt its traffic by this UID (injector.ProxyUID)
)

// Spec is one image: a binary of ./cmd/<Name> and the user it runs as.
type Spec struct {
	Name string
	UID  int // also the GID
}

// Specs are the images Weft ships.
func Specs() []Spec {
	return []Spec{
		{Name: "weft-proxy", UID: ProxyUID},
		{Name: "weft-controlplane", UID: NonRootUID},
		{Name: "weft-cni", UID: NonRootUID},
	}
}

// Names are the names of Specs.
func Names() []string {
	var names []string
	for _, s := range Specs() {
		names = append(names, s.Name)
	}
	return names
}

// Config is one run of the image builder.
type Config struct {
	OutDir    string   // where <name>.tar are written
	ModuleDir string   // the Weft module's root
	Version   string   // stamped and tagged; a Docker tag
	Commit    string   // stamped and labelled
	Arch      string   // GOARCH
	Binaries  []string // names of Specs to build
}

// Validate says what is wrong with c, naming the flag.
func (c Config) Validate() error {
	var errs []error
	if c.OutDir == "" {
		errs = append(errs, errors.New("--out-dir is required"))
	}
	if _, err := version.LDFlags(c.Version, c.Commit); err != nil {
		errs = append(errs, fmt.Errorf("--version/--commit: %w", err))
	} else if _, err := name.NewTag(Registry+"/weft-proxy:"+c.Version, name.StrictValidation); err != nil {
		errs = append(errs, fmt.Errorf("--version %q is not a valid image tag (letters, digits, '_', '.', '-'; at most 128): %w", c.Version, err))
	}
	if !slices.Contains([]string{"amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64"}, c.Arch) {
		errs = append(errs, fmt.Errorf("--arch %q: want a GOARCH Kubernetes runs on, e.g. amd64 or arm64", c.Arch))
	}
	if len(c.Binaries) == 0 {
		errs = append(errs, errors.New("--binaries: no image to build"))
	}
	for _, b := range c.Binaries {
		if !slices.Contains(Names(), b) {
			errs = append(errs, fmt.Errorf("--binaries: unknown image %q, want one of %s", b, strings.Join(Names(), ", ")))
		}
	}
	return errors.Join(errs...)
}

// fillFromGit sets an empty Version and Commit from the work tree, as the
// Makefile does.
func (c *Config) fillFromGit(ctx context.Context) error {
	for _, f := range []struct {
		field *string
		args  []string
	}{
		{&c.Version, []string{"describe", "--tags", "--always", "--dirty"}},
		{&c.Commit, []string{"rev-parse", "--short", "HEAD"}},
	} {
		if *f.field != "" {
			continue
		}
		cmd := exec.CommandContext(ctx, "git", f.args...) //nolint:gosec // fixed git arguments
		cmd.Dir = c.ModuleDir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("git %s (pass --version and --commit outside a git work tree): %w: %s", strings.Join(f.args, " "), err, strings.TrimSpace(stderr.String()))
		}
		*f.field = strings.TrimSpace(string(out))
	}
	return nil
}

// tags are the references an image is written under: its version, and
// latest (what the injector's default proxy image names).
func (c Config) tags(s Spec) ([]name.Tag, error) {
	var tags []name.Tag
	for _, t := range []string{c.Version, "latest"} {
		tag, err := name.NewTag(Registry+"/"+s.Name+":"+t, name.StrictValidation)
		if err != nil {
			return nil, fmt.Errorf("image tag: %w", err)
		}
		tags = append(tags, tag)
	}
	return tags, nil
}
