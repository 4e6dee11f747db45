package translate

import (
	"net/netip"
	"slices"
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// TestPodIPChainsContract: on every capture case, a connection that
// VirtualOutbound gets for a meshed endpoint of a Service in scope (its
// pod IP and port) goes over mTLS to that pod's identity, one for a pod
// that runs DISABLE on the port in plaintext, and one for any other
// address, the pod's own among them, to the default target, as Envoy
// would match the chains.
func TestPodIPChainsContract(t *testing.T) {
	for _, tc := range captureCases {
		t.Run(tc.file, func(t *testing.T) {
			m := tc.mesh()
			w := m.Workload(tc.workload)
			res := translateIn(t, tc.mesh, tc.workload)
			l := find[*listener.Listener](t, res[resource.ListenerType], VirtualOutbound)
			fallback := PassthroughCluster
			if m.OutboundTrafficPolicy == model.OutboundRegistryOnly {
				fallback = BlackHoleCluster
			}

			var ports []uint16
			for _, svc := range scope(m, w) {
				for _, sp := range svc.Ports {
					for _, ep := range m.Endpoints(svc, sp) {
						ports = append(ports, ep.Address.Port())
						want := PodIPClusterName(ep.Identity)
						switch {
						case ep.Address.Addr() == w.Address:
							want = fallback
						case endpointMode(m, ep) == v1alpha1.MTLSDisable:
							want = PassthroughCluster
						default:
							wantPodIPCluster(t, find[*cluster.Cluster](t, res[resource.ClusterType], want), ep.Identity.String())
						}
						if got := matchOutbound(t, l, ep.Address); got != want {
							t.Errorf("%s (%s): goes to %q, want %q", ep.Address, ep.Workload, got, want)
						}
					}
				}
			}
			stranger := netip.MustParseAddr("192.0.2.250")
			for _, port := range append(ports, 1) {
				if got := matchOutbound(t, l, netip.AddrPortFrom(stranger, port)); got != fallback {
					t.Errorf("%s:%d, in no Service: goes to %q, want %q", stranger, port, got, fallback)
				}
			}
		})
	}
}

// matchOutbound is the cluster of the one chain of l that Envoy picks for
// a connection to dst: destination_port first (a chain of that port, else
// one without), then the most specific prefix_ranges entry holding dst's
// address (else a chain without prefix_ranges).
func matchOutbound(t *testing.T, l *listener.Listener, dst netip.AddrPort) string {
	t.Helper()
	var byPort []*listener.FilterChain
	for _, want := range []uint32{uint32(dst.Port()), 0} {
		for _, fc := range l.GetFilterChains() {
			if fc.GetFilterChainMatch().GetDestinationPort().GetValue() == want {
				byPort = append(byPort, fc)
			}
		}
		if len(byPort) > 0 {
			break
		}
	}
	var best, any []*listener.FilterChain
	bits := -1
	for _, fc := range byPort {
		ranges := fc.GetFilterChainMatch().GetPrefixRanges()
		if len(ranges) == 0 {
			any = append(any, fc)
		}
		for _, r := range ranges {
			a, err := netip.ParseAddr(r.GetAddressPrefix())
			if err != nil {
				t.Fatalf("chain %s: prefix %q: %v", fc.GetName(), r.GetAddressPrefix(), err)
			}
			prefix := netip.PrefixFrom(a, int(r.GetPrefixLen().GetValue()))
			switch n := prefix.Bits(); {
			case !prefix.Contains(dst.Addr()) || n < bits:
			case n > bits:
				best, bits = []*listener.FilterChain{fc}, n
			default:
				best = append(best, fc)
			}
		}
	}
	if best == nil {
		best = any
	}
	if len(best) != 1 {
		t.Fatalf("%s matches %d chains, want 1", dst, len(best))
	}
	var tp tcpproxy.TcpProxy
	if err := best[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&tp); err != nil {
		t.Fatalf("chain %s: %v", best[0].GetName(), err)
	}
	return tp.GetCluster()
}

// wantPodIPCluster checks a pod-IP cluster: ORIGINAL_DST, mTLS that
// accepts exactly id, no ALPN (the app's bytes pass as they are).
func wantPodIPCluster(t *testing.T, c *cluster.Cluster, id string) {
	t.Helper()
	if c.GetType() != cluster.Cluster_ORIGINAL_DST || c.GetLbPolicy() != cluster.Cluster_CLUSTER_PROVIDED {
		t.Errorf("%s: type %v lb %v, want ORIGINAL_DST and CLUSTER_PROVIDED", c.GetName(), c.GetType(), c.GetLbPolicy())
	}
	wantTimeout(t, c)
	ut := unpack[*tlsv3.UpstreamTlsContext](t, c.GetTransportSocket().GetTypedConfig())
	if alpn := ut.GetCommonTlsContext().GetAlpnProtocols(); len(alpn) != 0 {
		t.Errorf("%s offers ALPN %q, want none", c.GetName(), alpn)
	}
	var sans []string
	for _, m := range wantCommonTLS(t, ut.GetCommonTlsContext()) {
		if m.GetSanType() != tlsv3.SubjectAltNameMatcher_URI {
			t.Errorf("%s: SAN matcher of type %v", c.GetName(), m.GetSanType())
		}
		sans = append(sans, m.GetMatcher().GetExact())
	}
	if !slices.Equal(sans, []string{id}) {
		t.Errorf("%s accepts %q, want exactly %q", c.GetName(), sans, id)
	}
}

// TestPodIPChainsAmbiguousAddress: an address and port that two pods of
// different identities claim (an IP reused before an EndpointSlice
// caught up) is left to the fallback rather than given to either, and a
// pod listed twice (behind two Services) is matched once.
func TestPodIPChainsAmbiguousAddress(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("cluster.local")
	dest := func(addr string, port uint32, sa string) podDest {
		id := spiffeid.RequireFromPath(td, "/ns/shop/sa/"+sa)
		a := netip.MustParseAddr(addr)
		return podDest{addr: a, port: port, id: id, target: PodIPClusterName(id),
			cidr: &core.CidrRange{AddressPrefix: a.String(), PrefixLen: wrapperspb.UInt32(32)}}
	}
	dests := [][]podDest{
		{dest("198.18.0.1", 8080, "old"), dest("198.18.0.2", 8080, "web")},
		{dest("198.18.0.1", 8080, "new"), dest("198.18.0.2", 8080, "web"), dest("198.18.0.1", 9090, "new")},
	}
	chains, clusters, err := podIPChains(dests, netip.Addr{}, PassthroughCluster, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := &listener.Listener{FilterChains: append(chains, &listener.FilterChain{Filters: []*listener.Filter{mustTCPProxy(t, PassthroughCluster)}})}
	for dst, want := range map[string]string{
		"198.18.0.1:8080": PassthroughCluster, // claimed by old and new
		"198.18.0.2:8080": PodIPClusterName(spiffeid.RequireFromPath(td, "/ns/shop/sa/web")),
		"198.18.0.1:9090": PodIPClusterName(spiffeid.RequireFromPath(td, "/ns/shop/sa/new")),
	} {
		if got := matchOutbound(t, l, netip.MustParseAddrPort(dst)); got != want {
			t.Errorf("%s goes to %q, want %q", dst, got, want)
		}
	}
	for _, fc := range chains {
		if n := len(fc.GetFilterChainMatch().GetPrefixRanges()); n > 1 {
			t.Errorf("chain %s lists %d prefixes, want each pod once", fc.GetName(), n)
		}
	}
	if len(clusters) != 2 {
		t.Errorf("%d clusters, want web's and new's", len(clusters))
	}
}

func mustTCPProxy(t *testing.T, cluster string) *listener.Filter {
	t.Helper()
	f, err := tcpProxyFilter(cluster, false)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
