package main

import (
	"slices"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"--bin-dir", "bin", "--setups", "direct, weft", "--connections", "8,16", "--knee-rates", ""})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BinDir != "bin" || !slices.Equal(cfg.Setups, []string{"direct", "weft"}) ||
		!slices.Equal(cfg.Connections, []int{8, 16}) || len(cfg.KneeRates) != 0 {
		t.Errorf("parsed %+v", cfg)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "--bin-dir is required"},
		{[]string{"--bin-dir", "b", "--connections", "4,x"}, `--connections: "x" is not a number`},
		{[]string{"--bin-dir", "b", "--setups", "envoy"}, `unknown set-up "envoy"`},
		{[]string{"--bin-dir", "b", "stray"}, "unexpected arguments: [stray]"},
	} {
		if _, err := parseFlags(tt.args); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFlags(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}
