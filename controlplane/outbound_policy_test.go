package controlplane

import (
	"testing"
	"time"

	"github.com/weftmesh/weft/controlplane/model"
)

// TestOutboundTrafficPolicyReachesTheMesh: --outbound-traffic-policy is
// on every mesh the translator gets, whatever the source (the policy is
// the control plane's, not the directory's or the API server's).
func TestOutboundTrafficPolicyReachesTheMesh(t *testing.T) {
	tests := []struct {
		flag string
		want model.OutboundTrafficPolicy
	}{
		{flag: "REGISTRY_ONLY", want: model.OutboundRegistryOnly},
		{flag: "ALLOW_ANY", want: model.OutboundAllowAny},
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			cfg := Default()
			cfg.ConfigDir, cfg.StateDir = t.TempDir(), t.TempDir()
			cfg.XDSAddress, cfg.MonitorAddress = "127.0.0.1:0", "127.0.0.1:0"
			cfg.OutboundTrafficPolicy = tt.flag
			c := New(cfg, nil)
			if err := c.Start(t.Context()); err != nil {
				t.Fatalf("Start: %v", err)
			}
			defer c.Close()
			deadline := time.Now().Add(10 * time.Second)
			for c.XDS().Mesh() == nil {
				if time.Now().After(deadline) {
					t.Fatal("no mesh applied within 10s of start")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if got := c.XDS().Mesh().OutboundTrafficPolicy; got != tt.want {
				t.Errorf("mesh outbound traffic policy %q, want %q", got, tt.want)
			}
		})
	}
}
