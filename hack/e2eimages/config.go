package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/weftmesh/weft/hack/internal/ociimage"
)

// MetalLBVersion is the MetalLB release hack/e2eimages/metallb.sh builds
// and the MetalLB images are tagged with; install/e2e/metallb/ is
// upstream's manifest of the same release.
const MetalLBVersion = "v0.16.2"

// CoreDNSVersion is the CoreDNS release hack/e2eimages/coredns.sh builds
// and the CoreDNS image is tagged with: the e2e cluster's DNS
// (integration/cluster/dns.yaml).
const CoreDNSVersion = "v1.15.0"

// Spec is one e2e image.
type Spec struct {
	Name string // the tarball is <Name>.tar; --images names it
	Ref  string // the image reference, tag included, that manifests name
	// Package is the main package, relative to the Weft module, that is
	// the binary; empty for a MetalLB image.
	Package string
	// MetalLBBinary is the binary's file name in --metallb-dir, for a
	// MetalLB image.
	MetalLBBinary string
	// CoreDNSBinary is the binary's file name in --coredns-dir, for the
	// CoreDNS image.
	CoreDNSBinary string
	Path          string   // the binary's path in the image: the entrypoint
	Args          []string // the image's default arguments (Cmd)
	User          string   // uid:gid; empty runs as root
	Source        string   // the org.opencontainers.image.source label
}

// Specs are the images "make e2e" needs besides Weft's.
func Specs() []Spec {
	const weft = "https://github.com/weftmesh/weft"
	const metallb = "https://github.com/metallb/metallb"
	return []Spec{
		// registry.k8s.io/pause's path and user.
		{Name: "weft-e2e-pause", Ref: "weft.dev/e2e/pause:v1", Package: "./integration/e2e/apps/pause", Path: "/pause", User: "65535:65535", Source: weft},
		{
			Name: "weft-e2e-app", Ref: "weft.dev/e2e/app:v1", Package: "./integration/e2e/apps/weft-e2e-app",
			Path: "/usr/local/bin/weft-e2e-app", Args: []string{"serve"},
			User: fmt.Sprintf("%d:%d", ociimage.NonRootUID, ociimage.NonRootUID), Source: weft,
		},
		// Upstream's paths; root, as on upstream's distroless/static base:
		// the speaker needs NET_RAW for ARP, and the controller's
		// Deployment sets its own runAsUser.
		{Name: "metallb-controller", Ref: "weft.dev/e2e/metallb-controller:" + MetalLBVersion, MetalLBBinary: "controller", Path: "/controller", Source: metallb},
		{Name: "metallb-speaker", Ref: "weft.dev/e2e/metallb-speaker:" + MetalLBVersion, MetalLBBinary: "speaker", Path: "/speaker", Source: metallb},
		// Upstream's path and user (distroless's nonroot); port 53 needs
		// the pod's net.ipv4.ip_unprivileged_port_start sysctl, since this
		// image has no file capabilities.
		{
			Name: "coredns", Ref: "weft.dev/e2e/coredns:" + CoreDNSVersion, CoreDNSBinary: "coredns", Path: "/coredns",
			User: fmt.Sprintf("%d:%d", ociimage.NonRootUID, ociimage.NonRootUID), Source: "https://github.com/coredns/coredns",
		},
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
	OutDir     string   // where <name>.tar are written
	ModuleDir  string   // the Weft module's root
	MetalLBDir string   // where MetalLB's controller and speaker are
	CoreDNSDir string   // where CoreDNS's binary is
	Arch       string   // GOARCH
	Images     []string // names of Specs to build
}

// Default is the configuration of a run from the module's root.
func Default() Config {
	return Config{
		OutDir:     "bin/images",
		ModuleDir:  ".",
		MetalLBDir: filepath.Join("bin", "metallb", MetalLBVersion),
		CoreDNSDir: filepath.Join("bin", "coredns", CoreDNSVersion),
		Arch:       hostArch(),
		Images:     Names(),
	}
}

// Validate says what is wrong with c, naming the flag.
func (c Config) Validate() error {
	var errs []error
	if c.OutDir == "" {
		errs = append(errs, errors.New("--out-dir is required"))
	}
	if c.ModuleDir == "" {
		errs = append(errs, errors.New("--module-dir is required"))
	}
	if !slices.Contains([]string{"amd64", "arm64"}, c.Arch) {
		errs = append(errs, fmt.Errorf("--arch %q: want amd64 or arm64", c.Arch))
	}
	if len(c.Images) == 0 {
		errs = append(errs, errors.New("--images: no image to build"))
	}
	needMetalLB, needCoreDNS := false, false
	for _, n := range c.Images {
		s, ok := spec(n)
		if !ok {
			errs = append(errs, fmt.Errorf("--images: unknown image %q, want one of %s", n, strings.Join(Names(), ", ")))
			continue
		}
		needMetalLB = needMetalLB || s.MetalLBBinary != ""
		needCoreDNS = needCoreDNS || s.CoreDNSBinary != ""
	}
	if needMetalLB && c.MetalLBDir == "" {
		errs = append(errs, errors.New("--metallb-dir is required for the MetalLB images"))
	}
	if needCoreDNS && c.CoreDNSDir == "" {
		errs = append(errs, errors.New("--coredns-dir is required for the CoreDNS image"))
	}
	for _, s := range Specs() {
		if _, err := name.NewTag(s.Ref, name.StrictValidation); err != nil {
			errs = append(errs, fmt.Errorf("image %s: %w", s.Name, err))
		}
	}
	return errors.Join(errs...)
}

func spec(n string) (Spec, bool) {
	for _, s := range Specs() {
		if s.Name == n {
			return s, true
		}
	}
	return Spec{}, false
}
