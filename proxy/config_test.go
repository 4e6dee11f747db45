package proxy

import (
	"strings"
	"testing"
)

func TestConfigValidateNamesTheFlag(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no name", func(c *Config) { c.Name = "" }, "--name is required"},
		{"bad control plane address", func(c *Config) { c.ControlPlaneAddress = "controlplane" }, `--control-plane "controlplane"`},
		{"bad admin address", func(c *Config) { c.AdminAddress = "15000" }, `--admin-address "15000"`},
		{"bad xds protocol", func(c *Config) { c.XDSProtocol = "grpc" }, `--xds-protocol: xDS protocol "grpc": want delta or sotw`},
		{"bad trust domain", func(c *Config) { c.TrustDomain = "UPPER CASE" }, `--trust-domain "UPPER CASE"`},
		{"bad service account", func(c *Config) { c.ServiceAccount = "a/b" }, `--service-account "a/b"`},
		{"no roots", func(c *Config) { c.CARootFile = "" }, "--ca-root-file is required"},
		{"no token", func(c *Config) { c.TokenFile = "" }, "--token-file is required"},
		{"negative ttl", func(c *Config) { c.CertTTL = -1 }, "--cert-ttl"},
		{"bad status address", func(c *Config) { c.StatusAddress = "15020" }, `--status-address "15020"`},
		{"malformed app probes", func(c *Config) { c.AppProbes = "{" }, "WEFT_APP_PROBES: not a JSON probe table"},
		{"probes without status port", func(c *Config) {
			c.AppProbes, c.StatusAddress = `{"/app-health/a/livez": {"grpc": {"port": 9090}}}`, ""
		}, "WEFT_APP_PROBES is set but --status-address is empty"},
		{"capture without status port", func(c *Config) { c.Capture, c.StatusAddress = true, "" }, "--capture needs the status port (--status-address :15020)"},
		{"capture with the status port elsewhere", func(c *Config) { c.Capture, c.StatusAddress = true, "127.0.0.1:9020" }, `--capture needs the status port on 15020, where the probe rule sends the capture probe; --status-address is "127.0.0.1:9020"`},
		{"excluded ports without capture", func(c *Config) { c.ExcludeInboundPorts = []uint16{9100} }, "--exclude-inbound-ports is set without --capture"},
		{"excluded port 0", func(c *Config) { c.Capture, c.ExcludeInboundPorts = true, []uint16{9100, 0} }, "--exclude-inbound-ports: 0 is not a port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			cfg.Name = "backend-1"
			tt.mutate(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestConfigWithCaptureValidates(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"default status port", func(c *Config) { c.Capture = true }},
		{"status port on one address", func(c *Config) { c.Capture, c.StatusAddress = true, "0.0.0.0:15020" }},
		{"excluded ports", func(c *Config) { c.Capture, c.ExcludeInboundPorts = true, []uint16{15020, 9100} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			cfg.Name = "backend-1"
			tt.mutate(&cfg)
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want a valid configuration", err)
			}
		})
	}
}

func TestStartFailsClearlyOnUnreadableRoots(t *testing.T) {
	cfg := Default()
	cfg.Name = "backend-1"
	cfg.CARootFile = t.TempDir() + "/root-cert.pem"
	err := New(cfg, nil).Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "reading CA roots") {
		t.Fatalf("Start() = %v, want a clear error about the CA roots", err)
	}
}
