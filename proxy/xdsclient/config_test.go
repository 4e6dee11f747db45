package xdsclient

import (
	"context"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/prometheus/client_golang/prometheus"
)

// nopHandler accepts everything.
type nopHandler struct{}

func (nopHandler) OnClusters(context.Context, []*clusterv3.Cluster) error { return nil }
func (nopHandler) OnEndpoints(context.Context, []*endpointv3.ClusterLoadAssignment) error {
	return nil
}
func (nopHandler) OnListeners(context.Context, []*listenerv3.Listener) error { return nil }
func (nopHandler) OnRoutes(context.Context, []*routev3.RouteConfiguration) error {
	return nil
}

func TestConfigValidate(t *testing.T) {
	verifyNoLeaks(t)
	conn := dial(t, "127.0.0.1:1") // never used: dialling is lazy
	valid := Config{Conn: conn, Node: &corev3.Node{Id: testNodeID}, Handler: nopHandler{}}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // "" means valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no conn", func(c *Config) { c.Conn = nil }, "Config.Conn"},
		{"no node", func(c *Config) { c.Node = nil }, "Config.Node.Id"},
		{"node without id", func(c *Config) { c.Node = &corev3.Node{Cluster: "web"} }, "Config.Node.Id"},
		{"no handler", func(c *Config) { c.Handler = nil }, "Config.Handler"},
		{"negative initial backoff", func(c *Config) { c.InitialBackoff = -time.Second }, "Config.InitialBackoff"},
		{"negative max backoff", func(c *Config) { c.MaxBackoff = -time.Second }, "Config.MaxBackoff"},
		{"max below initial", func(c *Config) { c.InitialBackoff, c.MaxBackoff = time.Second, time.Millisecond }, "Config.MaxBackoff"},
		{"initial above default max", func(c *Config) { c.InitialBackoff = time.Minute }, ""},
		{"delta", func(c *Config) { c.Protocol = ProtocolDelta }, ""},
		{"sotw", func(c *Config) { c.Protocol = ProtocolSotW }, ""},
		{"unknown protocol", func(c *Config) { c.Protocol = "grpc" }, `Config.Protocol: xDS protocol "grpc": want delta or sotw`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.mutate(&cfg)
			err := cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want an error naming %s", err, tc.want)
			}
			if tc.want != "" {
				// Run refuses the same config without connecting.
				if err := New(cfg).Run(t.Context()); err == nil {
					t.Error("Run accepted an invalid config")
				}
			}
		})
	}
}

func TestRunRefusesTakenMetrics(t *testing.T) {
	verifyNoLeaks(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "weft_xds_connected", Help: "taken"}))
	c := New(Config{
		Conn:       dial(t, "127.0.0.1:1"),
		Node:       &corev3.Node{Id: testNodeID},
		Handler:    nopHandler{},
		Registerer: reg,
	})
	err := c.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "registering metrics") {
		t.Fatalf("Run = %v, want a metrics registration error", err)
	}
}

func TestRunTwiceAtOnce(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, p Protocol) {
		verifyNoLeaks(t)
		c, _ := startScriptedClient(t, p, newRecorder())
		eventually(t, "the first Run to connect", func() bool { return c.Status().Connected })
		if err := c.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "already running") {
			t.Errorf("second Run = %v, want an already-running error", err)
		}
	})
}
