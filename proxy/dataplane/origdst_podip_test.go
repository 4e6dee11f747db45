package dataplane_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/proxy/dataplane"
)

// podIPCluster is the ORIGINAL_DST cluster of a meshed pod dialled by its
// IP: mTLS to the original destination, which must present id.
func podIPCluster(t *testing.T, name, id string) *clusterv3.Cluster {
	t.Helper()
	c := originalDstCluster(name)
	c.TransportSocket = &corev3.TransportSocket{
		Name: "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(t, &tlsv3.UpstreamTlsContext{
			CommonTlsContext: commonTLS(uriMatchers([]string{id}, nil)), // no SNI, no ALPN
		})},
	}
	return c
}

// podIPChain matches destination port and the prefixes (none: any
// address on that port) and proxies to cluster.
func podIPChain(t *testing.T, port uint16, cluster string, prefixes ...string) *listenerv3.FilterChain {
	t.Helper()
	m := &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(uint32(port))}
	for _, p := range prefixes {
		pr := netip.MustParsePrefix(p)
		m.PrefixRanges = append(m.PrefixRanges, &corev3.CidrRange{AddressPrefix: pr.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(pr.Bits()))})
	}
	return &listenerv3.FilterChain{Name: fmt.Sprintf("%d|%s", port, cluster), FilterChainMatch: m, Filters: []*listenerv3.Filter{tcpProxyFilter(t, cluster)}}
}

// TestPodIPOverMTLS follows captured connections to pod IPs: one to the
// meshed server's address and port goes over mTLS (each side names the
// other's SPIFFE ID), one to another address on that port and one to
// another port pass through in plaintext, and a server that presents
// another identity than the chain's cluster expects is refused.
func TestPodIPOverMTLS(t *testing.T) {
	m := newMesh(t) // the server proxy's mTLS inbound listener, in front of "echo"
	pod := netip.MustParseAddrPort(m.inbound)
	// Another address on the server's port: a pod outside the mesh.
	outsider := startBackendAt(t, "outsider", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), pod.Port()).String())
	other := startBackend(t, "other-port")

	const (
		podCluster   = "outbound|pod||" + serverID
		wrongCluster = "outbound|pod||" + otherID
	)
	f := newFakeCapture()
	client, reg := newDataplane(t, m.ca, clientID, func(c *dataplane.Config) {
		c.OriginalDst = f.originalDst
		c.Dial = f.dial
	})
	must(t, client.OnClusters(t.Context(), []*clusterv3.Cluster{
		originalDstCluster("PassthroughCluster"),
		podIPCluster(t, podCluster, serverID),
		podIPCluster(t, wrongCluster, otherID),
	}))
	vo := virtualOutbound(t, "127.0.0.1:0", "PassthroughCluster")
	vo.FilterChains = append([]*listenerv3.FilterChain{
		podIPChain(t, pod.Port(), "PassthroughCluster"),
		podIPChain(t, pod.Port(), podCluster, "127.0.0.1/32", "198.18.0.7/32"),
	}, vo.FilterChains...)
	must(t, client.OnListeners(t.Context(), []*listenerv3.Listener{vo}))
	voAddr := listenerAddr(t, client, "virtualOutbound")

	msg := strings.Repeat("by pod IP ", 1000)
	for _, tt := range []struct {
		name string
		dst  string
		want string
	}{
		{"the meshed pod's IP and port: mTLS", pod.String(), "echo:"},
		{"another address on that port: plaintext", outsider.addr(), "outsider:"},
		{"another port: plaintext", other.addr(), "other-port:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := f.dialAs(t, voAddr, netip.MustParseAddrPort(tt.dst))
			exchange(t, c, msg, tt.want+msg)
			_ = c.Close()
		})
	}
	eventually(t, func() string {
		if v := metric(t, m.srvMetrics, "weft_proxy_connections_total", connections(inboundName, "inbound", clientID, "ok")); v != 1 {
			return fmt.Sprintf("the server proxy took %v connections from the client's SPIFFE ID, want 1", v)
		}
		if v := metric(t, reg, "weft_proxy_connections_total", connections("virtualOutbound", "outbound", serverID, "ok")); v != 1 {
			return fmt.Sprintf("the client proxy counted %v connections to the server's SPIFFE ID, want 1", v)
		}
		return ""
	})

	// The same address, now expected to present another identity.
	vo.FilterChains[1] = podIPChain(t, pod.Port(), wrongCluster, "127.0.0.1/32")
	must(t, client.OnListeners(t.Context(), []*listenerv3.Listener{vo}))
	refused(t, f.dialAs(t, voAddr, pod))
	eventually(t, func() string {
		if v := metric(t, reg, "weft_proxy_tls_handshake_errors_total", map[string]string{"listener": "virtualOutbound", "reason": "upstream_unauthorized"}); v != 1 {
			return fmt.Sprintf("%v upstream_unauthorized handshake errors, want 1", v)
		}
		return ""
	})
}
