package dataplane_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
)

// TestInboundNegotiatesALPN calls the inbound HTTP listener directly as an
// mTLS client offering one protocol: it is served in that protocol. A
// client offering none, as a sidecar that carries an app's bytes to a pod
// IP does, is served HTTP/2 when it starts with the HTTP/2 preface (an
// app speaking h2c, gRPC), else HTTP/1.
func TestInboundNegotiatesALPN(t *testing.T) {
	m := newHTTPMesh(t, startHTTPApp(t), false)
	for _, tt := range []struct {
		name, alpn string
		h2         bool
		wantProto  string
	}{
		{"http/1.1", "http/1.1", false, "HTTP/1.1"},
		{"h2", "h2", true, "HTTP/2.0"},
		{"no ALPN, HTTP/1.1", "", false, "HTTP/1.1"},
		{"no ALPN, h2 preface", "", true, "HTTP/2.0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tlsconfig.MTLSClientConfig(m.ca.svid(t, clientID), m.ca.bundle, tlsconfig.AuthorizeID(spiffeid.RequireFromString(serverID)))
			if tt.alpn != "" {
				cfg.NextProtos = []string{tt.alpn}
			}
			dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
				var d net.Dialer
				c, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				tc := tls.Client(c, cfg)
				if err := tc.HandshakeContext(ctx); err != nil {
					_ = c.Close()
					return nil, err
				}
				return tc, nil
			}
			tr := &http.Transport{Protocols: new(http.Protocols), DialTLSContext: dial}
			scheme := "https://"
			if tt.alpn == "" {
				// Without ALPN the transport would not speak HTTP/2 over
				// TLS: it dials "plaintext" through the TLS handshake.
				tr = &http.Transport{Protocols: new(http.Protocols), DialContext: dial}
				scheme = "http://"
				tr.Protocols.SetUnencryptedHTTP2(tt.h2)
			}
			tr.Protocols.SetHTTP1(!tt.h2)
			tr.Protocols.SetHTTP2(tt.h2 && tt.alpn != "")
			t.Cleanup(tr.CloseIdleConnections)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, scheme+m.inbound+"/direct", nil)
			must(t, err)
			resp, err := (&http.Client{Transport: tr}).Do(req)
			must(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			must(t, err)
			if resp.Proto != tt.wantProto || string(body) != "HTTP/1.1 GET /direct|" {
				t.Errorf("%s %d %q, want %s and the app's answer over HTTP/1.1", resp.Proto, resp.StatusCode, body, tt.wantProto)
			}
			if v := metric(t, m.srvMetrics, "weft_proxy_http_requests_total", requests(inboundName, "inbound", "2xx", clientID)); v < 1 {
				t.Errorf("no request counted from %s", clientID)
			}
		})
	}
}
