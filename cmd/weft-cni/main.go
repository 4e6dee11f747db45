// Command weft-cni is Weft's chained CNI plugin: the container runtime runs
// it after the cluster's CNI plugin, and it installs an injected pod's
// traffic capture rules (package cni). "weft-cni install" is what the
// weft-cni DaemonSet runs to put the plugin on a node (docs/cni.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/weftmesh/weft/cni"
	"github.com/weftmesh/weft/version"
)

func main() {
	if version.Requested(os.Args[1:]) {
		fmt.Println(version.String("weft-cni"))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if len(os.Args) > 1 && os.Args[1] == "install" {
		code := runInstall(ctx, os.Args[2:], os.Stderr)
		stop()
		os.Exit(code)
	}
	// Run by a container runtime: the command is in CNI_COMMAND.
	skel.PluginMainFuncs(cni.Funcs(ctx), cni.SupportedVersions(), "weft-cni: Weft's chained CNI plugin (traffic capture for injected pods); \"weft-cni install\" installs it on a node")
	stop()
}

func runInstall(ctx context.Context, args []string, stderr io.Writer) int {
	cfg := cni.DefaultInstallConfig()
	fs := flag.NewFlagSet("weft-cni install", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.BinDir, "bin-dir", cfg.BinDir, "directory of the node's CNI plugins, as mounted here")
	fs.StringVar(&cfg.ConfDir, "conf-dir", cfg.ConfDir, "directory of the node's CNI configuration, as mounted here")
	fs.StringVar(&cfg.HostConfDir, "host-conf-dir", cfg.HostConfDir, "the same directory as the node sees it (written into the plugin's configuration)")
	fs.StringVar(&cfg.ServiceAccountDir, "service-account-dir", cfg.ServiceAccountDir, "directory of this pod's service account token and CA")
	fs.DurationVar(&cfg.Interval, "interval", cfg.Interval, "how often to check that the plugin is still configured")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "weft-cni install: --log-level %q: want debug, info, warn or error\n", *logLevel)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := cni.RunInstall(ctx, cfg, log); err != nil {
		fmt.Fprintln(stderr, "weft-cni install:", err)
		return 1
	}
	return 0
}
