package httpguard_test

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/weftmesh/weft/proxy/httpguard"
)

// hostileHeads maps request heads to the status ReadRequestHead must answer
// with (0: accepted). Each line of a case is joined with CRLF unless the
// case spells its line endings itself.
var hostileHeads = []struct {
	name   string
	in     string
	status int
}{
	// Accepted.
	{"minimal", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"http/1.0 without host", "GET / HTTP/1.0\r\n\r\n", 0},
	{"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", 0},
	{"repeated equal content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 0},
	{"content-length list equal", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 0},
	{"chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0},
	{"chunked upper case", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n", 0},
	{"ows around value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: \t v \t\r\n\r\n", 0},
	{"empty value", "GET / HTTP/1.1\r\nHost: a\r\nX-A:\r\n\r\n", 0},
	{"obs-text value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xc3\xa9\r\n\r\n", 0},
	{"absolute form", "GET http://b.example:8080/x?y HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"absolute form no path", "GET https://b.example HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"connect", "CONNECT b.example:443 HTTP/1.1\r\nHost: b.example:443\r\n\r\n", 0},
	{"options asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"extension method", "PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"ipv6 host", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", 0},

	// Request line.
	{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
	{"http/2 version", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
	{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
	{"http/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
	{"http/0.9 style", "GET /\r\n\r\n", 400},
	{"long version", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400},
	{"double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
	{"tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"leading space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"invalid method", "G(ET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"empty method", " / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"non-ascii target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"NUL in target", "GET /a\x00 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"fragment in target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"asterisk with get", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"ftp target", "GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"userinfo target", "GET http://u:p@a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"empty authority", "GET http:///b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"connect without port", "CONNECT b.example HTTP/1.1\r\nHost: b\r\n\r\n", 400},
	{"connect with path", "CONNECT b.example:443/x HTTP/1.1\r\nHost: b\r\n\r\n", 400},
	{"bare LF request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
	{"bare CR request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400},
	{"too many empty lines", strings.Repeat("\r\n", 10) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"request line too long", "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},

	// Field syntax.
	{"bare LF header", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400},
	{"bare LF end", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
	{"CR inside value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
	{"NUL inside value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400},
	{"VT inside value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x0bb\r\n\r\n", 400},
	{"DEL inside value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400},
	{"obs-fold tab", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400},
	{"whitespace before first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},
	{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
	{"tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400},
	{"space before colon smuggle", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\n", 400},
	{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n", 400},
	{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400},
	{"invalid name char", "GET / HTTP/1.1\r\nHost: a\r\nX(y): v\r\n\r\n", 400},
	{"name with slash", "GET / HTTP/1.1\r\nHost: a\r\nX/Y: v\r\n\r\n", 400},
	{"vertical tab in name", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\x0b: chunked\r\n\r\n", 400},
	{"non-ascii name", "GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: v\r\n\r\n", 400},

	// Host.
	{"missing host", "GET / HTTP/1.1\r\n\r\n", 400},
	{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
	{"empty host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400},
	{"host with path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
	{"host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
	{"host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},

	// Framing (request smuggling).
	{"cl and te", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
	{"te and cl", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
	{"differing content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400},
	{"differing content-length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n", 400},
	{"content-length empty element", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3,\r\n\r\n", 400},
	{"content-length empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400},
	{"content-length sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", 400},
	{"content-length negative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
	{"content-length hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400},
	{"content-length inner space", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n", 400},
	{"content-length overflow", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", 400},
	{"content-length huge", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
	{"te gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
	{"te chunked then gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
	{"te gzip then chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
	{"te split gzip then chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
	{"te chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
	{"te chunked twice lines", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
	{"te identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400},
	{"te empty", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400},
	{"te misspelt", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunk\r\n\r\n", 400},
	{"te with parameter", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", 400},
	{"te quoted", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400},
	{"te leading comma", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n", 400},
	{"te in http/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
	{"te non-ascii lookalike", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\xc2\xa0\r\n\r\n", 400},
	{"connection malformed", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close,,x\r\n\r\n", 400},

	// Sizes.
	{"too many fields", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", 100) + "\r\n", 431},
	{"header section too large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("y", 61<<10) + "\r\n\r\n", 431},
}

func TestReadRequestHeadHostile(t *testing.T) {
	for _, tt := range hostileHeads {
		t.Run(tt.name, func(t *testing.T) {
			h, err := httpguard.ReadRequestHead(bufio.NewReader(strings.NewReader(tt.in)), httpguard.Limits{})
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("ReadRequestHead: %v", err)
				}
				return
			}
			he, ok := httpguard.AsHeadError(err)
			if !ok {
				t.Fatalf("ReadRequestHead = %+v, %v; want a %d HeadError", h, err, tt.status)
			}
			if he.Status != tt.status || he.Reason == "" {
				t.Fatalf("ReadRequestHead error = %v; want status %d", he, tt.status)
			}
		})
	}
}

func TestReadRequestHeadFields(t *testing.T) {
	in := "POST http://svc.ns:8080/a/%2e%2e/b?q HTTP/1.1\r\n" +
		"Host: ignored.example\r\n" +
		"x-multi: 1\r\n" +
		"X-Multi:  2 \r\n" +
		"Content-Length: 0004, 4\r\n" +
		"Connection: keep-alive, close\r\n" +
		"\r\n" +
		"bodyNEXT"
	r := bufio.NewReader(strings.NewReader(in))
	h, err := httpguard.ReadRequestHead(r, httpguard.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"method", h.Method, "POST"},
		{"form", h.Form, httpguard.AbsoluteForm},
		{"scheme", h.Scheme, "http"},
		{"host", h.Host, "svc.ns:8080"},
		{"path", h.Path, "/a/%2e%2e/b?q"},
		{"proto", h.Proto, "HTTP/1.1"},
		{"multi", strings.Join(h.Header.Values("X-Multi"), "|"), "1|2"},
		{"host removed", h.Header.Get("Host"), ""},
		{"content-length", h.ContentLength, int64(4)},
		{"content-length header", strings.Join(h.Header.Values("Content-Length"), "|"), "4"},
		{"close", h.Close, true},
		{"chunked", h.Chunked, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != "bodyNEXT" {
		t.Fatalf("reader left at %q, %v; want the body", rest, err)
	}
}

func TestReadRequestHeadConnection(t *testing.T) {
	tests := []struct {
		in    string
		close bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n", true},
		{"GET / HTTP/1.0\r\n\r\n", true},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false},
	}
	for _, tt := range tests {
		h, err := httpguard.ReadRequestHead(bufio.NewReader(strings.NewReader(tt.in)), httpguard.Limits{})
		if err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		if h.Close != tt.close {
			t.Errorf("%q: Close = %v, want %v", tt.in, h.Close, tt.close)
		}
	}
}

func TestReadRequestHeadLimits(t *testing.T) {
	lim := httpguard.Limits{MaxRequestLineBytes: 32, MaxHeaderCount: 3, MaxHeaderBytes: 64}
	tests := []struct {
		name   string
		in     string
		status int
	}{
		{"line at limit", "GET /" + strings.Repeat("a", 16) + " HTTP/1.1\r\nHost: a\r\n\r\n", 0},
		{"line over limit", "GET /" + strings.Repeat("a", 17) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"count at limit", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", 0},
		{"count over limit", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431},
		// 9 (Host) + 53 (X) + 2 (end) = 64 bytes.
		{"bytes at limit", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("x", 48) + "\r\n\r\n", 0},
		{"bytes over limit", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("x", 49) + "\r\n\r\n", 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := httpguard.ReadRequestHead(bufio.NewReader(strings.NewReader(tt.in)), lim)
			he, _ := httpguard.AsHeadError(err)
			switch {
			case tt.status == 0 && err != nil:
				t.Fatalf("ReadRequestHead: %v", err)
			case tt.status != 0 && (he == nil || he.Status != tt.status):
				t.Fatalf("ReadRequestHead error = %v; want status %d", err, tt.status)
			}
		})
	}
}

func TestReadRequestHeadEOF(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", io.EOF},
		{"GET / HT", io.ErrUnexpectedEOF},
		{"GET / HTTP/1.1\r\nHost: a\r\n", io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		_, err := httpguard.ReadRequestHead(bufio.NewReader(strings.NewReader(tt.in)), httpguard.Limits{})
		if !errors.Is(err, tt.want) {
			t.Errorf("%q: err = %v, want %v", tt.in, err, tt.want)
		}
	}
}

func TestHeadErrorWriteResponse(t *testing.T) {
	var b strings.Builder
	he := &httpguard.HeadError{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: "x"}
	if err := he.WriteResponse(&b); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(b.String())), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 431 || !resp.Close || resp.ContentLength != 0 {
		t.Fatalf("response = %d close=%v length=%d", resp.StatusCode, resp.Close, resp.ContentLength)
	}
}

func TestLimitsValidate(t *testing.T) {
	if err := (httpguard.Limits{}).Validate(); err != nil {
		t.Fatalf("zero limits: %v", err)
	}
	err := httpguard.Limits{MaxHeaderCount: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "maxHeaderCount") {
		t.Fatalf("negative count: %v", err)
	}
}
