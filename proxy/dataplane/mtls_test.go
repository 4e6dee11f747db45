package dataplane_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/weftmesh/weft/proxy/dataplane"
)

func TestMTLSBothWaysWithHalfClose(t *testing.T) {
	m := newMesh(t)
	msg := strings.Repeat("hello through the mesh ", 10_000)
	got, err := roundTrip(t, m.outbound, msg)
	if err != nil {
		t.Fatal(err)
	}
	if got != "echo:"+msg {
		t.Fatalf("got %d bytes %.40q..., want the echo of %d bytes", len(got), got, len(msg))
	}

	// Each side records the other's verified SPIFFE ID.
	eventually(t, func() string {
		if v := metric(t, m.clientMetrics, "weft_proxy_connections_total", connections(outboundName, "outbound", serverID, "ok")); v != 1 {
			return fmt.Sprintf("client side: %v connections from the server's ID, want 1", v)
		}
		if v := metric(t, m.srvMetrics, "weft_proxy_connections_total", connections(inboundName, "inbound", clientID, "ok")); v != 1 {
			return fmt.Sprintf("server side: %v connections from the client's ID, want 1", v)
		}
		return ""
	})
	eventually(t, func() string {
		for _, c := range []struct {
			side, listener, direction string
			want                      int
		}{
			{"client", outboundName, "to_upstream", len(msg)},
			{"client", outboundName, "to_downstream", len("echo:" + msg)},
			{"server", inboundName, "to_upstream", len(msg)},
			{"server", inboundName, "to_downstream", len("echo:" + msg)},
		} {
			reg := m.clientMetrics
			if c.side == "server" {
				reg = m.srvMetrics
			}
			got := metric(t, reg, "weft_proxy_bytes_total", map[string]string{"listener": c.listener, "direction": c.direction})
			if got != float64(c.want) {
				return fmt.Sprintf("%s side: %v bytes %s, want %d", c.side, got, c.direction, c.want)
			}
			if a := metric(t, reg, "weft_proxy_active_connections", map[string]string{"listener": c.listener}); a != 0 {
				return fmt.Sprintf("%s side: %v active connections after the end, want 0", c.side, a)
			}
		}
		return ""
	})
}

// tlsDial connects to addr with TLS as a client presenting svid (none when
// nil), and writes a request. The handshake error, if any, is ignored: a
// TLS 1.3 server refuses the client certificate after the client's side of
// the handshake is done, so the refusal shows on reading.
func tlsDial(t *testing.T, m *mesh, addr string, svid *x509svid.SVID, maxVersion uint16) net.Conn {
	t.Helper()
	cfg := tlsconfig.TLSClientConfig(m.ca.bundle, tlsconfig.AuthorizeID(spiffeid.RequireFromString(serverID)))
	if svid != nil {
		cfg = tlsconfig.MTLSClientConfig(svid, m.ca.bundle, tlsconfig.AuthorizeID(spiffeid.RequireFromString(serverID)))
	}
	cfg.MaxVersion = maxVersion
	c := tls.Client(dial(t, addr), cfg)
	if err := c.HandshakeContext(t.Context()); err == nil {
		_, _ = c.Write([]byte("hello"))
	}
	return c
}

func TestInboundRefuses(t *testing.T) {
	m := newMesh(t)
	// A second inbound listener that only admits the frontend namespace.
	const narrowName = "inbound|9001"
	listeners := append(m.serverListeners(t), inboundListener(t, narrowName, "127.0.0.1:0", inboundName, "spiffe://cluster.local/ns/frontend/"))
	must(t, m.server.OnListeners(t.Context(), listeners))
	narrow := listenerAddr(t, m.server, narrowName)
	evil := newCA(t, "evil.example")

	tests := []struct {
		name     string
		listener string
		connect  func(t *testing.T) net.Conn
		reason   string
	}{
		{"plaintext", inboundName, func(t *testing.T) net.Conn {
			c := dial(t, m.inbound)
			_, _ = c.Write([]byte("hello, plaintext\r\n"))
			return c
		}, "plaintext"},
		{"certificate from another trust domain", inboundName, func(t *testing.T) net.Conn {
			return tlsDial(t, m, m.inbound, evil.svid(t, "spiffe://evil.example/ns/default/sa/client"), tls.VersionTLS13)
		}, "bad_certificate"},
		{"mesh ID signed by another CA", inboundName, func(t *testing.T) net.Conn {
			return tlsDial(t, m, m.inbound, evil.svid(t, clientID), tls.VersionTLS13)
		}, "bad_certificate"},
		{"SAN matches no matcher", narrowName, func(t *testing.T) net.Conn {
			return tlsDial(t, m, narrow, m.ca.svid(t, clientID), tls.VersionTLS13)
		}, "unauthorized"},
		{"no client certificate", inboundName, func(t *testing.T) net.Conn {
			return tlsDial(t, m, m.inbound, nil, tls.VersionTLS13)
		}, "no_client_certificate"},
		{"TLS 1.2", inboundName, func(t *testing.T) net.Conn {
			return tlsDial(t, m, m.inbound, m.ca.svid(t, clientID), tls.VersionTLS12)
		}, "protocol_version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reasonLabels := map[string]string{"listener": tt.listener, "reason": tt.reason}
			failedLabels := connections(tt.listener, "inbound", "", "tls_handshake_failed")
			before := metric(t, m.srvMetrics, "weft_proxy_tls_handshake_errors_total", reasonLabels)
			beforeFailed := metric(t, m.srvMetrics, "weft_proxy_connections_total", failedLabels)
			refused(t, tt.connect(t))
			eventually(t, func() string {
				if got := metric(t, m.srvMetrics, "weft_proxy_tls_handshake_errors_total", reasonLabels); got != before+1 {
					return fmt.Sprintf("%v handshake errors with reason %q, want %v", got, tt.reason, before+1)
				}
				if got := metric(t, m.srvMetrics, "weft_proxy_connections_total", failedLabels); got != beforeFailed+1 {
					return fmt.Sprintf("%v failed connections, want %v", got, beforeFailed+1)
				}
				return ""
			})
		})
	}
	// The same client with a proper certificate is served.
	if got, err := roundTrip(t, m.outbound, "ok"); err != nil || got != "echo:ok" {
		t.Fatalf("mesh connection after refusals: %q, %v", got, err)
	}
}

func TestOutboundRefusesUnexpectedServer(t *testing.T) {
	m := newMesh(t)
	must(t, m.client.OnClusters(t.Context(), m.clientClusters(t, "spiffe://cluster.local/ns/default/sa/other")))
	got, _ := roundTrip(t, m.outbound, "hello")
	if got != "" {
		t.Fatalf("got %q from a server with an unexpected ID", got)
	}
	eventually(t, func() string {
		if v := metric(t, m.clientMetrics, "weft_proxy_connections_total", connections(outboundName, "outbound", "", "upstream_connect_failed")); v != 1 {
			return fmt.Sprintf("%v upstream_connect_failed connections, want 1", v)
		}
		if v := metric(t, m.clientMetrics, "weft_proxy_tls_handshake_errors_total", map[string]string{"listener": outboundName, "reason": "upstream_unauthorized"}); v != 1 {
			return fmt.Sprintf("%v upstream_unauthorized handshake errors, want 1", v)
		}
		if v := metric(t, m.srvMetrics, "weft_proxy_connections_total", connections(inboundName, "inbound", clientID, "ok")); v != 0 {
			return "the server proxied a connection the client refused"
		}
		return ""
	})
}

// TestNoSessionResumption checks that a client cannot resume a session, so
// that its certificate is verified on every connection.
func TestNoSessionResumption(t *testing.T) {
	m := newMesh(t)
	cfg := tlsconfig.MTLSClientConfig(m.ca.svid(t, clientID), m.ca.bundle, tlsconfig.AuthorizeID(spiffeid.RequireFromString(serverID)))
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	for i := range 2 {
		c := tls.Client(dial(t, m.inbound), cfg)
		if err := c.HandshakeContext(t.Context()); err != nil {
			t.Fatal(err)
		}
		exchange(t, c, "x", "echo:x") // reads the session ticket, if any
		if c.ConnectionState().DidResume {
			t.Fatalf("connection %d resumed a session", i)
		}
		c.Close()
	}
}

// TestHandshakeTimeout connects and sends nothing: the inbound listener
// gives up after the handshake timeout.
func TestHandshakeTimeout(t *testing.T) {
	ca := newCA(t, "cluster.local")
	dp, reg := newDataplane(t, ca, serverID, func(c *dataplane.Config) { c.HandshakeTimeout = 100 * time.Millisecond })
	must(t, dp.OnListeners(t.Context(), []*listenerv3.Listener{inboundListener(t, inboundName, "127.0.0.1:0", inboundName, "spiffe://cluster.local/")}))
	start := time.Now()
	refused(t, dial(t, listenerAddr(t, dp, inboundName)))
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("closed after %v, before the handshake timeout", d)
	}
	eventually(t, func() string {
		if v := metric(t, reg, "weft_proxy_tls_handshake_errors_total", map[string]string{"listener": inboundName, "reason": "timeout"}); v != 1 {
			return fmt.Sprintf("%v timeouts, want 1", v)
		}
		return ""
	})
}
