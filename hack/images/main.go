// Command images builds Weft's container images without Docker: for each of
// weft-proxy, weft-controlplane and weft-cni a static binary (CGO off,
// -trimpath, the version stamped) in a one-layer image on an empty base,
// run as a non-root user, written as an image tarball that
// "kind load image-archive" and "ctr images import" load. "make images"
// runs it; docs/images.md says what is in an image and why.
//
//	go run ./hack/images --out-dir bin/images --version v0.1.0 --commit abc1234
//
// Nothing but the Go toolchain is needed, so the same images come out of a
// laptop, CI and a release job; install/images/ has Dockerfiles for those
// who build with Docker.
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

// run builds the images that args ask for, reporting each on stdout, and
// returns the exit status: 2 for a bad command line, 1 when a build failed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "images:", err)
		}
		return 2
	}
	if err := cfg.fillFromGit(ctx); err != nil {
		fmt.Fprintln(stderr, "images:", err)
		return 1
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "images:", err)
		return 2
	}
	if err := buildAll(ctx, cfg, stdout); err != nil {
		fmt.Fprintln(stderr, "images:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (Config, error) {
	cfg := Config{OutDir: "bin/images", ModuleDir: ".", Arch: runtime.GOARCH, Binaries: Names()}
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.OutDir, "out-dir", cfg.OutDir, "directory the tarballs (<name>.tar) are written to")
	fs.StringVar(&cfg.ModuleDir, "module-dir", cfg.ModuleDir, "root of the Weft module (where go.mod is)")
	fs.StringVar(&cfg.Version, "version", cfg.Version, `version stamped into the binaries and the tag (default: "git describe --tags --always --dirty")`)
	fs.StringVar(&cfg.Commit, "commit", cfg.Commit, `commit stamped into the binaries and the revision label (default: "git rev-parse --short HEAD")`)
	fs.StringVar(&cfg.Arch, "arch", cfg.Arch, "GOARCH of the binaries and the image's platform (linux/<arch>)")
	binaries := fs.String("binaries", strings.Join(cfg.Binaries, ","), "comma-separated images to build, of: "+strings.Join(Names(), ", "))
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg.Binaries = nil
	for _, b := range strings.Split(*binaries, ",") {
		if b = strings.TrimSpace(b); b != "" {
			cfg.Binaries = append(cfg.Binaries, b)
		}
	}
	return cfg, nil
}
