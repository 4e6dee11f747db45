package xdsclient

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
)

// BenchmarkEndpointChange measures what a proxy receives when one endpoint
// of one of its N services moves, over SotW and delta in the same
// iterations: two go-control-plane servers get the same snapshots, which
// are versioned as a whole as Weft's control plane versions them (so a
// SotW proxy is sent every type again on any change). It reports, per
// protocol, the bytes received per change (gRPC wire length of the
// responses) and the time from the push to the client's acceptance; the
// ratio of the bytes; and the bytes of the SotW EDS responses alone, what
// a control plane versioning each type apart would send
// (docs/performance.md).
func BenchmarkEndpointChange(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("clusters=%d", n), func(b *testing.B) { benchEndpointChange(b, n) })
	}
}

func benchEndpointChange(b *testing.B, n int) {
	mesh := benchMesh(b, n)
	type proxy struct {
		p                 Protocol
		srv               *xdsServer
		c                 *Client
		bytes             *byteCounter
		before, edsBefore int64
		elapsed           time.Duration
	}
	var proxies []*proxy
	for _, p := range protocols {
		x := &proxy{p: p, srv: startServer(b, "127.0.0.1:0"), bytes: &byteCounter{}}
		x.srv.setSnapshot(b, snapshot(b, "0", mesh))
		x.c = startClientWith(b, Config{
			Conn:     dial(b, x.srv.addr, grpc.WithStatsHandler(x.bytes)),
			Node:     &corev3.Node{Id: testNodeID},
			Handler:  nopHandler{},
			Protocol: p,
		})
		proxies = append(proxies, x)
	}
	for _, x := range proxies {
		eventually(b, x.p.String()+" proxy configured", func() bool { return settled(x.c, "0", l4Types) })
		x.before, x.edsBefore = x.bytes.n.Load(), x.bytes.eds.Load()
	}

	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		version := fmt.Sprint(i + 1)
		svc := i % n
		mesh.endpoints[svc] = assignment(mesh.clusters[svc].GetName(), "127.0.0.2", "127.0.0.3", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		snap := snapshot(b, version, mesh)
		b.StartTimer()
		for _, x := range proxies {
			// One protocol after the other, each timed from the push to
			// the client's acceptance of every type its server sends
			// (a delta server sends only the changed assignment).
			changed := l4Types
			if x.p == ProtocolDelta {
				changed = []string{EndpointType}
			}
			start := time.Now()
			x.srv.setSnapshot(b, snap)
			for !settled(x.c, version, changed) {
				time.Sleep(50 * time.Microsecond)
			}
			x.elapsed += time.Since(start)
		}
	}
	b.StopTimer()
	perChange := map[Protocol]float64{}
	for _, x := range proxies {
		perChange[x.p] = float64(x.bytes.n.Load()-x.before) / float64(b.N)
		b.ReportMetric(perChange[x.p], x.p.String()+"-B/change")
		b.ReportMetric(x.elapsed.Seconds()*1e3/float64(b.N), x.p.String()+"-ms/change")
		if x.p == ProtocolSotW {
			// What a control plane versioning each type apart would send.
			b.ReportMetric(float64(x.bytes.eds.Load()-x.edsBefore)/float64(b.N), "sotw-eds-B/change")
		}
	}
	b.ReportMetric(perChange[ProtocolSotW]/perChange[ProtocolDelta], "sotw/delta")
}

// settled reports whether c accepted version for every type of types.
func settled(c *Client, version string, types []string) bool {
	st := c.Status()
	for _, typ := range types {
		if st.Types[typ].Version != version {
			return false
		}
	}
	return true
}

// benchMesh is a sidecar's configuration with n outbound services, each an
// EDS cluster with three endpoints and a tcp_proxy listener, as the
// translator makes them.
func benchMesh(b *testing.B, n int) resources {
	var r resources
	for i := range n {
		name := fmt.Sprintf("outbound|8080||svc-%d.shop.svc.cluster.local", i)
		r.clusters = append(r.clusters, edsCluster(name, ""))
		r.endpoints = append(r.endpoints, assignment(name, "127.0.0.2", "127.0.0.3", "127.0.0.4"))
		l := testListener(fmt.Sprintf("outbound|svc-%d.shop|8080", i), uint32(20000+i))
		l.FilterChains = []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{
			filter(b, "envoy.filters.network.tcp_proxy", &tcpproxyv3.TcpProxy{
				StatPrefix:       name,
				ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: name},
			}),
		}}}
		r.listeners = append(r.listeners, l)
	}
	return r
}

// byteCounter counts the wire bytes of the responses a connection
// receives, in all and those of EDS.
type byteCounter struct{ n, eds atomic.Int64 }

func (c *byteCounter) HandleRPC(_ context.Context, s stats.RPCStats) {
	in, ok := s.(*stats.InPayload)
	if !ok {
		return
	}
	c.n.Add(int64(in.WireLength))
	type typed interface{ GetTypeUrl() string }
	if m, ok := in.Payload.(typed); ok && m.GetTypeUrl() == EndpointType {
		c.eds.Add(int64(in.WireLength))
	}
}

func (c *byteCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (c *byteCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}

func (c *byteCounter) HandleConn(context.Context, stats.ConnStats) {}
