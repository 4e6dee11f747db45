// Command weft-controlplane serves Weft's configuration to every proxy over
// xDS and issues their certificates. Standalone mode reads the mesh from a
// directory of YAML:
//
//	weft-controlplane --config-dir ./mesh --state-dir ./state
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/weftmesh/weft/controlplane"
)

func main() {
	cfg, logLevel, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "weft-controlplane:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := controlplane.Run(ctx, cfg, log); err != nil {
		log.Error("control plane failed", "error", err)
		stop()
		os.Exit(1) //nolint:gocritic // stop has run
	}
}

func parseFlags(args []string) (controlplane.Config, slog.Level, error) {
	cfg := controlplane.Default()
	fs := flag.NewFlagSet("weft-controlplane", flag.ContinueOnError)
	fs.StringVar(&cfg.ConfigDir, "config-dir", cfg.ConfigDir, "directory of YAML (Services, Workloads) to serve; watched for changes")
	fs.StringVar(&cfg.StateDir, "state-dir", cfg.StateDir, "directory keeping the CA root between restarts")
	fs.StringVar(&cfg.TrustDomain, "trust-domain", cfg.TrustDomain, "SPIFFE trust domain")
	fs.StringVar(&cfg.XDSAddress, "xds-address", cfg.XDSAddress, "address serving xDS and the CA (gRPC over TLS)")
	fs.StringVar(&cfg.MonitorAddress, "monitor-address", cfg.MonitorAddress, "address serving /metrics, /ready and /debug/")
	dnsNames := fs.String("serving-dns-names", strings.Join(cfg.ServingDNSNames, ","), "comma-separated DNS names for the control plane's certificate")
	fs.DurationVar(&cfg.DefaultCertTTL, "cert-ttl", cfg.DefaultCertTTL, "default lifetime of workload certificates")
	fs.DurationVar(&cfg.MaxCertTTL, "max-cert-ttl", cfg.MaxCertTTL, "longest lifetime a workload may ask for")
	var level slog.Level
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return cfg, level, err
	}
	if fs.NArg() > 0 {
		return cfg, level, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg.ServingDNSNames = splitList(*dnsNames)
	return cfg, level, cfg.Validate()
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
