package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func noEnv(string) string { return "" }

func TestParseFlags(t *testing.T) {
	cfg, _, err := parseFlags([]string{"--name", "web-1", "--namespace", "shop", "--service-account", "web"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "web-1" || cfg.Namespace != "shop" || cfg.ServiceAccount != "web" {
		t.Errorf("parsed %+v", cfg)
	}
	if cfg.DrainTimeout != 5*time.Second {
		t.Errorf("default drain timeout %v, want 5s", cfg.DrainTimeout)
	}
	cfg, _, err = parseFlags([]string{"--name", "w", "--drain-timeout", "30s"}, noEnv)
	if err != nil || cfg.DrainTimeout != 30*time.Second {
		t.Errorf("--drain-timeout 30s: %v, %v", cfg.DrainTimeout, err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "--name is required"},
		{[]string{"--name", "w", "--control-plane", "nohost"}, `--control-plane "nohost"`},
		{[]string{"--name", "w", "stray"}, "unexpected arguments: [stray]"},
		{[]string{"--name", "w", "--drain-timeout", "-1s"}, "--drain-timeout -1s must not be negative"},
	} {
		if _, _, err := parseFlags(tt.args, noEnv); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFlags(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

func TestParseFlagsStatusPort(t *testing.T) {
	cfg, _, err := parseFlags([]string{"--name", "w"}, noEnv)
	if err != nil || cfg.StatusAddress != ":15020" || cfg.AppProbes != "" {
		t.Fatalf("defaults: %q %q %v, want :15020 and no probes", cfg.StatusAddress, cfg.AppProbes, err)
	}
	table := `{"/app-health/app/livez": {"httpGet": {"path": "/healthz", "port": 8080}}}`
	env := func(name string) string {
		if name == "WEFT_APP_PROBES" {
			return table
		}
		return ""
	}
	cfg, _, err = parseFlags([]string{"--name", "w", "--status-address", "127.0.0.1:25020"}, env)
	if err != nil || cfg.StatusAddress != "127.0.0.1:25020" || cfg.AppProbes != table {
		t.Fatalf("parsed %q %q %v", cfg.StatusAddress, cfg.AppProbes, err)
	}
	for _, tt := range []struct {
		name, args, env, want string
	}{
		{"malformed", "", `{"/app-health/app/livez": `, "WEFT_APP_PROBES: not a JSON probe table"},
		{"not loopback", "", `{"/app-health/app/livez": {"httpGet": {"port": 80, "host": "10.0.0.1"}}}`, `WEFT_APP_PROBES: probe "/app-health/app/livez": host "10.0.0.1" is not loopback`},
		{"probes without a status port", "--status-address=", table, "WEFT_APP_PROBES is set but --status-address is empty"},
		{"bad address", "--status-address=15020", "", `--status-address "15020"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"--name", "w"}
			if tt.args != "" {
				args = append(args, tt.args)
			}
			_, _, err := parseFlags(args, func(string) string { return tt.env })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseFlagsCapture(t *testing.T) {
	cfg, _, err := parseFlags([]string{"--name", "w"}, noEnv)
	if err != nil || cfg.Capture || cfg.ExcludeInboundPorts != nil {
		t.Fatalf("defaults: capture %v, excluded %v, %v; want no capture", cfg.Capture, cfg.ExcludeInboundPorts, err)
	}
	// As the injector writes them.
	cfg, _, err = parseFlags([]string{"--name", "w", "--capture", "--exclude-inbound-ports", "15020,9100"}, noEnv)
	if err != nil || !cfg.Capture || !slices.Equal(cfg.ExcludeInboundPorts, []uint16{15020, 9100}) {
		t.Fatalf("parsed capture %v, excluded %v, %v; want capture with [15020 9100]", cfg.Capture, cfg.ExcludeInboundPorts, err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"not a port", []string{"--capture", "--exclude-inbound-ports", "9100,http"}, `"http" is not a port (1-65535)`},
		{"port 0", []string{"--capture", "--exclude-inbound-ports", "0"}, `"0" is not a port`},
		{"excluded ports without capture", []string{"--exclude-inbound-ports", "9100"}, "--exclude-inbound-ports is set without --capture"},
		{"capture without the status port", []string{"--capture", "--status-address="}, "--capture needs the status port"},
		{"capture with the status port elsewhere", []string{"--capture", "--status-address", ":9020"}, "--capture needs the status port on 15020"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parseFlags(append([]string{"--name", "w"}, tt.args...), noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
