// Command weft-controlplane serves Weft's configuration to every proxy over
// xDS and issues their certificates. Without --config-dir it runs in
// Kubernetes mode: it watches the API server (in-cluster configuration in a
// pod, or --kubeconfig) and keeps the CA's root in the Secret
// weft-system/weft-ca (--ca-secret):
//
//	weft-controlplane --kubeconfig ~/.kube/config
//
// Standalone mode reads the mesh from a directory of YAML:
//
//	weft-controlplane --config-dir ./mesh --state-dir ./state
//
// With a CA of your own (root or intermediate), in cert-manager's layout:
//
//	weft-controlplane --config-dir ./mesh --ca-dir /etc/weft/ca
//
// The CA's files are re-read every --ca-reload-interval and on SIGHUP; see
// docs/identity.md for rotating a root without downtime.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/weftmesh/weft/controlplane"
	"github.com/weftmesh/weft/version"
)

func main() {
	if version.Requested(os.Args[1:]) {
		fmt.Println(version.String("weft-controlplane"))
		return
	}
	cfg, logLevel, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "weft-controlplane:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
	// client-go and controller-runtime log through their own globals.
	klog.SetSlogLogger(log.With("component", "client-go"))
	ctrllog.SetLogger(logr.FromSlogHandler(log.With("component", "controller-runtime").Handler()))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("control plane failed", "error", err)
		stop()
		os.Exit(1) //nolint:gocritic // stop has run
	}
}

// run serves until ctx ends or the control plane fails; SIGHUP reloads
// the CA's files.
func run(ctx context.Context, cfg controlplane.Config, log *slog.Logger) error {
	c := controlplane.New(cfg, log)
	if err := c.Start(ctx); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return c.Close()
		case err := <-c.Errors():
			return errors.Join(err, c.Close())
		case <-hup:
			if err := c.ReloadCA(ctx); err != nil {
				log.Error("certificate authority not reloaded", "error", err)
			}
		}
	}
}

func parseFlags(args []string) (controlplane.Config, slog.Level, error) {
	cfg := controlplane.Default()
	fs := flag.NewFlagSet("weft-controlplane", flag.ContinueOnError)
	fs.StringVar(&cfg.ConfigDir, "config-dir", cfg.ConfigDir, "standalone mode: directory of YAML (Services, Workloads, policies) to serve, watched for changes; without it, Kubernetes mode watches the API server")
	fs.StringVar(&cfg.StateDir, "state-dir", cfg.StateDir, "standalone mode: directory keeping the CA root between restarts (when no CA is provided)")
	fs.StringVar(&cfg.Kubeconfig, "kubeconfig", cfg.Kubeconfig, "Kubernetes mode: kubeconfig file (default: the pod's in-cluster configuration, else $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&cfg.Identity, "identity", cfg.Identity, "Kubernetes mode: this replica's name in the status writers' Lease (default: the host name, i.e. the Pod's name)")
	fs.StringVar(&cfg.CASecret, "ca-secret", cfg.CASecret, "Kubernetes mode: <namespace>/<name> of the Secret keeping the CA root (when no CA is provided); created on first start")
	fs.StringVar(&cfg.CADir, "ca-dir", cfg.CADir, "provided CA in cert-manager's layout: tls.crt (signing certificate, then intermediates), tls.key, ca.crt (roots)")
	fs.StringVar(&cfg.CACertFile, "ca-cert-file", cfg.CACertFile, "provided CA: PEM signing certificate (root or intermediate), then any intermediates")
	fs.StringVar(&cfg.CAKeyFile, "ca-key-file", cfg.CAKeyFile, "provided CA: PEM private key of --ca-cert-file")
	fs.StringVar(&cfg.CABundleFile, "ca-bundle-file", cfg.CABundleFile, "provided CA: PEM roots --ca-cert-file chains to (optional for a root)")
	fs.StringVar(&cfg.CATrustBundleFile, "ca-trust-bundle-file", cfg.CATrustBundleFile, "PEM roots trusted besides the CA's own, e.g. the other root during a rotation")
	fs.DurationVar(&cfg.CAReloadInterval, "ca-reload-interval", cfg.CAReloadInterval, "how often the CA files are re-read (0: only on SIGHUP)")
	fs.StringVar(&cfg.TrustDomain, "trust-domain", cfg.TrustDomain, "SPIFFE trust domain")
	fs.StringVar(&cfg.XDSAddress, "xds-address", cfg.XDSAddress, "address serving xDS and the CA (gRPC over TLS)")
	fs.StringVar(&cfg.MonitorAddress, "monitor-address", cfg.MonitorAddress, "address serving /metrics, /ready and /debug/")
	dnsNames := fs.String("serving-dns-names", strings.Join(cfg.ServingDNSNames, ","), "comma-separated DNS names for the control plane's certificate")
	fs.DurationVar(&cfg.DefaultCertTTL, "cert-ttl", cfg.DefaultCertTTL, "default lifetime of workload certificates")
	fs.DurationVar(&cfg.MaxCertTTL, "max-cert-ttl", cfg.MaxCertTTL, "longest lifetime a workload may ask for")
	fs.StringVar(&cfg.WebhookAddress, "webhook-address", cfg.WebhookAddress, "Kubernetes mode: address serving the sidecar injector's webhook (HTTPS, path /inject)")
	webhookNames := fs.String("webhook-dns-names", strings.Join(cfg.WebhookDNSNames, ","), "Kubernetes mode: comma-separated DNS names for the webhook's certificate")
	fs.StringVar(&cfg.WebhookConfigName, "webhook-config-name", cfg.WebhookConfigName, "Kubernetes mode: MutatingWebhookConfiguration whose caBundle the control plane keeps")
	fs.StringVar(&cfg.OutboundTrafficPolicy, "outbound-traffic-policy", cfg.OutboundTrafficPolicy, "what Pods' sidecars do with a connection to a destination the mesh does not know: ALLOW_ANY (pass it through) or REGISTRY_ONLY (close it)")
	fs.BoolVar(&cfg.AccessLog, "access-log", cfg.AccessLog, "sidecars write one JSON line per HTTP request and per TCP connection to their stdout (gateways always do)")
	fs.StringVar(&cfg.InjectorConfigMap, "injector-configmap", cfg.InjectorConfigMap, "Kubernetes mode: <namespace>/<name> of the ConfigMap configuring injection (key config.yaml)")
	fs.BoolVar(&cfg.GatewayDeployer, "gateway-deployer", cfg.GatewayDeployer, "Kubernetes mode: create the Deployment and LoadBalancer Service of each Gateway of class weft (false: they are made by other means)")
	var level slog.Level
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return cfg, level, err
	}
	if fs.NArg() > 0 {
		return cfg, level, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg.ServingDNSNames = splitList(*dnsNames)
	cfg.WebhookDNSNames = splitList(*webhookNames)
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
