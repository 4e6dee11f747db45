package httpguard_test

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/weftmesh/weft/proxy/httpguard"
)

func TestNewRequest(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		opts       httpguard.PathOptions
		requestURI string // what an outbound request would send
		host       string
		body       string
		bodyErr    error
	}{
		{name: "origin form normalized", in: "GET /a/../b//%63 HTTP/1.1\r\nHost: h\r\n\r\n", requestURI: "/b/c", host: "h"},
		{name: "query kept", in: "GET /x?a=%2f&b=%zz HTTP/1.1\r\nHost: h\r\n\r\n", requestURI: "/x?a=%2f&b=%zz", host: "h"},
		{name: "sub-delims", in: "GET /a!$&'()*+,;=:@b HTTP/1.1\r\nHost: h\r\n\r\n", requestURI: "/a!$&'()*+,;=:@b", host: "h"},
		{name: "encoded bytes", in: "GET /%7b%c3%a9%20 HTTP/1.1\r\nHost: h\r\n\r\n", requestURI: "/%7B%C3%A9%20", host: "h"},
		{
			name: "kept escaped slash", in: "GET /a%2fb HTTP/1.1\r\nHost: h\r\n\r\n",
			opts: httpguard.PathOptions{EscapedSlashes: httpguard.KeepEscapedSlashes}, requestURI: "/a%2Fb", host: "h",
		},
		{name: "absolute form", in: "GET HTTP://Svc:81 HTTP/1.1\r\nHost: other\r\n\r\n", requestURI: "/", host: "Svc:81"},
		{name: "connect", in: "CONNECT svc:443 HTTP/1.1\r\nHost: svc:443\r\n\r\n", requestURI: "/", host: "svc:443"},
		{name: "asterisk", in: "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", requestURI: "*", host: "h"},
		{name: "fixed body", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcdef", requestURI: "/", host: "h", body: "abc"},
		{name: "short body", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabc", requestURI: "/", host: "h", body: "abc", bodyErr: io.ErrUnexpectedEOF},
		{name: "chunked body", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nNEXT", requestURI: "/", host: "h", body: "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.in))
			head, err := httpguard.ReadRequestHead(br, httpguard.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if err := head.NormalizeTarget(tt.opts); err != nil {
				t.Fatal(err)
			}
			req, err := head.NewRequest(t.Context(), br, httpguard.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got := req.URL.RequestURI(); got != tt.requestURI {
				t.Errorf("URL.RequestURI() = %q, want %q", got, tt.requestURI)
			}
			wantURLHost := ""
			if head.Form == httpguard.AbsoluteForm || head.Form == httpguard.AuthorityForm {
				wantURLHost = tt.host
			}
			if req.URL.Host != wantURLHost {
				t.Errorf("URL.Host = %q, want %q", req.URL.Host, wantURLHost)
			}
			if req.Host != tt.host {
				t.Errorf("Host = %q, want %q", req.Host, tt.host)
			}
			if req.RequestURI != head.Target {
				t.Errorf("RequestURI = %q, want the raw target %q", req.RequestURI, head.Target)
			}
			body, err := io.ReadAll(req.Body)
			if string(body) != tt.body || !errors.Is(err, tt.bodyErr) {
				t.Errorf("body = %q, %v; want %q, %v", body, err, tt.body, tt.bodyErr)
			}
			if req.Context() != t.Context() {
				t.Error("request does not carry the context")
			}
		})
	}
}
