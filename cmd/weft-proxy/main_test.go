package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	cfg, _, err := parseFlags([]string{"--name", "web-1", "--namespace", "shop", "--service-account", "web"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "web-1" || cfg.Namespace != "shop" || cfg.ServiceAccount != "web" {
		t.Errorf("parsed %+v", cfg)
	}
	if cfg.DrainTimeout != 5*time.Second {
		t.Errorf("default drain timeout %v, want 5s", cfg.DrainTimeout)
	}
	cfg, _, err = parseFlags([]string{"--name", "w", "--drain-timeout", "30s"})
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
		if _, _, err := parseFlags(tt.args); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFlags(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}
