package webhook

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("the defaults are invalid: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"bad address", func(c *Config) { c.Address = "15017" }, `webhook address "15017"`},
		{"no DNS names", func(c *Config) { c.DNSNames = nil }, "webhook DNS names must not be empty"},
		{"zero certificate lifetime", func(c *Config) { c.CertTTL = 0 }, "webhook certificate lifetime 0s must be positive"},
		{"certificate lifetime above the CA's", func(c *Config) { c.CertTTL = 30 * 24 * time.Hour }, "at most 168h0m0s"},
		{"no configuration name", func(c *Config) { c.ConfigurationName = "" }, "webhook configuration name must not be empty"},
		{"no ConfigMap", func(c *Config) { c.ConfigMapName = "" }, "injector ConfigMap namespace and name must not be empty"},
		{"no check interval", func(c *Config) { c.BundleCheckInterval = 0 }, "caBundle check interval 0s must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			tt.mutate(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want it to say %q", err, tt.want)
			}
		})
	}
}
