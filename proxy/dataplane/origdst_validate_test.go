package dataplane_test

import (
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestCaptureListenerValidation shows what the control plane reads in the
// NACK for each capture listener the proxy cannot run.
func TestCaptureListenerValidation(t *testing.T) {
	tests := []struct {
		name   string
		set    func(t *testing.T) []*listenerv3.Listener
		errors []string
	}{
		{"virtual listener with use_original_dst", func(t *testing.T) []*listenerv3.Listener {
			l := virtualListener(t, "v", "198.18.9.9:80", "c")
			l.UseOriginalDst = wrapperspb.Bool(true)
			return []*listenerv3.Listener{l}
		}, []string{`listener "v": use_original_dst: a listener with bind_to_port false is only reached through another listener's use_original_dst; it cannot hand connections on`}},
		{"virtual listener without a port", func(t *testing.T) []*listenerv3.Listener {
			return []*listenerv3.Listener{virtualListener(t, "v", "198.18.9.9:0", "c", "[2001:db8::9]:0")}
		}, []string{
			`listener "v": address.socket_address.port_value: missing`,
			`listener "v": additional_addresses[0].address.socket_address.port_value: missing`,
		}},
		{"two virtual listeners with one address", func(t *testing.T) []*listenerv3.Listener {
			return []*listenerv3.Listener{
				virtualListener(t, "a", "198.18.9.9:80", "c"),
				virtualListener(t, "b", "198.18.9.8:80", "c", "198.18.9.9:80"),
			}
		}, []string{`listener "b": address: 198.18.9.9:80 is also the address of listener "a"`}},
		{"bound listeners colliding on an additional address", func(t *testing.T) []*listenerv3.Listener {
			a := outboundListener(t, "a", "127.0.0.1:15999", "c")
			b := outboundListener(t, "b", "127.0.0.2:15999", "c")
			b.AdditionalAddresses = []*listenerv3.AdditionalAddress{{Address: socketAddress(t, "127.0.0.1:15999")}}
			return []*listenerv3.Listener{a, b}
		}, []string{`listener "b": address: 127.0.0.1:15999 is also the address of listener "a"`}},
		{"additional address repeated, with socket options", func(t *testing.T) []*listenerv3.Listener {
			l := virtualListener(t, "v", "198.18.9.9:80", "c", "198.18.9.9:80")
			l.AdditionalAddresses[0].SocketOptions = &corev3.SocketOptionsOverride{}
			return []*listenerv3.Listener{l}
		}, []string{
			`listener "v": additional_addresses[0].socket_options: unsupported field`,
			`listener "v": additional_addresses[0].address: 198.18.9.9:80 is already an address of this listener`,
		}},
		{"original_dst filter after the TLS inspector, twice", func(t *testing.T) []*listenerv3.Listener {
			l := virtualInbound(t, "127.0.0.1:15999", "c", inboundPort{8080, "c"})
			l.ListenerFilters = []*listenerv3.ListenerFilter{tlsInspectorFilter(t), originalDstFilter(t), originalDstFilter(t)}
			return []*listenerv3.Listener{l}
		}, []string{
			`listener "virtualInbound": listener_filters[1]: envoy.filters.listener.original_dst must come first`,
			`listener "virtualInbound": listener_filters[2]: duplicate envoy.filters.listener.original_dst`,
		}},
		{"destination ports out of range", func(t *testing.T) []*listenerv3.Listener {
			return []*listenerv3.Listener{virtualInbound(t, "127.0.0.1:15999", "", inboundPort{0, "c"}, inboundPort{70000, "c"})}
		}, []string{
			`listener "virtualInbound": filter_chains[0].filter_chain_match.destination_port: 0 is not a port`,
			`listener "virtualInbound": filter_chains[1].filter_chain_match.destination_port: 70000 is not a port`,
			`listener "virtualInbound": filter_chains: want exactly one filter chain without the HTTP or TLS inspector, got 2`,
		}},
		{"prefix_ranges that are not prefixes", func(t *testing.T) []*listenerv3.Listener {
			l := virtualOutbound(t, "127.0.0.1:15999", "p")
			bad := podIPChain(t, 8080, "c", "198.18.0.1/32", "2001:db8::1/128")
			bad.FilterChainMatch.PrefixRanges[0].AddressPrefix = "pod-1"
			bad.FilterChainMatch.PrefixRanges[1].PrefixLen = wrapperspb.UInt32(129)
			l.FilterChains = append(l.FilterChains, bad)
			return []*listenerv3.Listener{l}
		}, []string{
			`listener "virtualOutbound": filter_chains[1].filter_chain_match.prefix_ranges[0].address_prefix: "pod-1" is not an IP address`,
			`listener "virtualOutbound": filter_chains[1].filter_chain_match.prefix_ranges[1].prefix_len: 129 is longer than an IPv6 address`,
		}},
		{"one pod IP in two chains of a port", func(t *testing.T) []*listenerv3.Listener {
			l := virtualOutbound(t, "127.0.0.1:15999", "p")
			l.FilterChains = append(l.FilterChains,
				podIPChain(t, 8080, "a", "198.18.0.1/32", "198.18.0.2/32"),
				podIPChain(t, 8080, "b", "198.18.0.2/32"),
				podIPChain(t, 9090, "b", "198.18.0.2/32"), // another port: fine
			)
			return []*listenerv3.Listener{l}
		}, []string{
			`listener "virtualOutbound": filter_chains[2].filter_chain_match.prefix_ranges: 198.18.0.2/32 is also in filter_chains[1], whose prefix_ranges differ`,
		}},
		{"two chains for one destination port and prefix_ranges", func(t *testing.T) []*listenerv3.Listener {
			l := virtualOutbound(t, "127.0.0.1:15999", "p")
			l.FilterChains = append(l.FilterChains, podIPChain(t, 8080, "a", "198.18.0.1/32"), podIPChain(t, 8080, "b", "198.18.0.1/32"))
			return []*listenerv3.Listener{l}
		}, []string{
			`listener "virtualOutbound": filter_chains: want exactly one filter chain for destination_port 8080 and prefix_ranges 198.18.0.1/32 without the HTTP or TLS inspector, got 2`,
		}},
		{"two chains for one destination port", func(t *testing.T) []*listenerv3.Listener {
			return []*listenerv3.Listener{virtualInbound(t, "127.0.0.1:15999", "p", inboundPort{8080, "a"}, inboundPort{9090, "b"}, inboundPort{8080, "c"})}
		}, []string{`listener "virtualInbound": filter_chains: want exactly one filter chain for destination_port 8080 without the HTTP or TLS inspector, got 2`}},
		{"two default chains of one destination port", func(t *testing.T) []*listenerv3.Listener {
			l := virtualInbound(t, "127.0.0.1:15999", "", inboundPort{8080, "a"}, inboundPort{8080, "b"})
			l.ListenerFilters = append(l.ListenerFilters, tlsInspectorFilter(t))
			return []*listenerv3.Listener{l}
		}, []string{`listener "virtualInbound": filter_chains: at most one chain for destination_port 8080 may have no filter_chain_match, got 2`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp, _ := newPlainDataplane(t)
			set := tt.set(t)
			checkErrors(t, dp.OnListeners(t.Context(), set), tt.errors)
			for _, l := range set {
				if _, bound := dp.ListenerAddr(l.GetName()); bound {
					t.Errorf("listener %q of an invalid set was bound", l.GetName())
				}
			}
		})
	}
}

// TestCaptureListenersAccepted applies the shapes of docs/capture.md: a
// virtual listener may share its address with a bound one, and
// CapturedInboundPorts lists virtualInbound's ports.
func TestCaptureListenersAccepted(t *testing.T) {
	dp, _ := newPlainDataplane(t)
	// Port 9090 has two chains (PERMISSIVE-like: plaintext, and any).
	inbound := virtualInbound(t, "127.0.0.1:0", "PassthroughCluster", inboundPort{9090, "inbound|8080"}, inboundPort{8080, "inbound|8080"}, inboundPort{9090, "inbound|8080"})
	inbound.ListenerFilters = append(inbound.ListenerFilters, tlsInspectorFilter(t))
	inbound.FilterChains[0].FilterChainMatch.TransportProtocol = "raw_buffer"
	must(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{
		originalDstCluster("PassthroughCluster"), blackHoleCluster("BlackHoleCluster"),
		staticCluster(t, "inbound|8080", "127.0.0.1:8080"),
	}))
	must(t, dp.OnListeners(t.Context(), []*listenerv3.Listener{
		virtualOutbound(t, "127.0.0.1:0", "PassthroughCluster"),
		virtualListener(t, "outbound|web|80", "198.18.9.9:80", "BlackHoleCluster", "[2001:db8::9]:80"),
		virtualListener(t, "shares a bound address", "127.0.0.1:15998", "BlackHoleCluster"),
		outboundListener(t, "bound", "127.0.0.1:15998", "BlackHoleCluster"),
		inbound,
	}))
	for _, name := range []string{"outbound|web|80", "shares a bound address"} {
		if a, bound := dp.ListenerAddr(name); bound {
			t.Errorf("virtual listener %q is bound to %v, want not bound", name, a)
		}
	}
	if _, bound := dp.ListenerAddr("bound"); !bound {
		t.Error(`listener "bound" is not bound`)
	}
	if got, want := dp.CapturedInboundPorts(), []uint16{8080, 9090}; !slices.Equal(got, want) {
		t.Errorf("CapturedInboundPorts() = %v, want %v", got, want)
	}
}

// TestOriginalDstClusterValidation shows the NACK of each ORIGINAL_DST
// cluster the proxy cannot run.
func TestOriginalDstClusterValidation(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(t *testing.T, c *clusterv3.Cluster)
		errors []string
	}{
		{"ROUND_ROBIN", func(t *testing.T, c *clusterv3.Cluster) {
			c.LbPolicy = clusterv3.Cluster_ROUND_ROBIN
		}, []string{`cluster "PassthroughCluster": lb_policy: an ORIGINAL_DST cluster needs CLUSTER_PROVIDED, got ROUND_ROBIN`}},
		{"endpoints", func(t *testing.T, c *clusterv3.Cluster) {
			c.LoadAssignment = assignment(t, "PassthroughCluster", "127.0.0.1:1")
		}, []string{
			`cluster "PassthroughCluster": load_assignment: unsupported on an ORIGINAL_DST cluster, which dials each connection's original destination`,
		}},
		{"mTLS without a certificate", func(t *testing.T, c *clusterv3.Cluster) {
			c.TransportSocket = edsCluster(t, "x", "sni", serverID).TransportSocket
		}, []string{
			`cluster "PassthroughCluster": transport_socket: mTLS needs the workload certificate and trust bundle, and the dataplane has none`,
		}},
		{"original_dst_lb_config", func(t *testing.T, c *clusterv3.Cluster) {
			c.LbConfig = &clusterv3.Cluster_OriginalDstLbConfig_{OriginalDstLbConfig: &clusterv3.Cluster_OriginalDstLbConfig{UseHttpHeader: true}}
		}, []string{`cluster "PassthroughCluster": original_dst_lb_config: unsupported field`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp, _ := newPlainDataplane(t)
			c := originalDstCluster("PassthroughCluster")
			tt.edit(t, c)
			checkErrors(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{c}), tt.errors)
		})
	}
}

// TestHTTPRouteToOriginalDstRefused: an ORIGINAL_DST cluster has no
// endpoint an HTTP request could go to, so a route to one is refused,
// whichever of the route and the cluster arrives last.
func TestHTTPRouteToOriginalDstRefused(t *testing.T) {
	const msg = `cluster "PassthroughCluster" is ORIGINAL_DST, which only tcp_proxy can use`
	t.Run("RDS route after the cluster", func(t *testing.T) {
		dp, _ := newPlainDataplane(t)
		must(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{originalDstCluster("PassthroughCluster")}))
		err := dp.OnRoutes(t.Context(), []*routev3.RouteConfiguration{routeTo("r", "vh", "PassthroughCluster")})
		checkErrors(t, err, []string{`route_config "r": virtual_hosts[0].routes[0].route.cluster: ` + msg})
	})
	t.Run("cluster after the RDS route", func(t *testing.T) {
		dp, _ := newPlainDataplane(t)
		must(t, dp.OnRoutes(t.Context(), []*routev3.RouteConfiguration{routeTo("r", "vh", "PassthroughCluster")}))
		err := dp.OnClusters(t.Context(), []*clusterv3.Cluster{originalDstCluster("PassthroughCluster")})
		checkErrors(t, err, []string{`cluster "PassthroughCluster": type: ORIGINAL_DST, which only tcp_proxy can use, but route_config "r": virtual_hosts[0].routes[0].route.cluster sends HTTP requests to it`})
	})
	t.Run("inline route", func(t *testing.T) {
		dp, _ := newPlainDataplane(t)
		must(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{originalDstCluster("PassthroughCluster")}))
		l := outboundListener(t, "http", "127.0.0.1:0", "x")
		setHCM(t, l, hcm(t, "http", "", routeTo("r", "vh", "PassthroughCluster")))
		checkErrors(t, dp.OnListeners(t.Context(), []*listenerv3.Listener{l}), []string{
			`listener "http": filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.cluster: ` + msg,
		})
	})
}
