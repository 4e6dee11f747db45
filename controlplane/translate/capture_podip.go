package translate

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// An app may dial a meshed pod by its IP: a headless Service's DNS
// answers pod IPs, StatefulSet members call each other by name, and some
// clients resolve endpoints themselves. No listener has a pod IP as its
// address, so without more VirtualOutbound would pass such a connection
// through in plaintext (which a STRICT pod refuses) or close it under
// REGISTRY_ONLY. Instead, VirtualOutbound gets a chain per served port
// and identity, matching the pod IPs behind that identity
// (prefix_ranges), that proxies the connection over mTLS to its original
// destination, verifying that the pod there presents that identity
// (podIPCluster). The bytes pass as they are (tcp_proxy): the peer
// sidecar's inbound chain for the port applies its protocol, mode and
// authorization, and sees the client's SPIFFE ID.

// podDest is a meshed pod's address and port, as a Service's endpoint
// lists it, and who should answer there.
type podDest struct {
	addr netip.Addr
	port uint32
	id   spiffeid.ID
	// plaintext: the pod runs DISABLE on port (upstreamEndpoints).
	plaintext bool
}

// podDests lists the endpoints of one service port as podDests.
func podDests(m *model.Mesh, ref servicePortRef) []podDest {
	svc, sp, found := servicePort(m, ref.service, ref.port)
	if !found {
		return nil
	}
	var out []podDest
	for _, ep := range m.Endpoints(svc, sp) {
		if !ep.Address.Addr().IsValid() || ep.Identity.IsZero() {
			continue
		}
		out = append(out, podDest{
			addr:      ep.Address.Addr().Unmap(),
			port:      uint32(ep.Address.Port()),
			id:        ep.Identity,
			plaintext: endpointMode(m, ep) == v1alpha1.MTLSDisable,
		})
	}
	return out
}

// PodIPClusterName names the ORIGINAL_DST cluster that carries a
// connection dialled to a pod IP over mTLS to the pod of identity id:
// "outbound|pod||<SPIFFE ID>".
func PodIPClusterName(id spiffeid.ID) string { return "outbound|pod||" + id.String() }

// podIPChains returns VirtualOutbound's chains for dests, other than the
// pod's own address self, and the clusters they use. Each (port, target)
// gets one chain matching its pod IPs on that port: target is the
// identity's mTLS cluster, or PassthroughCluster for a pod that runs
// DISABLE (left out when fallback, the listener's default, is
// PassthroughCluster anyway). Each port used also gets a chain without
// prefix_ranges to fallback: Envoy matches destination_port before the
// destination IP and does not go back, so without it another address on
// that port would match no chain.
func podIPChains(dests []podDest, self netip.Addr, fallback string) ([]*listener.FilterChain, []*cluster.Cluster, error) {
	type group struct {
		port   uint32
		target string
	}
	prefixes := make(map[group][]netip.Prefix)
	ids := make(map[string]spiffeid.ID)
	for _, d := range dests {
		if d.addr == self.Unmap() {
			continue
		}
		g := group{port: d.port, target: PassthroughCluster}
		if !d.plaintext {
			g.target = PodIPClusterName(d.id)
			ids[g.target] = d.id
		} else if fallback == PassthroughCluster {
			continue
		}
		prefixes[g] = append(prefixes[g], netip.PrefixFrom(d.addr, d.addr.BitLen()))
	}
	if len(prefixes) == 0 {
		return nil, nil, nil
	}
	groups := make([]group, 0, len(prefixes))
	for g := range prefixes {
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b group) int {
		return cmp.Or(cmp.Compare(a.port, b.port), cmp.Compare(a.target, b.target))
	})

	var chains []*listener.FilterChain
	for i, g := range groups {
		if i == 0 || groups[i-1].port != g.port {
			f, err := tcpProxyFilter(fallback)
			if err != nil {
				return nil, nil, err
			}
			chains = append(chains, &listener.FilterChain{
				Name:             podIPChainName(g.port, fallback),
				FilterChainMatch: &listener.FilterChainMatch{DestinationPort: wrapperspb.UInt32(g.port)},
				Filters:          []*listener.Filter{f},
			})
		}
		f, err := tcpProxyFilter(g.target)
		if err != nil {
			return nil, nil, err
		}
		ps := prefixes[g]
		slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		ps = slices.Compact(ps) // a pod behind two Services on one port
		ranges := make([]*core.CidrRange, 0, len(ps))
		for _, p := range ps {
			ranges = append(ranges, &core.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))}) //nolint:gosec // Bits is 32 or 128
		}
		chains = append(chains, &listener.FilterChain{
			Name:             podIPChainName(g.port, g.target),
			FilterChainMatch: &listener.FilterChainMatch{DestinationPort: wrapperspb.UInt32(g.port), PrefixRanges: ranges},
			Filters:          []*listener.Filter{f},
		})
	}

	names := make([]string, 0, len(ids))
	for name := range ids {
		names = append(names, name)
	}
	slices.Sort(names)
	clusters := make([]*cluster.Cluster, 0, len(names))
	for _, name := range names {
		c, err := podIPCluster(name, ids[name])
		if err != nil {
			return nil, nil, err
		}
		clusters = append(clusters, c)
	}
	return chains, clusters, nil
}

// podIPChainName names a chain of podIPChains: "pod-ip|<port>|<target
// cluster>".
func podIPChainName(port uint32, target string) string {
	return "pod-ip|" + strconv.FormatUint(uint64(port), 10) + "|" + target
}

// podIPCluster is the ORIGINAL_DST cluster name: mTLS to the connection's
// original destination, which must present id. It offers no ALPN: the
// app's bytes pass unchanged, and the peer's inbound chain reads them as
// it reads a plaintext client's (HTTP/1, or HTTP/2 by its preface).
func podIPCluster(name string, id spiffeid.ID) (*cluster.Cluster, error) {
	ts, err := upstreamTLS("", []spiffeid.ID{id}, nil)
	if err != nil {
		return nil, err
	}
	c := originalDstCluster(name)
	c.TransportSocket = ts
	return c, nil
}
