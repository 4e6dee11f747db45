package main

import (
	"strings"
	"testing"

	"github.com/weftmesh/weft/proxy/xdsclient"
)

func TestParseFlagsXDSProtocol(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want xdsclient.Protocol
	}{
		{"default", nil, xdsclient.ProtocolDelta},
		{"delta", []string{"--xds-protocol=delta"}, xdsclient.ProtocolDelta},
		{"sotw", []string{"--xds-protocol", "sotw"}, xdsclient.ProtocolSotW},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := parseFlags(append([]string{"--name", "web-1"}, tt.args...), noEnv)
			if err != nil || cfg.XDSProtocol != tt.want {
				t.Fatalf("xDS protocol %q, %v; want %q", cfg.XDSProtocol, err, tt.want)
			}
		})
	}
	_, _, err := parseFlags([]string{"--name", "web-1", "--xds-protocol", "incremental"}, noEnv)
	if want := `xDS protocol "incremental": want delta or sotw`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to contain %q", err, want)
	}
}
