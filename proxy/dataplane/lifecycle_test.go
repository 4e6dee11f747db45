package dataplane_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestListenerSwapKeepsSocketAndConnections changes the configuration of a
// listener that keeps its name and address: the established connection
// lives on through the drain timeout (retire_test.go), the socket stays bound, and new connections follow the new
// configuration (here: a cluster that does not exist).
func TestListenerSwapKeepsSocketAndConnections(t *testing.T) {
	m := newMesh(t)
	c := dial(t, m.outbound)
	exchange(t, c, "one", "echo:one")

	ls := m.clientListeners(t)
	ls[0].FilterChains[0].Filters[0] = tcpProxyFilter(t, "outbound|9000||gone.default.svc.cluster.local")
	must(t, m.client.OnListeners(t.Context(), ls))

	if got := listenerAddr(t, m.client, outboundName); got != m.outbound {
		t.Fatalf("listener moved from %s to %s", m.outbound, got)
	}
	exchange(t, c, "two", "two")
	refused(t, dial(t, m.outbound)) // accepted on the same socket, refused by the new config
	eventually(t, func() string {
		if v := metric(t, m.clientMetrics, "weft_proxy_connections_total", connections(outboundName, "outbound", "", "no_cluster")); v != 1 {
			return fmt.Sprintf("%v no_cluster connections, want 1", v)
		}
		return ""
	})

	must(t, m.client.OnListeners(t.Context(), m.clientListeners(t)))
	exchange(t, c, "three", "three")
	if got, err := roundTrip(t, m.outbound, "four"); err != nil || got != "echo:four" {
		t.Fatalf("after swapping back: %q, %v", got, err)
	}
}

// TestListenerRemovedOrMovedKeepsConnections closes the socket of a
// listener that disappears or changes address, and lets its established
// connection finish within the drain timeout.
func TestListenerRemovedOrMovedKeepsConnections(t *testing.T) {
	tests := []struct {
		name      string
		listeners func(t *testing.T, m *mesh) []*listenerv3.Listener
	}{
		{"removed", func(t *testing.T, m *mesh) []*listenerv3.Listener { return nil }},
		{"moved", func(t *testing.T, m *mesh) []*listenerv3.Listener {
			return []*listenerv3.Listener{outboundListener(t, outboundName, "127.0.0.2:0", outboundCluster)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMesh(t)
			c := dial(t, m.outbound)
			exchange(t, c, "one", "echo:one")

			ls := tt.listeners(t, m)
			must(t, m.client.OnListeners(t.Context(), ls))
			var d net.Dialer
			if nc, err := d.DialContext(t.Context(), "tcp", m.outbound); err == nil {
				nc.Close()
				t.Fatalf("the old address %s still accepts connections", m.outbound)
			}
			exchange(t, c, "two", "two")
			if len(ls) > 0 {
				moved := listenerAddr(t, m.client, outboundName)
				if got, err := roundTrip(t, moved, "three"); err != nil || got != "echo:three" {
					t.Fatalf("new address %s: %q, %v", moved, got, err)
				}
			} else if _, bound := m.client.ListenerAddr(outboundName); bound {
				t.Fatal("removed listener still reported")
			}
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if rest, err := io.ReadAll(c); err != nil || len(rest) > 0 {
				t.Fatalf("end of the old connection: %q, %v; want EOF", rest, err)
			}
		})
	}
}

func TestEndpointUpdateForNewConnections(t *testing.T) {
	b1, b2 := startBackend(t, "b1"), startBackend(t, "b2")
	dp, reg := newPlainDataplane(t)
	ctx := t.Context()
	must(t, dp.OnClusters(ctx, []*clusterv3.Cluster{edsCluster(t, outboundCluster, "")}))
	must(t, dp.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, b1.addr())}))
	must(t, dp.OnListeners(ctx, []*listenerv3.Listener{outboundListener(t, outboundName, "127.0.0.1:0", outboundCluster)}))
	addr := listenerAddr(t, dp, outboundName)

	c := dial(t, addr)
	exchange(t, c, "x", "b1:x")
	must(t, dp.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, b2.addr())}))
	if got, err := roundTrip(t, addr, "y"); err != nil || got != "b2:y" {
		t.Fatalf("new connection after the update: %q, %v; want b2:y", got, err)
	}
	exchange(t, c, "z", "z") // the old connection still reaches b1

	// A bad update is refused and the last good endpoints keep serving.
	bad := assignment(t, outboundCluster, b1.addr())
	bad.Endpoints[0].LbEndpoints[0].LoadBalancingWeight = wrapperspb.UInt32(0)
	if err := dp.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{bad}); err == nil {
		t.Fatal("bad endpoints accepted")
	}
	if got, err := roundTrip(t, addr, "w"); err != nil || got != "b2:w" {
		t.Fatalf("after a refused update: %q, %v; want b2:w", got, err)
	}

	// No endpoints: connections are accepted and closed.
	must(t, dp.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster)}))
	refused(t, dial(t, addr))
	eventually(t, func() string {
		if v := metric(t, reg, "weft_proxy_connections_total", connections(outboundName, "outbound", "", "no_endpoints")); v != 1 {
			return fmt.Sprintf("%v no_endpoints connections, want 1", v)
		}
		return ""
	})
}

func TestRoundRobinAndRetry(t *testing.T) {
	b1, b2 := startBackend(t, "b1"), startBackend(t, "b2")
	dead := deadAddress(t)
	dp, _ := newPlainDataplane(t)
	ctx := t.Context()
	must(t, dp.OnClusters(ctx, []*clusterv3.Cluster{edsCluster(t, outboundCluster, "")}))
	must(t, dp.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, b1.addr(), dead, b2.addr())}))
	must(t, dp.OnListeners(ctx, []*listenerv3.Listener{outboundListener(t, outboundName, "127.0.0.1:0", outboundCluster)}))
	addr := listenerAddr(t, dp, outboundName)

	// The cycle starts anywhere; a pick of dead moves on to a live
	// endpoint, so every connection reaches b1 or b2 and both are used.
	seen := map[string]bool{}
	for i := range 6 {
		got, err := roundTrip(t, addr, ".")
		if err != nil || (got != "b1:." && got != "b2:.") {
			t.Fatalf("connection %d: %q, %v; want b1:. or b2:.", i, got, err)
		}
		seen[got] = true
	}
	if len(seen) != 2 {
		t.Errorf("connections reached %v, want both b1 and b2", seen)
	}
}

// deadAddress returns a loopback address nothing listens on.
func deadAddress(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestBadUpdateKeepsServing sends invalid listeners and clusters to the
// server side of a working mesh: both are refused and traffic flows on.
func TestBadUpdateKeepsServing(t *testing.T) {
	m := newMesh(t)
	before, err := m.server.ConfigDump()
	must(t, err)

	ls := m.serverListeners(t)
	ls[0].FilterChains[0].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, &hcmv3.HttpConnectionManager{})}
	if err := m.server.OnListeners(t.Context(), ls); err == nil {
		t.Fatal("listener with http_connection_manager accepted")
	}
	cs := m.serverClusters(t)
	cs[0].LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
	if err := m.server.OnClusters(t.Context(), cs); err == nil {
		t.Fatal("cluster with CLUSTER_PROVIDED accepted")
	}

	after, err := m.server.ConfigDump()
	must(t, err)
	if string(before) != string(after) {
		t.Fatalf("config dump changed by refused updates:\n%s\n%s", before, after)
	}
	if got, err := roundTrip(t, m.outbound, "still"); err != nil || got != "echo:still" {
		t.Fatalf("after refused updates: %q, %v", got, err)
	}
}

func TestConfigDump(t *testing.T) {
	m := newMesh(t)
	raw, err := m.client.ConfigDump()
	must(t, err)
	var dump struct {
		Listeners []struct {
			Name string `json:"name"`
		} `json:"listeners"`
		Clusters []struct {
			Name string `json:"name"`
		} `json:"clusters"`
		Endpoints []struct {
			ClusterName string `json:"clusterName"`
		} `json:"endpoints"`
		BoundAddresses map[string]string `json:"bound_addresses"`
	}
	must(t, json.Unmarshal(raw, &dump))
	if len(dump.Listeners) != 1 || dump.Listeners[0].Name != outboundName ||
		len(dump.Clusters) != 1 || dump.Clusters[0].Name != outboundCluster ||
		len(dump.Endpoints) != 1 || dump.Endpoints[0].ClusterName != outboundCluster ||
		dump.BoundAddresses[outboundName] != m.outbound {
		t.Fatalf("unexpected dump: %s", raw)
	}
}

// TestCloseDrains closes a dataplane with an open connection: Close waits
// the drain timeout, then closes the connection.
func TestCloseDrains(t *testing.T) {
	m := newMesh(t)
	c := dial(t, m.outbound)
	exchange(t, c, "one", "echo:one")
	start := time.Now()
	m.client.Close() // DrainTimeout is 1s
	if d := time.Since(start); d < time.Second {
		t.Errorf("Close returned after %v, before the drain timeout", d)
	}
	refused(t, c)
	if err := m.client.OnListeners(t.Context(), nil); err == nil {
		t.Error("update after Close accepted")
	}
}

func TestRandomAndLeastRequestUseEveryEndpoint(t *testing.T) {
	b1, b2 := startBackend(t, "b1"), startBackend(t, "b2")
	for _, policy := range []clusterv3.Cluster_LbPolicy{clusterv3.Cluster_RANDOM, clusterv3.Cluster_LEAST_REQUEST} {
		t.Run(policy.String(), func(t *testing.T) {
			dp, _ := newPlainDataplane(t)
			ctx := t.Context()
			c := edsCluster(t, outboundCluster, "")
			c.LbPolicy = policy
			must(t, dp.OnClusters(ctx, []*clusterv3.Cluster{c}))
			must(t, dp.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, b1.addr(), b2.addr())}))
			must(t, dp.OnListeners(ctx, []*listenerv3.Listener{outboundListener(t, outboundName, "127.0.0.1:0", outboundCluster)}))
			addr := listenerAddr(t, dp, outboundName)
			seen := map[string]int{}
			for range 40 {
				got, err := roundTrip(t, addr, ".")
				if err != nil {
					t.Fatal(err)
				}
				seen[got]++
			}
			if seen["b1:."] == 0 || seen["b2:."] == 0 || len(seen) != 2 {
				t.Fatalf("answers %v, want both backends", seen)
			}
		})
	}
}

// TestTCPProxyIdleTimeout checks that tcp_proxy's idle_timeout closes a
// connection on which nothing moves.
func TestTCPProxyIdleTimeout(t *testing.T) {
	b := startBackend(t, "b")
	dp, _ := newPlainDataplane(t)
	ctx := t.Context()
	must(t, dp.OnClusters(ctx, []*clusterv3.Cluster{staticCluster(t, "c", b.addr())}))
	l := outboundListener(t, "idle", "127.0.0.1:0", "c")
	setTCPProxy(t, l, &tcpproxyv3.TcpProxy{
		StatPrefix:       "c",
		ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "c"},
		IdleTimeout:      durationpb.New(200 * time.Millisecond),
	})
	must(t, dp.OnListeners(ctx, []*listenerv3.Listener{l}))
	c := dial(t, listenerAddr(t, dp, "idle"))
	exchange(t, c, "x", "b:x")
	start := time.Now()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(c); err != nil || len(rest) > 0 {
		t.Fatalf("idle connection: read %q, %v; want EOF", rest, err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", d)
	}
}
