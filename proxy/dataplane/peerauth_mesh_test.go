package dataplane_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"google.golang.org/protobuf/proto"
)

// The shapes below are those of docs/xds.md, "Peer authentication": the
// listeners the tests start from are STRICT.

func tlsInspectorFilter(t *testing.T) *listenerv3.ListenerFilter {
	t.Helper()
	return &listenerv3.ListenerFilter{
		Name:       "envoy.filters.listener.tls_inspector",
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(t, &tlsinspectorv3.TlsInspector{})},
	}
}

func strict(_ *testing.T, l *listenerv3.Listener) *listenerv3.Listener { return l }

// permissive puts the TLS inspector first and every chain twice: with
// transport_protocol "tls" and its DownstreamTlsContext, then with
// "raw_buffer" and no transport socket.
func permissive(t *testing.T, l *listenerv3.Listener) *listenerv3.Listener {
	t.Helper()
	l.ListenerFilters = append([]*listenerv3.ListenerFilter{tlsInspectorFilter(t)}, l.ListenerFilters...)
	var mtls, plain []*listenerv3.FilterChain
	for _, fc := range l.FilterChains {
		suffix := ""
		if len(l.FilterChains) > 1 {
			suffix = "-tcp"
			if len(fc.GetFilterChainMatch().GetApplicationProtocols()) > 0 {
				suffix = "-http"
			}
		}
		for _, v := range []struct {
			name, transport string
			out             *[]*listenerv3.FilterChain
		}{{"mtls", "tls", &mtls}, {"plaintext", "raw_buffer", &plain}} {
			c := proto.Clone(fc).(*listenerv3.FilterChain)
			c.Name = v.name + suffix
			if c.FilterChainMatch == nil {
				c.FilterChainMatch = &listenerv3.FilterChainMatch{}
			}
			c.FilterChainMatch.TransportProtocol = v.transport
			if v.transport == "raw_buffer" {
				c.TransportSocket = nil
			}
			*v.out = append(*v.out, c)
		}
	}
	l.FilterChains = append(mtls, plain...)
	return l
}

// disable removes the transport socket of every chain.
func disable(_ *testing.T, l *listenerv3.Listener) *listenerv3.Listener {
	for _, fc := range l.FilterChains {
		fc.TransportSocket = nil
	}
	return l
}

// reshape applies the inbound listener of m's server again in a mode; it
// keeps its socket (same name and address).
func reshape(t *testing.T, m *mesh, mode func(*testing.T, *listenerv3.Listener) *listenerv3.Listener) {
	t.Helper()
	must(t, m.server.OnListeners(t.Context(), []*listenerv3.Listener{mode(t, m.serverListeners(t)[0])}))
	if got := listenerAddr(t, m.server, inboundName); got != m.inbound {
		t.Fatalf("inbound listener moved from %s to %s", m.inbound, got)
	}
}

// TestPeerAuthenticationTCP runs a mesh client (client proxy, mTLS) and a
// plaintext client against the server's TCP port in each mode.
func TestPeerAuthenticationTCP(t *testing.T) {
	tests := []struct {
		mode            string
		shape           func(*testing.T, *listenerv3.Listener) *listenerv3.Listener
		mtls, plaintext bool // served
	}{
		{"STRICT", strict, true, false},
		{"PERMISSIVE", permissive, true, true},
		{"DISABLE", disable, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.mode+"/mTLS", func(t *testing.T) {
			m := newMesh(t)
			reshape(t, m, tt.shape)
			got, err := roundTrip(t, m.outbound, "PING")
			if !tt.mtls {
				// The ClientHello went to the app as bytes, and the app's
				// answer is no TLS: the client proxy's handshake fails and
				// the app's client gets nothing.
				if got != "" {
					t.Errorf("mesh client got %q from a DISABLE port, want nothing", got)
				}
				expect(t, m.clientMetrics, "weft_proxy_tls_handshake_errors_total", map[string]string{"listener": outboundName, "reason": "upstream_plaintext"}, 1)
				expect(t, m.srvMetrics, "weft_proxy_connections_total", connections(inboundName, "inbound", "", "ok"), 1)
				return
			}
			if err != nil || got != "echo:PING" {
				t.Fatalf("mesh client got %q (%v), want %q", got, err, "echo:PING")
			}
			// The server proxy saw the client's verified SPIFFE ID.
			expect(t, m.srvMetrics, "weft_proxy_connections_total", connections(inboundName, "inbound", clientID, "ok"), 1)
			if tt.mode == "PERMISSIVE" {
				expect(t, m.srvMetrics, "weft_proxy_tls_detection_total", map[string]string{"listener": inboundName, "result": "tls"}, 1)
			}
		})
		t.Run(tt.mode+"/plaintext", func(t *testing.T) {
			m := newMesh(t)
			reshape(t, m, tt.shape)
			if !tt.plaintext {
				c := dial(t, m.inbound)
				// At least a record header's worth (5 bytes), as any
				// plaintext request has.
				_, _ = c.Write([]byte("PING\r\n"))
				refused(t, c)
				expect(t, m.srvMetrics, "weft_proxy_tls_handshake_errors_total", map[string]string{"listener": inboundName, "reason": "plaintext"}, 1)
				expect(t, m.srvMetrics, "weft_proxy_connections_total", connections(inboundName, "inbound", "", "tls_handshake_failed"), 1)
				return
			}
			got, err := roundTrip(t, m.inbound, "PING")
			if err != nil || got != "echo:PING" {
				t.Fatalf("plaintext client got %q (%v), want %q", got, err, "echo:PING")
			}
			// Plaintext has no identity, and the listener stays inbound.
			expect(t, m.srvMetrics, "weft_proxy_connections_total", connections(inboundName, "inbound", "", "ok"), 1)
			if tt.mode == "PERMISSIVE" {
				expect(t, m.srvMetrics, "weft_proxy_tls_detection_total", map[string]string{"listener": inboundName, "result": "plaintext"}, 1)
			}
		})
	}
}

// TestDisableGivesTLSClientsTheApp checks the documented behaviour of a
// DISABLE port toward a TLS client: the proxy does not terminate TLS, the
// ClientHello reaches the app as bytes, and the client's handshake fails
// on the app's plaintext answer.
func TestDisableGivesTLSClientsTheApp(t *testing.T) {
	m := newMesh(t)
	reshape(t, m, disable)
	cfg := tlsconfig.MTLSClientConfig(m.ca.svid(t, clientID), m.ca.bundle, tlsconfig.AuthorizeID(spiffeid.RequireFromString(serverID)))
	c := tls.Client(dial(t, m.inbound), cfg)
	must(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	err := c.HandshakeContext(t.Context())
	var rh tls.RecordHeaderError
	if !errors.As(err, &rh) {
		t.Fatalf("handshake error %v, want a record header error (a plaintext answer)", err)
	}
	// The echo app greets with its name, then echoes the ClientHello.
	if got := string(rh.RecordHeader[:]); got != "echo:" {
		t.Errorf("the TLS client read %q, want the app's greeting %q", got, "echo:")
	}
	expect(t, m.srvMetrics, "weft_proxy_connections_total", connections(inboundName, "inbound", "", "ok"), 1)
	expect(t, m.srvMetrics, "weft_proxy_tls_handshake_errors_total", map[string]string{"listener": inboundName, "reason": "plaintext"}, 0)
}

// TestPermissiveServerFirstOverPlaintext checks that a plaintext client of
// a server-first app is not stalled by the TLS inspector, nor, on a
// sniffed port, by both inspectors: they share one budget.
func TestPermissiveServerFirstOverPlaintext(t *testing.T) {
	tests := []struct {
		name    string
		sniffed bool
	}{{"TCP port", false}, {"sniffed port", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMesh(t)
			reshape(t, m, func(t *testing.T, l *listenerv3.Listener) *listenerv3.Listener {
				if tt.sniffed {
					l = autoListener(t, httpInboundListener(t, inboundName, "127.0.0.1:0"), inboundName)
				}
				return permissive(t, l)
			})
			c := dial(t, m.inbound)
			start := time.Now()
			// The deadline is a generous bound, not a latency assertion.
			must(t, c.SetDeadline(time.Now().Add(10*time.Second)))
			buf := make([]byte, len("echo:"))
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatalf("no greeting: %v (got %q)", err, buf)
			}
			t.Logf("greeting after %v", time.Since(start))
			exchange(t, c, "hello", "hello")
			expect(t, m.srvMetrics, "weft_proxy_tls_detection_total", map[string]string{"listener": inboundName, "result": "timeout"}, 1)
			if tt.sniffed {
				expect(t, m.srvMetrics, "weft_proxy_protocol_detection_total", map[string]string{"listener": inboundName, "result": "timeout"}, 1)
			}
			expect(t, m.srvMetrics, "weft_proxy_connections_total", connections(inboundName, "inbound", "", "ok"), 1)
		})
	}
}

// TestPermissiveHTTPPorts sends mesh (mTLS) and plaintext HTTP/1.1, h2c
// and TCP to a PERMISSIVE HTTP port (2 chains) and sniffed port (4
// chains). The answer tells which chain served: the HTTP app's
// "<proto> <method> <path>|<body>", or the TCP echo app's greeting.
func TestPermissiveHTTPPorts(t *testing.T) {
	type client int
	const (
		meshHTTP client = iota
		meshTCP
		plainHTTP1
		plainH2C
		plainTCP
	)
	tests := []struct {
		name    string
		sniffed bool
		client  client
		peer    string
		tls     string // weft_proxy_tls_detection_total result
		proto   string // weft_proxy_protocol_detection_total result, sniffed ports
	}{
		{"HTTP port/mesh", false, meshHTTP, clientID, "tls", ""},
		{"HTTP port/HTTP/1.1", false, plainHTTP1, "", "plaintext", ""},
		{"HTTP port/h2c", false, plainH2C, "", "plaintext", ""},
		{"sniffed port/mesh HTTP", true, meshHTTP, clientID, "tls", "h2c"},
		{"sniffed port/mesh TCP", true, meshTCP, clientID, "tls", "tcp"},
		{"sniffed port/HTTP/1.1", true, plainHTTP1, "", "plaintext", "http1"},
		{"sniffed port/h2c", true, plainH2C, "", "plaintext", "h2c"},
		{"sniffed port/TCP", true, plainTCP, "", "plaintext", "tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tcp := tt.client == meshTCP || tt.client == plainTCP
			app := startHTTPApp(t)
			if tcp {
				app = startBackend(t, "b1").addr()
			}
			var m *httpMesh
			if tt.sniffed {
				m = newAutoMesh(t, app)
			} else {
				m = newHTTPMesh(t, app, false)
			}
			l := httpInboundListener(t, inboundName, "127.0.0.1:0")
			if tt.sniffed {
				l = autoListener(t, l, inboundName)
			}
			must(t, m.server.OnListeners(t.Context(), []*listenerv3.Listener{permissive(t, l)}))

			switch tt.client {
			case meshTCP, plainTCP:
				addr := m.inbound
				if tt.client == meshTCP {
					addr = m.outbound
				}
				got, err := roundTrip(t, addr, "PING\r\n")
				if want := "b1:PING\r\n"; err != nil || got != want {
					t.Fatalf("got %q (%v), want %q", got, err, want)
				}
				expect(t, m.srvMetrics, "weft_proxy_connections_total", connections(inboundName, "inbound", tt.peer, "ok"), 1)
			default:
				tr, addr, wantProto := &http.Transport{}, m.inbound, "HTTP/1.1"
				switch tt.client {
				case meshHTTP:
					addr = m.outbound
				case plainH2C:
					tr, wantProto = h2cTransport(), "HTTP/2.0"
				}
				t.Cleanup(tr.CloseIdleConnections)
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+"/p", strings.NewReader("payload"))
				must(t, err)
				resp, err := (&http.Client{Transport: tr}).Do(req)
				must(t, err)
				got, err := io.ReadAll(resp.Body)
				must(t, err)
				resp.Body.Close()
				if resp.Proto != wantProto {
					t.Errorf("response over %s, want %s", resp.Proto, wantProto)
				}
				// The inbound cluster speaks HTTP/1.1 to the app: the
				// request went through the inbound HCM.
				if want := "HTTP/1.1 POST /p|payload"; string(got) != want {
					t.Errorf("got %q, want %q", got, want)
				}
				expect(t, m.srvMetrics, "weft_proxy_http_requests_total", requests(inboundName, "inbound", "2xx", tt.peer), 1)
			}
			expect(t, m.srvMetrics, "weft_proxy_tls_detection_total", map[string]string{"listener": inboundName, "result": tt.tls}, 1)
			if tt.proto != "" {
				expect(t, m.srvMetrics, "weft_proxy_protocol_detection_total", map[string]string{"listener": inboundName, "result": tt.proto}, 1)
			}
		})
	}
}

// TestPlaintextClusterReachesDisableOverH2C is a client proxy whose
// outbound cluster has no transport socket but HTTP/2 options, as the
// translator makes it for endpoints that run DISABLE, in front of a
// DISABLE inbound listener that only speaks HTTP/2: the request crosses
// as h2c.
func TestPlaintextClusterReachesDisableOverH2C(t *testing.T) {
	ca := newCA(t, "cluster.local")
	server, srvMetrics := newDataplane(t, ca, serverID)
	client, clientMetrics := newDataplane(t, ca, clientID)
	ctx := t.Context()

	must(t, server.OnClusters(ctx, []*clusterv3.Cluster{httpInboundCluster(t, inboundName, startHTTPApp(t), true)}))
	in := disable(t, httpInboundListener(t, inboundName, "127.0.0.1:0"))
	h := hcm(t, inboundName, "", routeTo(inboundName, inboundName, inboundName))
	h.CodecType = hcmv3.HttpConnectionManager_HTTP2 // HTTP/1.1 would fail
	setHCM(t, in, h)
	must(t, server.OnListeners(ctx, []*listenerv3.Listener{in}))

	c := edsCluster(t, outboundCluster, "") // no transport socket
	c.TypedExtensionProtocolOptions = protocolOptions(t, true)
	must(t, client.OnClusters(ctx, []*clusterv3.Cluster{c}))
	must(t, client.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, listenerAddr(t, server, inboundName))}))
	must(t, client.OnListeners(ctx, []*listenerv3.Listener{httpOutboundListener(t, outboundName, "127.0.0.1:0")}))
	must(t, client.OnRoutes(ctx, []*routev3.RouteConfiguration{routeTo(outboundName, outboundVhost, outboundCluster)}))

	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	for i := range 3 {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+listenerAddr(t, client, outboundName)+"/h2c", strings.NewReader("payload"))
		must(t, err)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		must(t, err)
		got, err := io.ReadAll(resp.Body)
		must(t, err)
		resp.Body.Close()
		// h2c to the app too: the inbound cluster of an HTTP/2 port.
		if want := "HTTP/2.0 POST /h2c|payload"; resp.StatusCode != http.StatusOK || string(got) != want {
			t.Fatalf("request %d: %d %q, want 200 %q", i, resp.StatusCode, got, want)
		}
	}
	expect(t, srvMetrics, "weft_proxy_http_requests_total", requests(inboundName, "inbound", "2xx", ""), 3)
	expect(t, clientMetrics, "weft_proxy_http_requests_total", requests(outboundName, "outbound", "2xx", ""), 3)
	// The three requests shared one multiplexed connection.
	expect(t, srvMetrics, "weft_proxy_connections_total", connections(inboundName, "inbound", "", "ok"), 1)
}

// expect waits until the sample of family name with exactly labels is
// want.
func expect(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string, want float64) {
	t.Helper()
	eventually(t, func() string {
		if got := metric(t, reg, name, labels); got != want {
			return fmt.Sprintf("%s%v = %v, want %v", name, labels, got, want)
		}
		return ""
	})
}

// TestPlaintextListenerDirection checks which plaintext listeners count
// as inbound (a DISABLE port): traffic_direction when set, else the
// "inbound|" name.
func TestPlaintextListenerDirection(t *testing.T) {
	tests := []struct {
		name      string
		direction corev3.TrafficDirection
		want      string
	}{
		{"inbound|9000", corev3.TrafficDirection_UNSPECIFIED, "inbound"},
		{"outbound|echo.default|9000", corev3.TrafficDirection_UNSPECIFIED, "outbound"},
		{"plain", corev3.TrafficDirection_INBOUND, "inbound"},
		{"inbound|9001", corev3.TrafficDirection_OUTBOUND, "outbound"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" "+tt.direction.String(), func(t *testing.T) {
			dp, reg := newPlainDataplane(t)
			must(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{staticCluster(t, "app", startBackend(t, "app").addr())}))
			l := outboundListener(t, tt.name, "127.0.0.1:0", "app")
			l.TrafficDirection = tt.direction
			must(t, dp.OnListeners(t.Context(), []*listenerv3.Listener{l}))
			if got, err := roundTrip(t, listenerAddr(t, dp, tt.name), "x"); err != nil || got != "app:x" {
				t.Fatalf("got %q (%v), want %q", got, err, "app:x")
			}
			expect(t, reg, "weft_proxy_connections_total", connections(tt.name, tt.want, "", "ok"), 1)
		})
	}
}

// TestPermissiveHTTPPortWaitsForASlowClientHello is a mesh client on a
// loaded machine whose ClientHello comes 300 ms after the connection: on a
// PERMISSIVE HTTP port (every chain HTTP, so the client speaks first) the
// TLS inspector waits for it rather than taking the connection for
// plaintext after 100 ms.
func TestPermissiveHTTPPortWaitsForASlowClientHello(t *testing.T) {
	m := newHTTPMesh(t, startHTTPApp(t), false)
	l := httpInboundListener(t, inboundName, "127.0.0.1:0")
	must(t, m.server.OnListeners(t.Context(), []*listenerv3.Listener{permissive(t, l)}))

	raw, err := net.Dial("tcp", m.inbound)
	must(t, err)
	defer raw.Close()
	time.Sleep(300 * time.Millisecond) // three times the inspector's 100 ms budget for TCP ports
	// No client certificate: the handshake itself fails, but only after
	// the inspector has seen TLS.
	_ = tls.Client(raw, &tls.Config{InsecureSkipVerify: true}).HandshakeContext(t.Context())
	expect(t, m.srvMetrics, "weft_proxy_tls_detection_total", map[string]string{"listener": inboundName, "result": "tls"}, 1)
}
