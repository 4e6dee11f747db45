package bench

import (
	"io"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		c := Default()
		c.BinDir, c.Out = "bin", io.Discard
		return c
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("default configuration: %v", err)
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no bin dir", func(c *Config) { c.BinDir = "" }, "--bin-dir"},
		{"unknown set-up", func(c *Config) { c.Setups = []string{"envoy"} }, `unknown set-up "envoy"`},
		{"no repetitions", func(c *Config) { c.Repetitions = 0 }, "--repetitions"},
		{"knee rates not increasing", func(c *Config) { c.KneeRates = []int{2000, 1000} }, "--knee-rates"},
		{"zero connections", func(c *Config) { c.Connections = []int{0} }, "at least 1"},
		{"bad protocol", func(c *Config) { c.AppProtocol = "udp" }, "--app-protocol"},
		{"too many services", func(c *Config) { c.ManyServices = 30000 }, "--many-services"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
