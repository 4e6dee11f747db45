package dataplane_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	httpinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	"google.golang.org/protobuf/proto"
)

// sniffedHTTP are the application protocols of the HTTP chain of an
// auto port, as docs/xds.md says.
var sniffedHTTP = []string{"http/1.0", "http/1.1", "h2c"}

// autoListener turns l, whose one chain is an HCM, into an auto-port
// listener: the HTTP inspector, the HCM chain matching sniffed HTTP, and a
// default chain proxying TCP to cluster.
func autoListener(t *testing.T, l *listenerv3.Listener, cluster string) *listenerv3.Listener {
	t.Helper()
	l.ListenerFilters = []*listenerv3.ListenerFilter{{
		Name:       "envoy.filters.listener.http_inspector",
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(t, &httpinspectorv3.HttpInspector{})},
	}}
	tcp := proto.Clone(l.FilterChains[0]).(*listenerv3.FilterChain)
	tcp.Filters = []*listenerv3.Filter{tcpProxyFilter(t, cluster)}
	l.FilterChains[0].FilterChainMatch = &listenerv3.FilterChainMatch{ApplicationProtocols: sniffedHTTP}
	l.FilterChains = append(l.FilterChains, tcp)
	return l
}

// newAutoMesh is newHTTPMesh for a port that declares no protocol: both
// proxies sniff, inbound after TLS.
func newAutoMesh(t *testing.T, appAddr string) *httpMesh {
	t.Helper()
	ca := newCA(t, "cluster.local")
	m := &httpMesh{ca: ca}
	m.server, m.srvMetrics = newDataplane(t, ca, serverID)
	m.client, m.clientMetrics = newDataplane(t, ca, clientID)
	ctx := t.Context()
	must(t, m.server.OnClusters(ctx, []*clusterv3.Cluster{httpInboundCluster(t, inboundName, appAddr, false)}))
	must(t, m.server.OnListeners(ctx, []*listenerv3.Listener{autoListener(t, httpInboundListener(t, inboundName, "127.0.0.1:0"), inboundName)}))
	m.inbound = listenerAddr(t, m.server, inboundName)
	must(t, m.client.OnClusters(ctx, []*clusterv3.Cluster{httpOutboundCluster(t, outboundCluster, outboundSNI, serverID)}))
	must(t, m.client.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, m.inbound)}))
	must(t, m.client.OnListeners(ctx, []*listenerv3.Listener{autoListener(t, httpOutboundListener(t, outboundName, "127.0.0.1:0"), outboundCluster)}))
	must(t, m.client.OnRoutes(ctx, []*routev3.RouteConfiguration{routeTo(outboundName, outboundVhost, outboundCluster)}))
	m.outbound = listenerAddr(t, m.client, outboundName)
	return m
}

// detected checks weft_proxy_protocol_detection_total of both proxies.
func (m *httpMesh) detected(t *testing.T, outbound, inbound string) {
	t.Helper()
	eventually(t, func() string {
		if v := metric(t, m.clientMetrics, "weft_proxy_protocol_detection_total", map[string]string{"listener": outboundName, "result": outbound}); v != 1 {
			return "client proxy detected " + outbound + " " + ftoa(v) + " times, want 1"
		}
		if v := metric(t, m.srvMetrics, "weft_proxy_protocol_detection_total", map[string]string{"listener": inboundName, "result": inbound}); v != 1 {
			return "server proxy detected " + inbound + " " + ftoa(v) + " times, want 1"
		}
		return ""
	})
}

func TestAutoPortSniffsHTTP(t *testing.T) {
	tests := []struct {
		name      string
		transport *http.Transport
		wantProto string
		outbound  string
	}{
		{"http1", &http.Transport{}, "HTTP/1.1", "http1"},
		{"h2c", h2cTransport(), "HTTP/2.0", "h2c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newAutoMesh(t, startHTTPApp(t))
			t.Cleanup(tt.transport.CloseIdleConnections)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+m.outbound+"/auto", strings.NewReader("payload"))
			must(t, err)
			resp, err := (&http.Client{Transport: tt.transport}).Do(req)
			must(t, err)
			got, err := io.ReadAll(resp.Body)
			must(t, err)
			resp.Body.Close()
			if resp.Proto != tt.wantProto {
				t.Errorf("response over %s, want %s", resp.Proto, tt.wantProto)
			}
			// The app gets HTTP/1.1 from the inbound proxy whatever the
			// client spoke: the request went through both HCMs.
			if want := "HTTP/1.1 POST /auto|payload"; string(got) != want {
				t.Errorf("got %q, want %q", got, want)
			}
			// Sidecars talk HTTP/2 to each other: the inbound proxy sees
			// the h2 preface once TLS is off.
			m.detected(t, tt.outbound, "h2c")
			eventually(t, func() string {
				if v := metric(t, m.srvMetrics, "weft_proxy_http_requests_total", requests(inboundName, "inbound", "2xx", clientID)); v != 1 {
					return "server proxy counted " + ftoa(v) + " 2xx requests"
				}
				return ""
			})
		})
	}
}

func TestAutoPortProxiesClientFirstTCP(t *testing.T) {
	m := newAutoMesh(t, startBackend(t, "b1").addr())
	got, err := roundTrip(t, m.outbound, "PING\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "b1:PING\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	m.detected(t, "tcp", "tcp")
}

func TestAutoPortDoesNotStallServerFirst(t *testing.T) {
	m := newAutoMesh(t, startBackend(t, "greeting").addr())
	c := dial(t, m.outbound)
	// The client waits for the server's greeting: each proxy gives up
	// sniffing after its budget and proxies TCP. The deadline is a
	// generous bound, not a latency assertion.
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("greeting:"))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("no greeting: %v (got %q)", err, buf)
	}
	exchange(t, c, "hello", "hello")
	m.detected(t, "timeout", "timeout")
}

func TestAutoPortWithoutDefaultChainClosesTCP(t *testing.T) {
	dp, reg := newPlainDataplane(t)
	l := autoListener(t, httpOutboundListener(t, outboundName, "127.0.0.1:0"), outboundCluster)
	l.FilterChains = l.FilterChains[:1] // the HTTP chain only
	must(t, dp.OnListeners(t.Context(), []*listenerv3.Listener{l}))
	refused(t, dial(t, listenerAddr(t, dp, outboundName)))
	if v := metric(t, reg, "weft_proxy_connections_total", connections(outboundName, "outbound", "", "no_filter_chain")); v != 1 {
		t.Errorf("counted %v connections without a filter chain, want 1", v)
	}
	if v := metric(t, reg, "weft_proxy_protocol_detection_total", map[string]string{"listener": outboundName, "result": "timeout"}); v != 1 {
		t.Errorf("counted %v detection timeouts, want 1", v)
	}
}
