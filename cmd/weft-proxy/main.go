// Command weft-proxy is Weft's sidecar proxy:
//
//	weft-proxy --name backend-1 --namespace demo --service-account backend \
//	    --control-plane 127.0.0.1:15012 --ca-root-file root-cert.pem --token-file token
//
// With --workload-api-socket unix:///run/spire/agent.sock the SVID comes
// from a SPIFFE Workload API (a SPIRE agent) instead of Weft's CA. In a
// pod the injector hands it the app's original probes in WEFT_APP_PROBES,
// which its status port (--status-address, :15020) answers for the
// kubelet.
//
// "weft-proxy init [--cleanup] [--dry-run] ..." installs (or removes) the
// pod's capture rules instead (init.go, docs/capture.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/weftmesh/weft/proxy"
	"github.com/weftmesh/weft/proxy/status"
	"github.com/weftmesh/weft/version"
)

func main() {
	if version.Requested(os.Args[1:]) {
		fmt.Println(version.String("weft-proxy"))
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "init" {
		os.Exit(initMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	cfg, logLevel, err := parseFlags(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "weft-proxy:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := proxy.Run(ctx, cfg, log); err != nil {
		log.Error("proxy failed", "error", err)
		stop()
		os.Exit(1) //nolint:gocritic // stop has run
	}
}

// parseFlags reads the flags, and from getenv the injector's probe table
// (WEFT_APP_PROBES).
func parseFlags(args []string, getenv func(string) string) (proxy.Config, slog.Level, error) {
	cfg := proxy.Default()
	cfg.AppProbes = getenv(status.EnvAppProbes)
	fs := flag.NewFlagSet("weft-proxy", flag.ContinueOnError)
	fs.TextVar(&cfg.Mode, "mode", cfg.Mode, "sidecar (in a pod, beside its app) or gateway (an ingress gateway's proxy, behind a LoadBalancer Service; refuses --capture)")
	fs.StringVar(&cfg.ControlPlaneAddress, "control-plane", cfg.ControlPlaneAddress, "host:port of the control plane (xDS and CA)")
	fs.TextVar(&cfg.XDSProtocol, "xds-protocol", cfg.XDSProtocol, "ADS variant spoken to the control plane: delta (incremental: a change sends only what changed) or sotw (state of the world)")
	fs.StringVar(&cfg.CARootFile, "ca-root-file", cfg.CARootFile, "PEM roots the control plane's certificate chains to")
	fs.StringVar(&cfg.TrustDomain, "trust-domain", cfg.TrustDomain, "SPIFFE trust domain")
	fs.StringVar(&cfg.Name, "name", cfg.Name, "name of the workload (pod) this proxy serves")
	fs.StringVar(&cfg.Namespace, "namespace", cfg.Namespace, "namespace of the workload")
	fs.StringVar(&cfg.Workload, "workload", cfg.Workload, "workload name in metrics (a Deployment's; default: guessed from --name)")
	fs.StringVar(&cfg.ServiceAccount, "service-account", cfg.ServiceAccount, "service account of the workload: its identity")
	fs.StringVar(&cfg.TokenFile, "token-file", cfg.TokenFile, "file holding the credential shown to the CA")
	fs.StringVar(&cfg.AdminAddress, "admin-address", cfg.AdminAddress, "address serving /ready, /metrics, /config_dump, /certs (keep on loopback)")
	fs.StringVar(&cfg.StatusAddress, "status-address", cfg.StatusAddress, "address of the status port the kubelet probes: /ready, /metrics, /app-health/ (empty: off)")
	fs.DurationVar(&cfg.CertTTL, "cert-ttl", cfg.CertTTL, "certificate lifetime to ask the CA for (0: the CA's default)")
	fs.StringVar(&cfg.WorkloadAPISocket, "workload-api-socket", cfg.WorkloadAPISocket, "SPIFFE Workload API address (e.g. unix:///run/spire/agent.sock): take the SVID from there (SPIRE) instead of Weft's CA")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "on SIGTERM, how long established connections may finish after the listeners stop accepting (0: close them at once)")
	fs.BoolVar(&cfg.Capture, "capture", cfg.Capture, "the pod's traffic is captured into this proxy (weft-proxy init or weft-cni): /ready fails while the capture rules are missing, and connections that bypass the proxy are counted")
	fs.Func("exclude-inbound-ports", "with --capture: comma-separated ports whose inbound TCP the rules leave alone (as weft-proxy init's)", func(s string) error {
		ports, err := parsePorts(s)
		cfg.ExcludeInboundPorts = append(cfg.ExcludeInboundPorts, ports...)
		return err
	})
	fs.StringVar(&cfg.TracingOTLPEndpoint, "tracing-otlp-endpoint", cfg.TracingOTLPEndpoint, "OTLP collector for request spans: host:port (gRPC) or http(s)://host:port[/path] (OTLP/HTTP); empty: no spans, trace headers pass untouched")
	fs.Float64Var(&cfg.TracingSampling, "tracing-sampling", cfg.TracingSampling, "share of the traces this proxy starts that are recorded, 0 to 1 (0.01 = 1%); incoming sampling decisions are kept")
	var level slog.Level
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return cfg, level, err
	}
	if fs.NArg() > 0 {
		return cfg, level, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return cfg, level, cfg.Validate()
}
