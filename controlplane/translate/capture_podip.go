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
	// target is the cluster that reaches the pod: PodIPClusterName(id),
	// or PassthroughCluster when plaintext.
	target string
	// cidr is addr as a prefix_ranges entry. Both are built once per
	// Batch, for all the Pods whose scope holds the service port.
	cidr *core.CidrRange
}

// podDests lists the endpoints of one service port as podDests.
func podDests(m *model.Mesh, v servicePortView) []podDest {
	var out []podDest
	for _, ep := range v.eps {
		if !ep.Address.Addr().IsValid() || ep.Identity.IsZero() {
			continue
		}
		addr := ep.Address.Addr().Unmap()
		d := podDest{
			addr:      addr,
			port:      uint32(ep.Address.Port()),
			id:        ep.Identity,
			plaintext: endpointMode(m, ep) == v1alpha1.MTLSDisable,
			target:    PodIPClusterName(ep.Identity),
			cidr:      &core.CidrRange{AddressPrefix: addr.String(), PrefixLen: wrapperspb.UInt32(uint32(addr.BitLen()))}, //nolint:gosec // 32 or 128
		}
		if d.plaintext {
			d.target = PassthroughCluster
		}
		out = append(out, d)
	}
	return out
}

// PodIPClusterName names the ORIGINAL_DST cluster that carries a
// connection dialled to a pod IP over mTLS to the pod of identity id:
// "outbound|pod||<SPIFFE ID>".
func PodIPClusterName(id spiffeid.ID) string { return "outbound|pod||" + id.String() }

// podIPChains returns VirtualOutbound's chains for dests (the podDests of
// each service port in scope), other than the
// pod's own address self, and the clusters they use. Each (port, target)
// gets one chain matching its pod IPs on that port: target is the
// identity's mTLS cluster, or PassthroughCluster for a pod that runs
// DISABLE (left out when fallback, the listener's default, is
// PassthroughCluster anyway). Each port used also gets a chain without
// prefix_ranges to fallback: Envoy matches destination_port before the
// destination IP and does not go back, so without it another address on
// that port would match no chain. Their tcp_proxies log when logged
// (model.Mesh.AccessLog). Within a Batch (b not nil) the clusters and
// filters are shared by all the Pods.
func podIPChains(dests [][]podDest, self netip.Addr, fallback string, logged bool, b *Batch) ([]*listener.FilterChain, []*cluster.Cluster, error) {
	type group struct {
		port   uint32
		target string
	}
	// Each address and port once (a pod behind two Services); nil when
	// two pods claim it with different targets (an IP reused before an
	// EndpointSlice caught up), which then takes fallback: Envoy, and
	// the proxy, refuse a prefix in two chains of one port.
	byDest := make(map[netip.AddrPort]*podDest) // into dests, which are shared: read only
	self = self.Unmap()
	for _, ds := range dests {
		for i := range ds {
			d := &ds[i]
			if d.addr == self {
				continue
			}
			k := netip.AddrPortFrom(d.addr, uint16(d.port)) //nolint:gosec // an endpoint's port
			if prev, seen := byDest[k]; seen && (prev == nil || prev.target != d.target) {
				byDest[k] = nil
				continue
			}
			byDest[k] = d
		}
	}
	members := make(map[group][]*podDest)
	ids := make(map[string]spiffeid.ID)
	for _, d := range byDest {
		if d == nil || d.target == fallback {
			continue
		}
		if !d.plaintext {
			ids[d.target] = d.id
		}
		g := group{port: d.port, target: d.target}
		members[g] = append(members[g], d)
	}
	if len(members) == 0 {
		return nil, nil, nil
	}
	groups := make([]group, 0, len(members))
	for g := range members {
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b group) int {
		return cmp.Or(cmp.Compare(a.port, b.port), cmp.Compare(a.target, b.target))
	})

	var chains []*listener.FilterChain
	for i, g := range groups {
		if i == 0 || groups[i-1].port != g.port {
			f, err := b.tcpProxy(fallback, logged)
			if err != nil {
				return nil, nil, err
			}
			chains = append(chains, &listener.FilterChain{
				Name:             podIPChainName(g.port, fallback),
				FilterChainMatch: &listener.FilterChainMatch{DestinationPort: wrapperspb.UInt32(g.port)},
				Filters:          []*listener.Filter{f},
			})
		}
		f, err := b.tcpProxy(g.target, logged)
		if err != nil {
			return nil, nil, err
		}
		ds := members[g]
		slices.SortFunc(ds, func(a, b *podDest) int { return a.addr.Compare(b.addr) })
		ranges := make([]*core.CidrRange, 0, len(ds))
		for _, d := range ds {
			ranges = append(ranges, d.cidr)
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
		c, err := b.podIPCluster(name, ids[name]) // shared in a Batch
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
