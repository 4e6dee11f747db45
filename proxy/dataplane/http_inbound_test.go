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
// mTLS client offering one protocol: it is served in that protocol.
func TestInboundNegotiatesALPN(t *testing.T) {
	m := newHTTPMesh(t, startHTTPApp(t), false)
	for _, tt := range []struct {
		alpn, wantProto string
	}{
		{"http/1.1", "HTTP/1.1"},
		{"h2", "HTTP/2.0"},
	} {
		t.Run(tt.alpn, func(t *testing.T) {
			cfg := tlsconfig.MTLSClientConfig(m.ca.svid(t, clientID), m.ca.bundle, tlsconfig.AuthorizeID(spiffeid.RequireFromString(serverID)))
			cfg.NextProtos = []string{tt.alpn}
			tr := &http.Transport{
				Protocols: new(http.Protocols),
				DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
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
				},
			}
			tr.Protocols.SetHTTP1(tt.alpn == "http/1.1")
			tr.Protocols.SetHTTP2(tt.alpn == "h2")
			t.Cleanup(tr.CloseIdleConnections)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+m.inbound+"/direct", nil)
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
