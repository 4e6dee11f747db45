// Command e2eimages builds the images that "make e2e" imports into its
// cluster's containerd besides Weft's own (hack/images): the pod sandbox
// (pause), the scenarios' workload (weft-e2e-app), MetalLB's
// controller and speaker, which give the gateway its LoadBalancer
// address, and CoreDNS, the cluster's DNS. Like hack/images it needs no Docker and no registry: each image
// is one static binary in one layer (package hack/internal/ociimage),
// written as a tarball that "ctr -n k8s.io images import" loads and that
// pods name with imagePullPolicy: Never.
//
//	hack/e2eimages/metallb.sh     # MetalLB's binaries, built once into bin/metallb/v0.16.2
//	hack/e2eimages/coredns.sh     # CoreDNS, built once into bin/coredns/v1.15.0
//	go run ./hack/e2eimages --out-dir bin/images --metallb-dir bin/metallb/v0.16.2 --coredns-dir bin/coredns/v1.15.0
//
// "make e2e-images" runs all three; docs/e2e.md lists the images.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run builds the images args ask for, one line each on stdout, and returns
// the exit status: 2 for a bad command line, 1 when a build failed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "e2eimages:", err)
		}
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "e2eimages:", err)
		return 2
	}
	if err := buildAll(ctx, cfg, stdout); err != nil {
		fmt.Fprintln(stderr, "e2eimages:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (Config, error) {
	cfg := Default()
	fs := flag.NewFlagSet("e2eimages", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.OutDir, "out-dir", cfg.OutDir, "directory the tarballs (<file>.tar) are written to")
	fs.StringVar(&cfg.ModuleDir, "module-dir", cfg.ModuleDir, "root of the Weft module (where go.mod is)")
	fs.StringVar(&cfg.MetalLBDir, "metallb-dir", cfg.MetalLBDir, "directory holding MetalLB's controller and speaker binaries (hack/e2eimages/metallb.sh prints it)")
	fs.StringVar(&cfg.CoreDNSDir, "coredns-dir", cfg.CoreDNSDir, "directory holding CoreDNS's binary (hack/e2eimages/coredns.sh prints it)")
	fs.StringVar(&cfg.Arch, "arch", cfg.Arch, "GOARCH of the binaries and the images' platform (linux/<arch>)")
	images := fs.String("images", strings.Join(cfg.Images, ","), "comma-separated images to build, of: "+strings.Join(Names(), ", "))
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg.Images = nil
	for _, n := range strings.Split(*images, ",") {
		if n = strings.TrimSpace(n); n != "" {
			cfg.Images = append(cfg.Images, n)
		}
	}
	return cfg, nil
}

// hostArch is the default --arch: the cluster runs on this machine.
func hostArch() string { return runtime.GOARCH }
