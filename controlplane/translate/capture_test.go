package translate

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// These tests check the facts docs/capture.md ("Original destination")
// promises the proxy, on every capture case, so that a golden file
// regenerated with -update cannot quietly break them.

func TestCaptureNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{VirtualOutbound, "virtualOutbound"},
		{VirtualInbound, "virtualInbound"},
		{PassthroughCluster, "PassthroughCluster"},
		{BlackHoleCluster, "BlackHoleCluster"},
		{InboundPassthroughCluster, "InboundPassthroughCluster"},
		{itoa(CaptureOutboundPort), "15001"},
		{itoa(CaptureInboundPort), "15006"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestCaptureSnapshotConsistent: every RDS name a listener uses is sent,
// every EDS cluster has its assignment, and nothing is sent that nothing
// uses but the clusters (go-control-plane's check), for every case.
func TestCaptureSnapshotConsistent(t *testing.T) {
	for _, tc := range captureCases {
		t.Run(tc.file, func(t *testing.T) {
			snap, err := cache.NewSnapshot("1", translateIn(t, tc.mesh, tc.workload))
			if err != nil {
				t.Fatalf("NewSnapshot: %v", err)
			}
			if err := Consistent(snap); err != nil {
				t.Errorf("Consistent: %v", err)
			}
		})
	}
}

func TestCaptureDeterministic(t *testing.T) {
	for _, tc := range captureCases {
		t.Run(tc.file, func(t *testing.T) {
			first := marshalAll(t, translateIn(t, tc.mesh, tc.workload))
			for range 10 {
				if got := marshalAll(t, translateIn(t, tc.mesh, tc.workload)); string(got) != string(first) {
					t.Fatal("two translations of the same input differ")
				}
			}
		})
	}
}

func TestVirtualOutboundContract(t *testing.T) {
	for _, tc := range captureCases {
		t.Run(tc.file, func(t *testing.T) {
			m := tc.mesh()
			res := translateIn(t, tc.mesh, tc.workload)
			l := find[*listener.Listener](t, res[resource.ListenerType], VirtualOutbound)
			wantCaptureAddresses(t, l, CaptureOutboundPort)
			if !l.GetUseOriginalDst().GetValue() {
				t.Error("use_original_dst is not true: connections would never reach the ClusterIP listeners")
			}
			if l.GetBindToPort() != nil && !l.GetBindToPort().GetValue() {
				t.Error("virtualOutbound does not bind")
			}
			if l.GetTrafficDirection() != core.TrafficDirection_OUTBOUND {
				t.Errorf("traffic_direction %v, want OUTBOUND", l.GetTrafficDirection())
			}
			if len(l.GetListenerFilters()) != 0 {
				t.Errorf("listener filters %v, want none", l.GetListenerFilters())
			}
			chains := l.GetFilterChains()
			if len(chains) == 0 {
				t.Fatal("no filter chains")
			}
			// The pod-IP chains come first (TestPodIPChainsContract).
			fc := chains[len(chains)-1]
			if fc.GetFilterChainMatch() != nil || fc.GetTransportSocket() != nil {
				t.Errorf("the default chain has a match or a transport socket: %v", fc)
			}
			want := PassthroughCluster
			if m.OutboundTrafficPolicy == model.OutboundRegistryOnly {
				want = BlackHoleCluster
			}
			wantTCPProxy(t, fc, want)

			pass := find[*cluster.Cluster](t, res[resource.ClusterType], PassthroughCluster)
			wantOriginalDst(t, pass)
			hole := find[*cluster.Cluster](t, res[resource.ClusterType], BlackHoleCluster)
			if hole.GetType() != cluster.Cluster_STATIC || len(hole.GetLoadAssignment().GetEndpoints()) != 0 ||
				hole.GetLoadAssignment().GetClusterName() != BlackHoleCluster || hole.GetTransportSocket() != nil {
				t.Errorf("BlackHoleCluster is not STATIC without endpoints: %v", hole)
			}
			wantTimeout(t, hole)
		})
	}
}

// TestServiceListenersContract: a Pod gets, for every port of every
// Service in its scope with ClusterIPs, the standalone outbound listener
// of that port on the ClusterIPs, not bound; no other listener but the
// two capture ones; headless Services get none.
func TestServiceListenersContract(t *testing.T) {
	for _, tc := range captureCases {
		t.Run(tc.file, func(t *testing.T) {
			m := tc.mesh()
			w := m.Workload(tc.workload)
			res := translateIn(t, tc.mesh, tc.workload)
			want := []string{VirtualInbound, VirtualOutbound}
			for _, svc := range scope(m, w) {
				if len(svc.ClusterIPs) == 0 {
					continue
				}
				for _, sp := range svc.Ports {
					name := OutboundListenerName(svc.Key(), sp.Port)
					want = append(want, name)
					l := find[*listener.Listener](t, res[resource.ListenerType], name)
					if l.GetBindToPort() == nil || l.GetBindToPort().GetValue() {
						t.Errorf("%s: bind_to_port is not false", name)
					}
					wantAddr(t, l.GetAddress(), svc.ClusterIPs[0].String(), sp.Port)
					var more []string
					for _, a := range l.GetAdditionalAddresses() {
						sa := a.GetAddress().GetSocketAddress()
						if sa.GetPortValue() != sp.Port {
							t.Errorf("%s: additional address on port %d", name, sa.GetPortValue())
						}
						more = append(more, sa.GetAddress())
					}
					wantMore := []string{}
					for _, ip := range svc.ClusterIPs[1:] {
						wantMore = append(wantMore, ip.String())
					}
					if !slices.Equal(append([]string{}, more...), wantMore) {
						t.Errorf("%s: additional addresses %v, want %v", name, more, wantMore)
					}
					// The chains are those of a declared Outbound (same
					// function), so only the address may differ.
					standalone, err := serviceListener(m, w, servicePortRef{svc.Key(), sp.Port}, netip.MustParseAddr("127.0.0.1"), 1)
					if err != nil {
						t.Fatal(err)
					}
					if !proto.Equal(&listener.Listener{FilterChains: l.GetFilterChains(), ListenerFilters: l.GetListenerFilters()},
						&listener.Listener{FilterChains: standalone.listener.GetFilterChains(), ListenerFilters: standalone.listener.GetListenerFilters()}) {
						t.Errorf("%s: chains differ from a declared Outbound's", name)
					}
				}
			}
			slices.Sort(want)
			if got := names(res[resource.ListenerType]); !slices.Equal(got, want) {
				t.Errorf("listeners %v, want %v", got, want)
			}
		})
	}
}

func TestVirtualInboundContract(t *testing.T) {
	for _, tc := range captureCases {
		t.Run(tc.file, func(t *testing.T) {
			m := tc.mesh()
			w := m.Workload(tc.workload)
			res := translateIn(t, tc.mesh, tc.workload)
			l := find[*listener.Listener](t, res[resource.ListenerType], VirtualInbound)
			wantCaptureAddresses(t, l, CaptureInboundPort)
			if l.GetTrafficDirection() != core.TrafficDirection_INBOUND {
				t.Errorf("traffic_direction %v, want INBOUND", l.GetTrafficDirection())
			}
			if l.GetUseOriginalDst() != nil {
				t.Error("virtualInbound sets use_original_dst: it would hand connections to the ClusterIP listeners")
			}
			lfs := []string{}
			for _, f := range l.GetListenerFilters() {
				lfs = append(lfs, f.GetName())
			}
			if len(lfs) == 0 || lfs[0] != wellknown.OriginalDestination {
				t.Errorf("listener filters %v, want original_dst first", lfs)
			}

			// The pod's declared ports, and the numeric target ports of
			// the Services that select it.
			wantPorts := []uint32{}
			for _, p := range w.Ports {
				wantPorts = append(wantPorts, p.Port)
			}
			for _, svc := range m.Services {
				for _, sp := range svc.Ports {
					if svc.Namespace == w.Namespace && len(svc.Selector) > 0 && svc.Selector["app"] == w.Labels["app"] && sp.TargetPortName == "" {
						wantPorts = append(wantPorts, sp.TargetPort)
					}
				}
			}
			slices.Sort(wantPorts)
			wantPorts = slices.Compact(wantPorts)
			var gotPorts []uint32
			var passthrough []*listener.FilterChain
			seen := map[string]bool{}
			tlsMatched, httpMatched := false, false
			for _, fc := range l.GetFilterChains() {
				if seen[fc.GetName()] || fc.GetName() == "" {
					t.Errorf("chain name %q is empty or not unique", fc.GetName())
				}
				seen[fc.GetName()] = true
				tlsMatched = tlsMatched || fc.GetFilterChainMatch().GetTransportProtocol() != ""
				httpMatched = httpMatched || len(fc.GetFilterChainMatch().GetApplicationProtocols()) > 0
				dp := fc.GetFilterChainMatch().GetDestinationPort()
				if dp == nil {
					passthrough = append(passthrough, fc)
					continue
				}
				gotPorts = append(gotPorts, dp.GetValue())
				if !strings.HasPrefix(fc.GetName(), InboundName(dp.GetValue())) {
					t.Errorf("chain %q of port %d is not named after it", fc.GetName(), dp.GetValue())
				}
				if !slices.Contains(chainClusters(t, fc), InboundName(dp.GetValue())) {
					t.Errorf("chain %q of port %d does not forward to %s", fc.GetName(), dp.GetValue(), InboundName(dp.GetValue()))
				}
			}
			slices.Sort(gotPorts)
			if got := slices.Compact(gotPorts); !slices.Equal(got, wantPorts) {
				t.Errorf("destination ports %v, want the pod's ports %v", got, wantPorts)
			}
			wantFilters := []string{wellknown.OriginalDestination}
			if tlsMatched {
				wantFilters = append(wantFilters, wellknown.TLSInspector)
			}
			if httpMatched {
				wantFilters = append(wantFilters, wellknown.HTTPInspector)
			}
			if !slices.Equal(lfs, wantFilters) {
				t.Errorf("listener filters %v, want %v for the chains' matches", lfs, wantFilters)
			}

			for _, p := range wantPorts {
				c := find[*cluster.Cluster](t, res[resource.ClusterType], InboundName(p))
				if c.GetType() != cluster.Cluster_STATIC {
					t.Errorf("%s is %v, want STATIC", c.GetName(), c.GetType())
				}
				if got, want := lbAddrs(c.GetLoadAssignment()), []string{w.Address.String() + ":" + itoa(p)}; !slices.Equal(got, want) {
					t.Errorf("%s endpoints %v, want the pod's address %v", c.GetName(), got, want)
				}
			}

			if len(passthrough) != 1 {
				t.Fatalf("%d chains without destination_port, want 1", len(passthrough))
			}
			fc := passthrough[0]
			if got := chainClusters(t, fc); !slices.Equal(got, []string{InboundPassthroughCluster}) {
				t.Errorf("passthrough chain forwards to %v, want %s", got, InboundPassthroughCluster)
			}
			switch m.MTLSMode(w, 0) {
			case v1alpha1.MTLSStrict:
				if fc.GetFilterChainMatch().GetTransportProtocol() != transportTLS || fc.GetTransportSocket() == nil {
					t.Errorf("STRICT passthrough chain %v: want transport_protocol tls behind mTLS", fc)
				} else {
					dtc := unpack[*tlsv3.DownstreamTlsContext](t, fc.GetTransportSocket().GetTypedConfig())
					if !dtc.GetRequireClientCertificate().GetValue() {
						t.Error("STRICT passthrough does not require a client certificate")
					}
				}
			default:
				if fc.GetFilterChainMatch() != nil || fc.GetTransportSocket() != nil {
					t.Errorf("%s passthrough chain %v: want no match and no transport socket", m.MTLSMode(w, 0), fc)
				}
			}
			wantOriginalDst(t, find[*cluster.Cluster](t, res[resource.ClusterType], InboundPassthroughCluster))
		})
	}
}

// TestVirtualInboundChainsAreInbounds: the chains of each port are those
// a standalone workload's listener of that port has (same mode, RBAC,
// protocol), with a destination_port and a name added.
func TestVirtualInboundChainsAreInbounds(t *testing.T) {
	m := captureMesh()
	w := m.Workload(model.NamespacedName{Namespace: "store", Name: "api-1"})
	res, err := Proxy(m, w)
	if err != nil {
		t.Fatal(err)
	}
	vi := find[*listener.Listener](t, res[resource.ListenerType], VirtualInbound)
	for _, p := range w.Ports {
		standalone, _, err := inbound(m, w, p, w.Address)
		if err != nil {
			t.Fatal(err)
		}
		var got []*listener.FilterChain
		for _, fc := range vi.GetFilterChains() {
			if fc.GetFilterChainMatch().GetDestinationPort().GetValue() == p.Port {
				fc = proto.Clone(fc).(*listener.FilterChain)
				fc.Name = ""
				fc.FilterChainMatch.DestinationPort = nil
				if proto.Equal(fc.FilterChainMatch, &listener.FilterChainMatch{}) {
					fc.FilterChainMatch = nil
				}
				got = append(got, fc)
			}
		}
		want := standalone.GetFilterChains()
		for _, fc := range want {
			fc.Name = ""
		}
		if len(got) != len(want) {
			t.Fatalf("port %d: %d chains, want %d", p.Port, len(got), len(want))
		}
		for i := range got {
			if !proto.Equal(got[i], want[i]) {
				t.Errorf("port %d chain %d differs from the standalone listener's:\n got %v\nwant %v", p.Port, i, got[i], want[i])
			}
		}
	}
	// The modes of captureMesh: each port keeps its own.
	for _, tc := range []struct {
		chain string
		tls   bool
	}{
		{"inbound|8080|mtls", true}, {"inbound|8080|plaintext", false}, // PERMISSIVE
		{"inbound|9000", true},                                    // STRICT
		{"inbound|7000|http", false}, {"inbound|7000|tcp", false}, // DISABLE, sniffed
	} {
		i := slices.IndexFunc(vi.GetFilterChains(), func(fc *listener.FilterChain) bool { return fc.GetName() == tc.chain })
		if i < 0 {
			t.Errorf("no chain %q", tc.chain)
			continue
		}
		if got := vi.GetFilterChains()[i].GetTransportSocket() != nil; got != tc.tls {
			t.Errorf("chain %q behind mTLS = %v, want %v", tc.chain, got, tc.tls)
		}
	}
}

// TestPassthroughKeepsAuthorization: the ports a pod does not declare
// are not a way around its ALLOW policies.
func TestPassthroughKeepsAuthorization(t *testing.T) {
	res := translateIn(t, captureMesh, model.NamespacedName{Namespace: "store", Name: "api-1"})
	vi := find[*listener.Listener](t, res[resource.ListenerType], VirtualInbound)
	i := slices.IndexFunc(vi.GetFilterChains(), func(fc *listener.FilterChain) bool { return fc.GetName() == passthroughChain })
	if i < 0 {
		t.Fatal("no passthrough chain")
	}
	fs := vi.GetFilterChains()[i].GetFilters()
	if len(fs) != 2 || fs[0].GetName() != "envoy.filters.network.rbac" {
		t.Errorf("passthrough filters %v, want the network RBAC filter, then tcp_proxy", fs)
	}
}

func TestPodCaptureEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*model.Mesh, *model.Workload)
		wantErr string
		check   func(*testing.T, Resources)
	}{
		{
			name:    "unknown outbound traffic policy",
			mutate:  func(m *model.Mesh, _ *model.Workload) { m.OutboundTrafficPolicy = "DENY_ALL" },
			wantErr: `outbound traffic policy "DENY_ALL" must be ALLOW_ANY or REGISTRY_ONLY`,
		},
		{
			name:    "ports without an address",
			mutate:  func(_ *model.Mesh, w *model.Workload) { w.Address = netip.Addr{} },
			wantErr: "pod serves ports but has no address",
		},
		{
			name:    "port out of range",
			mutate:  func(_ *model.Mesh, w *model.Workload) { w.Ports = append(w.Ports, model.WorkloadPort{Port: 70000}) },
			wantErr: "port 70000: port must be within 1-65535",
		},
		{
			name: "a port declared by two containers is served once",
			mutate: func(_ *model.Mesh, w *model.Workload) {
				w.Ports = append(w.Ports, model.WorkloadPort{Name: "again", Port: 9000, TargetPort: 9000})
			},
			check: func(t *testing.T, res Resources) {
				vi := find[*listener.Listener](t, res[resource.ListenerType], VirtualInbound)
				n := 0
				for _, fc := range vi.GetFilterChains() {
					if fc.GetFilterChainMatch().GetDestinationPort().GetValue() == 9000 {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d chains for port 9000, want 1", n)
				}
			},
		},
		{
			name: "undeclared target ports are served with their Service port's protocol",
			mutate: func(_ *model.Mesh, w *model.Workload) {
				w.Ports = slices.DeleteFunc(w.Ports, func(p model.WorkloadPort) bool { return p.Port != 8080 })
			},
			check: func(t *testing.T, res Resources) {
				vi := find[*listener.Listener](t, res[resource.ListenerType], VirtualInbound)
				got := []string{}
				for _, fc := range vi.GetFilterChains() {
					got = append(got, fc.GetName())
				}
				want := []string{
					"inbound|8080|mtls", "inbound|8080|plaintext", "inbound|9000", "inbound|7000|http", "inbound|7000|tcp",
					"inbound|9100|mtls", "inbound|9100|plaintext", passthroughChain,
				}
				if !slices.Equal(got, want) {
					t.Errorf("chains %v, want %v", got, want)
				}
			},
		},
		{
			name: "no ports and no Service: only the passthrough chain",
			mutate: func(_ *model.Mesh, w *model.Workload) {
				w.Ports, w.Labels = nil, map[string]string{"app": "alone"}
			},
			check: func(t *testing.T, res Resources) {
				vi := find[*listener.Listener](t, res[resource.ListenerType], VirtualInbound)
				if n := len(vi.GetFilterChains()); n != 1 || vi.GetFilterChains()[0].GetName() != passthroughChain {
					t.Errorf("chains %v, want the passthrough chain alone", vi.GetFilterChains())
				}
				if got := names(res[resource.ClusterType]); slices.ContainsFunc(got, func(n string) bool { return strings.HasPrefix(n, "inbound|") }) {
					t.Errorf("clusters %v hold an inbound cluster", got)
				}
			},
		},
		{
			name: "headless service: no listener, its cluster stays",
			check: func(t *testing.T, res Resources) {
				name := OutboundListenerName(model.NamespacedName{Namespace: "store", Name: "peers"}, 80)
				if slices.Contains(names(res[resource.ListenerType]), name) {
					t.Errorf("headless Service got listener %s", name)
				}
				find[*cluster.Cluster](t, res[resource.ClusterType], "outbound|80||peers.store.svc.cluster.local")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := captureMesh()
			w := *m.Workload(model.NamespacedName{Namespace: "store", Name: "api-1"})
			w.Ports = slices.Clone(w.Ports)
			if tt.mutate != nil {
				tt.mutate(m, &w)
			}
			res, err := Proxy(m, &w)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Proxy: %v, want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Proxy: %v", err)
			}
			tt.check(t, res)
		})
	}
}

func TestCheckBinds(t *testing.T) {
	l := func(name, addr string, port uint32, bind *bool, more ...string) types.Resource {
		out := &listener.Listener{Name: name, Address: socketAddress(netip.MustParseAddr(addr), port)}
		if bind != nil {
			out.BindToPort = wrapperspb.Bool(*bind)
		}
		for _, a := range more {
			out.AdditionalAddresses = append(out.AdditionalAddresses, &listener.AdditionalAddress{Address: socketAddress(netip.MustParseAddr(a), port)})
		}
		return out
	}
	no, yes := new(bool), new(bool)
	*yes = true
	tests := []struct {
		name      string
		listeners []types.Resource
		wantErr   string
	}{
		{name: "distinct", listeners: []types.Resource{l("a", "127.0.0.1", 80, nil), l("b", "127.0.0.1", 81, yes)}},
		{name: "bound and unbound on one address", listeners: []types.Resource{l("a", "198.18.0.1", 80, nil), l("b", "198.18.0.1", 80, no)}},
		{name: "two bound", listeners: []types.Resource{l("a", "127.0.0.1", 80, nil), l("b", "127.0.0.1", 80, yes)}, wantErr: `listeners "a" and "b" both bind 127.0.0.1:80`},
		{name: "two unbound", listeners: []types.Resource{l("a", "198.18.0.1", 80, no), l("b", "198.18.0.1", 80, no)}, wantErr: `listeners "a" and "b" both claim 198.18.0.1:80`},
		{
			name:      "an additional address",
			listeners: []types.Resource{l("a", "0.0.0.0", 15001, nil, "::"), l("b", "::", 15001, nil)},
			wantErr:   `listeners "a" and "b" both bind [::]:15001`,
		},
		{
			name:      "an unbound additional address",
			listeners: []types.Resource{l("a", "198.18.0.1", 80, no, "2001:db8::1"), l("b", "2001:db8::1", 80, no)},
			wantErr:   `listeners "a" and "b" both claim [2001:db8::1]:80`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkBinds(tt.listeners)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("checkBinds: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("checkBinds: %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// wantCaptureAddresses checks 0.0.0.0:port with [::]:port as its one
// additional address.
func wantCaptureAddresses(t *testing.T, l *listener.Listener, port uint32) {
	t.Helper()
	wantAddr(t, l.GetAddress(), "0.0.0.0", port)
	if n := len(l.GetAdditionalAddresses()); n != 1 {
		t.Fatalf("%s: %d additional addresses, want 1", l.GetName(), n)
	}
	wantAddr(t, l.GetAdditionalAddresses()[0].GetAddress(), "::", port)
}

func wantOriginalDst(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	if c.GetType() != cluster.Cluster_ORIGINAL_DST || c.GetLbPolicy() != cluster.Cluster_CLUSTER_PROVIDED {
		t.Errorf("%s: type %v lb %v, want ORIGINAL_DST and CLUSTER_PROVIDED", c.GetName(), c.GetType(), c.GetLbPolicy())
	}
	if c.GetLoadAssignment() != nil || c.GetTransportSocket() != nil {
		t.Errorf("%s has a load assignment or a transport socket", c.GetName())
	}
	wantTimeout(t, c)
}

// chainClusters are the clusters a chain forwards to: tcp_proxy's, or
// the inline routes'.
func chainClusters(t *testing.T, fc *listener.FilterChain) []string {
	t.Helper()
	var out []string
	for _, f := range fc.GetFilters() {
		switch f.GetName() {
		case wellknown.TCPProxy:
			out = append(out, unpack[*tcpproxy.TcpProxy](t, f.GetTypedConfig()).GetCluster())
		case wellknown.HTTPConnectionManager:
			for _, vh := range unpack[*hcm.HttpConnectionManager](t, f.GetTypedConfig()).GetRouteConfig().GetVirtualHosts() {
				for _, r := range vh.GetRoutes() {
					out = append(out, r.GetRoute().GetCluster())
				}
			}
		}
	}
	return out
}
