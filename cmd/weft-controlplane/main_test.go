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
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "--config-dir is required"},
		{[]string{"--config-dir", "m", "--log-level", "loud"}, "log-level"},
		{[]string{"--config-dir", "m", "extra"}, "unexpected arguments: [extra]"},
	} {
		if _, _, err := parseFlags(tt.args); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFlags(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}
