package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/weftmesh/weft/bench/xdsload"
)

// runXDS is `weft-bench xds`: the control plane's scale benchmark
// (docs/performance.md). It re-runs this binary as `weft-bench xds-server`
// for the server.
func runXDS(ctx context.Context, args []string) error {
	cfg, err := parseXDSFlags("xds", args, nil)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this binary: %w", err)
	}
	cfg.Out = os.Stdout
	if cfg.Source == xdsload.SourceKube {
		_, err = xdsload.RunKube(ctx, cfg, exe)
		return err
	}
	_, err = xdsload.Run(ctx, cfg, exe)
	return err
}

// runXDSServer is the child of runXDS.
func runXDSServer(ctx context.Context, args []string) error {
	var dir string
	cfg, err := parseXDSFlags("xds-server", args, &dir)
	if err != nil {
		return err
	}
	if cfg.Source == xdsload.SourceKube {
		log := xdsload.KubeServerLogger()
		// As weft-controlplane does: controller-runtime's informers log
		// through the same handler.
		ctrllog.SetLogger(logr.FromSlogHandler(log.With("component", "controller-runtime").Handler()))
		return xdsload.ServeKube(ctx, dir, os.Stdin, os.Stdout, log)
	}
	return xdsload.Serve(ctx, cfg, dir, os.Stdin, os.Stdout)
}

func parseXDSFlags(name string, args []string, dir *string) (xdsload.Config, error) {
	cfg := xdsload.Default()
	fs := flag.NewFlagSet("weft-bench "+name, flag.ContinueOnError)
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "simulated proxies")
	fs.IntVar(&cfg.Services, "services", cfg.Services, "services")
	fs.IntVar(&cfg.EndpointsPerService, "endpoints-per-service", cfg.EndpointsPerService, "endpoints of each service")
	fs.IntVar(&cfg.ServicesPerClient, "services-per-client", cfg.ServicesPerClient, "services each proxy calls")
	fs.IntVar(&cfg.Namespaces, "namespaces", cfg.Namespaces, "namespaces")
	fs.IntVar(&cfg.Changes, "changes", cfg.Changes, "endpoint changes timed per variant")
	variants := fs.String("variants", strings.Join(cfg.Variants, ","), "ADS variants: sotw, delta")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "bound on one change's convergence and on connecting")
	fs.StringVar(&cfg.Source, "source", cfg.Source, "where the mesh comes from: model (xds.Server.Update), "+
		"kube (Kubernetes objects in a real API server, envtest from $KUBEBUILDER_ASSETS, watched by the control plane in Kubernetes mode)")
	fs.StringVar(&cfg.ServerMemoryLimit, "server-memory-limit", cfg.ServerMemoryLimit, "GOMEMLIMIT of the server process, e.g. 280MiB (empty: none)")
	fs.StringVar(&cfg.ProfileDir, "profile-dir", cfg.ProfileDir, "where the server's heap profiles (with --source kube, also CPU profiles of the changes) go (empty: none)")
	if dir != nil {
		fs.StringVar(dir, "dir", "", "directory holding ca.pem, server.pem and server.key")
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg.Variants = splitList(*variants)
	return cfg, cfg.Validate()
}
