package httpguard_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/weftmesh/weft/proxy/httpguard"
)

// guardProxy is a minimal HTTP/1.1 forward path built the way the mesh
// proxy uses this package: read the head, normalize once, route, strip
// hop-by-hop fields, forward with an http.Transport.
type guardProxy struct {
	ln        net.Listener
	upstream  *url.URL
	transport *http.Transport
	wg        sync.WaitGroup
}

func startGuardProxy(t *testing.T, upstream string) *guardProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := &guardProxy{ln: ln, upstream: u, transport: &http.Transport{}}
	p.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.serveConn(t.Context(), conn) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
		p.transport.CloseIdleConnections()
	})
	return p
}

func (p *guardProxy) serveConn(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	for {
		keep, err := p.serveOne(ctx, br, conn)
		if he, ok := httpguard.AsHeadError(err); ok {
			_ = he.WriteResponse(conn)
			return
		}
		if err != nil || !keep {
			return
		}
	}
}

func (p *guardProxy) serveOne(ctx context.Context, br *bufio.Reader, conn net.Conn) (bool, error) {
	head, err := httpguard.ReadRequestHead(br, httpguard.Limits{})
	if err != nil {
		return false, err
	}
	if err := head.NormalizeTarget(httpguard.PathOptions{}); err != nil {
		return false, err
	}
	req, err := head.NewRequest(ctx, br, httpguard.Limits{})
	if err != nil {
		return false, err
	}
	// Routing and authorization would look at req here, before stripping.
	out := req.Clone(ctx)
	out.RequestURI = ""
	out.Close = false // the client's wish, not the upstream connection's
	out.URL.Scheme, out.URL.Host = p.upstream.Scheme, p.upstream.Host
	httpguard.StripHopByHop(out.Header)
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		return false, fmt.Errorf("forward: %w", err)
	}
	defer resp.Body.Close()
	httpguard.StripHopByHop(resp.Header)
	resp.Close = head.Close
	if err := resp.Write(conn); err != nil {
		return false, fmt.Errorf("write response: %w", err)
	}
	// The body was consumed by the transport; anything left means the
	// upstream did not read it all, and the connection cannot continue.
	if _, err := req.Body.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("request body not consumed: %w", err)
	}
	return !head.Close, nil
}

type seenRequest struct {
	method, uri, host, body string
	header                  http.Header
}

func startUpstream(t *testing.T) (*httptest.Server, func() []seenRequest) {
	t.Helper()
	var mu sync.Mutex
	var seen []seenRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			// A body cut short by the proxy is not a request that
			// reached the upstream: it can never complete.
			http.Error(w, "body", http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen = append(seen, seenRequest{r.Method, r.RequestURI, r.Host, string(body), r.Header.Clone()})
		mu.Unlock()
		w.Header().Set("Keep-Alive", "timeout=1")
		w.Header().Set("Proxy-Connection", "keep-alive")
		fmt.Fprintf(w, "%s %s", r.Method, r.RequestURI)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []seenRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]seenRequest(nil), seen...)
	}
}

// reply is what the client saw of one response.
type reply struct {
	status int
	header http.Header
}

// exchange writes raw to a new connection to addr and reads every response
// until the proxy closes the connection.
func exchange(t *testing.T, addr, raw string) []reply {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var replies []reply
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return replies
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		replies = append(replies, reply{resp.StatusCode, resp.Header})
	}
}

func TestProxyEndToEnd(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		statuses []int
		seen     []seenRequest
	}{
		{
			name: "chunked body, normalized path, hop-by-hop stripped",
			raw: "POST /a/./x/../%62//c?q=%2F HTTP/1.1\r\nHost: svc.ns\r\nTransfer-Encoding: chunked\r\n" +
				"Connection: X-Secret, TE\r\nX-Secret: s\r\nKeep-Alive: 5\r\nTE: trailers\r\nX-Keep: k\r\n\r\n" +
				"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n" +
				"GET /second HTTP/1.1\r\nHost: svc.ns\r\nConnection: close\r\n\r\n",
			statuses: []int{200, 200},
			seen: []seenRequest{
				{method: "POST", uri: "/a/b/c?q=%2F", host: "svc.ns", body: "abcde"},
				{method: "GET", uri: "/second", host: "svc.ns"},
			},
		},
		{
			name: "CL.TE smuggling refused before anything goes upstream",
			raw: "POST / HTTP/1.1\r\nHost: svc.ns\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"0\r\n\r\nGET /admin HTTP/1.1\r\nHost: svc.ns\r\n\r\n",
			statuses: []int{400},
		},
		{
			name: "space before colon refused",
			raw: "POST / HTTP/1.1\r\nHost: svc.ns\r\nContent-Length : 40\r\n\r\n" +
				"GET /admin HTTP/1.1\r\nHost: svc.ns\r\n\r\n",
			statuses: []int{400},
		},
		{
			name: "malformed chunk size refused",
			raw: "POST / HTTP/1.1\r\nHost: svc.ns\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"-1\r\nGET /admin HTTP/1.1\r\nHost: svc.ns\r\n\r\n",
			statuses: []int{400},
		},
		{
			name:     "escaped slash refused",
			raw:      "GET /admin%2Fsecret HTTP/1.1\r\nHost: svc.ns\r\n\r\n",
			statuses: []int{400},
		},
		{
			name: "pipelined content-length body ends at its length",
			raw: "POST /one HTTP/1.1\r\nHost: svc.ns\r\nContent-Length: 3\r\n\r\nxyz" +
				"GET /two HTTP/1.1\r\nHost: svc.ns\r\nConnection: close\r\n\r\n",
			statuses: []int{200, 200},
			seen: []seenRequest{
				{method: "POST", uri: "/one", host: "svc.ns", body: "xyz"},
				{method: "GET", uri: "/two", host: "svc.ns"},
			},
		},
		{
			name:     "too many headers",
			raw:      "GET / HTTP/1.1\r\nHost: svc.ns\r\n" + strings.Repeat("X: y\r\n", 101) + "\r\n",
			statuses: []int{431},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			upstream, seen := startUpstream(t)
			p := startGuardProxy(t, upstream.URL)
			var statuses []int
			for _, r := range exchange(t, p.ln.Addr().String(), tt.raw) {
				statuses = append(statuses, r.status)
				if r.header.Get("Keep-Alive") != "" || r.header.Get("Proxy-Connection") != "" {
					t.Errorf("response kept hop-by-hop fields: %v", r.header)
				}
			}
			if fmt.Sprint(statuses) != fmt.Sprint(tt.statuses) {
				t.Fatalf("statuses = %v, want %v", statuses, tt.statuses)
			}
			got := seen()
			if len(got) != len(tt.seen) {
				t.Fatalf("upstream saw %d requests, want %d: %+v", len(got), len(tt.seen), got)
			}
			for i, want := range tt.seen {
				g := got[i]
				if g.method != want.method || g.uri != want.uri || g.host != want.host || g.body != want.body {
					t.Errorf("request %d = %s %s host=%s body=%q; want %s %s host=%s body=%q",
						i, g.method, g.uri, g.host, g.body, want.method, want.uri, want.host, want.body)
				}
				for _, name := range []string{"X-Secret", "Keep-Alive", "Connection", "Transfer-Encoding"} {
					if v := g.header.Get(name); v != "" {
						t.Errorf("request %d: upstream saw %s: %q", i, name, v)
					}
				}
			}
			if len(got) > 0 && got[0].header.Get("X-Keep") != "k" && strings.Contains(tt.raw, "X-Keep") {
				t.Errorf("end-to-end field lost: %v", got[0].header)
			}
			if len(got) > 0 && strings.Contains(tt.raw, "TE: trailers") && got[0].header.Get("Te") != "trailers" {
				t.Errorf("TE: trailers lost: %v", got[0].header)
			}
		})
	}
}
