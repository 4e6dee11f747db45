package main

import (
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	cfg, _, err := parseFlags([]string{"--config-dir", "mesh", "--serving-dns-names", "a.example, b.example,"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ConfigDir != "mesh" || strings.Join(cfg.ServingDNSNames, "|") != "a.example|b.example" {
		t.Errorf("parsed %+v", cfg)
	}
	cfg, _, err = parseFlags([]string{"--config-dir", "mesh", "--ca-cert-file", "c.pem", "--ca-key-file", "k.pem",
		"--ca-bundle-file", "roots.pem", "--ca-trust-bundle-file", "trust.pem", "--ca-reload-interval", "1m"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CACertFile != "c.pem" || cfg.CAKeyFile != "k.pem" || cfg.CABundleFile != "roots.pem" ||
		cfg.CATrustBundleFile != "trust.pem" || cfg.CAReloadInterval.Minutes() != 1 {
		t.Errorf("CA flags parsed into %+v", cfg)
	}
	cfg, _, err = parseFlags([]string{"--kubeconfig", "kc.yaml", "--ca-secret", "mesh/root"})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.KubernetesMode() || cfg.Kubeconfig != "kc.yaml" || cfg.CASecret != "mesh/root" {
		t.Errorf("Kubernetes flags parsed into %+v", cfg)
	}
	cfg, _, err = parseFlags([]string{"--webhook-address", "127.0.0.1:8443", "--webhook-dns-names", "injector.example,localhost",
		"--webhook-config-name", "injector", "--injector-configmap", "mesh/injector"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WebhookAddress != "127.0.0.1:8443" || strings.Join(cfg.WebhookDNSNames, "|") != "injector.example|localhost" ||
		cfg.WebhookConfigName != "injector" || cfg.InjectorConfigMap != "mesh/injector" {
		t.Errorf("webhook flags parsed into %+v", cfg)
	}
	if cfg, _, err = parseFlags([]string{"--config-dir", "m", "--outbound-traffic-policy", "REGISTRY_ONLY"}); err != nil || cfg.OutboundTrafficPolicy != "REGISTRY_ONLY" {
		t.Errorf("--outbound-traffic-policy REGISTRY_ONLY: %q, %v", cfg.OutboundTrafficPolicy, err)
	}
	if cfg, _, err = parseFlags([]string{"--config-dir", "m", "--access-log"}); err != nil || !cfg.AccessLog {
		t.Errorf("--access-log: %v, %v; want sidecars' access logs on", cfg.AccessLog, err)
	}
	if cfg, _, err = parseFlags(nil); err != nil || !cfg.KubernetesMode() || cfg.CASecret != "weft-system/weft-ca" {
		t.Errorf("no flags: %+v, %v; want Kubernetes mode with the CA in weft-system/weft-ca", cfg, err)
	}
	if cfg, _, err = parseFlags(nil); err != nil || !cfg.GatewayDeployer {
		t.Errorf("no flags: gateway deployer %v, %v; want it on", cfg.GatewayDeployer, err)
	}
	if cfg, _, err = parseFlags([]string{"--gateway-deployer=false"}); err != nil || cfg.GatewayDeployer {
		t.Errorf("--gateway-deployer=false: gateway deployer %v, %v; want it off", cfg.GatewayDeployer, err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--config-dir", "m", "--kubeconfig", "kc.yaml"}, "--kubeconfig is for Kubernetes mode"},
		{[]string{"--ca-secret", "weft-ca"}, `--ca-secret "weft-ca" must be <namespace>/<name>`},
		{[]string{"--ca-trust-bundle-file", "b.pem"}, "--ca-trust-bundle-file needs --ca-dir or --ca-cert-file in Kubernetes mode"},
		{[]string{"--config-dir", "m", "--log-level", "loud"}, "log-level"},
		{[]string{"--config-dir", "m", "extra"}, "unexpected arguments: [extra]"},
		{[]string{"--config-dir", "m", "--ca-dir", "ca", "--ca-cert-file", "tls.crt"}, "--ca-dir excludes --ca-cert-file"},
		{[]string{"--config-dir", "m", "--ca-cert-file", "tls.crt"}, "--ca-cert-file needs --ca-key-file"},
		{[]string{"--config-dir", "m", "--ca-reload-interval", "-1s"}, "--ca-reload-interval -1s must not be negative"},
		{[]string{"--config-dir", "m", "--outbound-traffic-policy", "DENY"}, `--outbound-traffic-policy: outbound traffic policy "DENY" must be ALLOW_ANY or REGISTRY_ONLY`},
		{[]string{"--injector-configmap", "injector"}, `--injector-configmap "injector" must be <namespace>/<name>`},
	} {
		if _, _, err := parseFlags(tt.args); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFlags(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}
