package main

import (
	"strings"
	"testing"

	"github.com/weftmesh/weft/proxy"
)

func TestParseFlagsMode(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want proxy.Mode
	}{
		{"default", nil, proxy.ModeSidecar},
		{"sidecar", []string{"--mode=sidecar", "--capture"}, proxy.ModeSidecar},
		{"gateway", []string{"--mode", "gateway"}, proxy.ModeGateway},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := parseFlags(append([]string{"--name", "gw-1"}, tt.args...), noEnv)
			if err != nil || cfg.Mode != tt.want {
				t.Fatalf("mode %q, %v; want %q", cfg.Mode, err, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown mode", []string{"--mode", "ingress"}, `mode "ingress": want sidecar or gateway`},
		{"gateway with capture", []string{"--mode=gateway", "--capture"}, "--mode=gateway refuses --capture"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parseFlags(append([]string{"--name", "gw-1"}, tt.args...), noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
