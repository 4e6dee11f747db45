package controlplane

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidateNamesTheFlag(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"kubeconfig in standalone mode", func(c *Config) { c.Kubeconfig = "kc.yaml" }, "--kubeconfig is for Kubernetes mode"},
		{"bad CA secret", func(c *Config) { c.ConfigDir, c.CASecret = "", "weft-ca" }, `--ca-secret "weft-ca" must be <namespace>/<name>`},
		{"trust bundle with a CA secret", func(c *Config) { c.ConfigDir, c.CATrustBundleFile = "", "b.pem" }, "--ca-trust-bundle-file needs --ca-dir or --ca-cert-file"},
		{"bad trust domain", func(c *Config) { c.TrustDomain = "Not A Domain" }, `--trust-domain "Not A Domain"`},
		{"bad xds address", func(c *Config) { c.XDSAddress = "15012" }, `--xds-address "15012"`},
		{"bad monitor address", func(c *Config) { c.MonitorAddress = "nowhere" }, `--monitor-address "nowhere"`},
		{"ttl above max", func(c *Config) { c.DefaultCertTTL = 48 * time.Hour; c.MaxCertTTL = time.Hour }, "--cert-ttl 48h0m0s must be positive and at most --max-cert-ttl 1h0m0s"},
		{"no state dir", func(c *Config) { c.StateDir = "" }, "--state-dir must not be empty"},
		{"ca dir and files", func(c *Config) { c.CADir, c.CACertFile = "ca", "tls.crt" }, "--ca-dir excludes --ca-cert-file"},
		{"ca cert without key", func(c *Config) { c.CACertFile = "tls.crt" }, "--ca-cert-file needs --ca-key-file"},
		{"ca key without cert", func(c *Config) { c.CAKeyFile = "tls.key" }, "--ca-key-file needs --ca-cert-file"},
		{"ca bundle without cert", func(c *Config) { c.CABundleFile = "ca.crt" }, "--ca-bundle-file needs --ca-cert-file"},
		{"negative reload interval", func(c *Config) { c.CAReloadInterval = -time.Second }, "--ca-reload-interval -1s must not be negative"},
		{"bad webhook address", func(c *Config) { c.ConfigDir, c.WebhookAddress = "", "15017" }, `--webhook-address "15017"`},
		{"bad injector configmap", func(c *Config) { c.ConfigDir, c.InjectorConfigMap = "", "weft-injector" }, `--injector-configmap "weft-injector" must be <namespace>/<name>`},
		{"bad webhook configuration name", func(c *Config) { c.ConfigDir, c.WebhookConfigName = "", "Weft Injector" }, `--webhook-config-name "Weft Injector"`},
		{"bad outbound traffic policy", func(c *Config) { c.OutboundTrafficPolicy = "allow-any" }, `--outbound-traffic-policy: outbound traffic policy "allow-any" must be ALLOW_ANY or REGISTRY_ONLY`},
		{"no webhook DNS names", func(c *Config) { c.ConfigDir, c.WebhookDNSNames = "", nil }, "--webhook-dns-names must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			cfg.ConfigDir = "mesh"
			tt.mutate(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want it to say %q", err, tt.want)
			}
		})
	}
	cfg := Default()
	cfg.ConfigDir = "mesh"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the defaults plus a config dir should be valid: %v", err)
	}
	cfg.StateDir, cfg.CADir = "", "/etc/weft/ca"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a provided CA needs no state dir: %v", err)
	}
	cfg = Default()
	if err := cfg.Validate(); err != nil || !cfg.KubernetesMode() || !cfg.SecretCA() {
		t.Fatalf("the defaults select Kubernetes mode with the CA in a Secret: %v", err)
	}
}

func TestStartNamesTheBadCAFile(t *testing.T) {
	cfg := Default()
	cfg.ConfigDir = t.TempDir()
	cfg.StateDir = ""
	cfg.CADir = t.TempDir()
	cfg.XDSAddress, cfg.MonitorAddress = "127.0.0.1:0", "127.0.0.1:0"
	err := New(cfg, nil).Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), cfg.CADir+"/tls.crt") {
		t.Fatalf("Start with an empty --ca-dir: %v, want an error naming tls.crt", err)
	}
}

func TestStartRefusesABadConfigDir(t *testing.T) {
	cfg := Default()
	cfg.ConfigDir = t.TempDir() + "/missing"
	cfg.StateDir = t.TempDir()
	cfg.XDSAddress, cfg.MonitorAddress = "127.0.0.1:0", "127.0.0.1:0"
	c := New(cfg, nil)
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer c.Close()
	select {
	case err := <-c.Errors():
		if !strings.Contains(err.Error(), "missing") {
			t.Fatalf("error %v does not name the missing directory", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a missing config dir did not stop the control plane")
	}
}
