package proxy

import (
	"strings"
	"testing"
)

func TestConfigWorkloadAPIMode(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // empty: valid
	}{
		{"no CA roots or token needed", func(c *Config) {
			c.WorkloadAPISocket = "unix:///run/spire/agent.sock"
			c.CARootFile, c.TokenFile = "", ""
		}, ""},
		{"bare path is a unix socket", func(c *Config) { c.WorkloadAPISocket = "/run/spire/agent.sock" }, ""},
		{"tcp address", func(c *Config) { c.WorkloadAPISocket = "tcp://127.0.0.1:8081" }, ""},
		{"relative path", func(c *Config) { c.WorkloadAPISocket = "agent.sock" }, `--workload-api-socket "agent.sock": workload endpoint socket URI must have a "tcp" or "unix" scheme (e.g. unix:///run/spire/agent.sock)`},
		{"tcp host name", func(c *Config) { c.WorkloadAPISocket = "tcp://spire-agent:8081" }, `--workload-api-socket "tcp://spire-agent:8081"`},
		{"CA mode still needs roots", func(c *Config) { c.CARootFile = "" }, "--ca-root-file is required (or --workload-api-socket)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			cfg.Name = "backend-1"
			tt.mutate(&cfg)
			err := cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want valid", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want it to say %q", err, tt.want)
			}
		})
	}
	cfg := Config{WorkloadAPISocket: "/run/spire/agent.sock"}
	if got := cfg.workloadAPIAddress(); got != "unix:///run/spire/agent.sock" {
		t.Errorf("workloadAPIAddress() = %q, want unix:///run/spire/agent.sock", got)
	}
}
