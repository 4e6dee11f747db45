package httpproxy_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/weftmesh/weft/proxy/httpproxy"
)

// recordingApp is an upstream app that records the requests it received
// whole: head and complete body.
type recordingApp struct {
	mu    sync.Mutex
	paths []string
}

func (a *recordingApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // an incomplete request did not reach the app
	}
	if r.URL.Path == "/ping" {
		return // rawExchange's probe
	}
	a.mu.Lock()
	a.paths = append(a.paths, r.URL.RequestURI()+" "+string(body))
	a.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

func (a *recordingApp) received() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.paths...)
}

// rawExchange sends raw on a new connection to addr and returns the
// status codes of the responses read, in order, and whether the proxy
// closed the connection afterwards.
func rawExchange(t *testing.T, addr, raw string, responses int) ([]int, bool) {
	t.Helper()
	var d net.Dialer
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var out []int
	for range responses {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", len(out)+1, err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, resp.StatusCode)
	}
	// An open connection answers one more request; a closed one reads EOF
	// (or a reset).
	if _, err := io.WriteString(c, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return out, true
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("connection neither closed nor answering")
		}
		return out, true
	}
	_ = resp.Body.Close()
	return out, false
}

func TestHostileHTTP1Requests(t *testing.T) {
	app := &recordingApp{}
	addr, _ := startProxy(t, routes{"/": {Cluster: "app"}}, startApp(t, app.ServeHTTP))
	const host = "Host: x\r\n"
	tests := []struct {
		name   string
		raw    string
		status int
		closed bool
		// got is what the app received: path and body of each request.
		got []string
	}{
		{"valid request", "GET /a HTTP/1.1\r\n" + host + "\r\n", 200, false, []string{"/a "}},
		{"CL.TE smuggling", "POST / HTTP/1.1\r\n" + host + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
			400, true, nil},
		{"TE.CL smuggling", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
			400, true, nil},
		{"differing Content-Lengths", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
			400, true, nil},
		{"Content-Length list", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3, 4\r\n\r\nabcd", 400, true, nil},
		{"obfuscated Transfer-Encoding", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
			400, true, nil},
		{"unknown transfer coding", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
			501, true, nil},
		{"bad chunk size", "POST /c HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
			400, true, nil},
		{"bare LF", "GET / HTTP/1.1\n" + "Host: x\n\n", 400, true, nil},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, true, nil},
		{"obs-fold", "GET / HTTP/1.1\r\n" + host + "X-A: a\r\n b\r\n\r\n", 400, true, nil},
		{"NUL in a value", "GET / HTTP/1.1\r\n" + host + "X-A: a\x00b\r\n\r\n", 400, true, nil},
		{"two Host fields", "GET / HTTP/1.1\r\n" + host + "Host: y\r\n\r\n", 400, true, nil},
		{"oversized headers", "GET / HTTP/1.1\r\n" + host + "X-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", 431, true, nil},
		{"too many headers", "GET / HTTP/1.1\r\n" + host + strings.Repeat("X-A: a\r\n", 101) + "\r\n", 431, true, nil},
		{"long URI", "GET /" + strings.Repeat("a", 9<<10) + " HTTP/1.1\r\n" + host + "\r\n", 414, true, nil},
		{"HTTP/2 version on HTTP/1", "GET / HTTP/2.0\r\n" + host + "\r\n", 505, true, nil},
		{"encoded slash", "GET /a%2Fb HTTP/1.1\r\n" + host + "\r\n", 400, false, nil},
		{"dot segments", "GET /a/../b/./c//d HTTP/1.1\r\n" + host + "\r\n", 200, false, []string{"/b/c/d "}},
		{"Connection close", "GET /z HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n", 200, true, []string{"/z "}},
		{"HTTP/1.0", "GET /old HTTP/1.0\r\n\r\n", 200, true, []string{"/old "}},
		{"chunked body", "POST /p HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
			200, false, []string{"/p abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(app.received())
			resps, closed := rawExchange(t, addr, tt.raw, 1)
			if got := resps[0]; got != tt.status {
				t.Errorf("status %d, want %d", got, tt.status)
			}
			if closed != tt.closed {
				t.Errorf("connection closed: %v, want %v", closed, tt.closed)
			}
			got := app.received()[before:]
			if strings.Join(got, "|") != strings.Join(tt.got, "|") {
				t.Errorf("app received %q, want %q", got, tt.got)
			}
		})
	}
}

func TestHTTP1PipeliningAndKeepAlive(t *testing.T) {
	app := &recordingApp{}
	addr, _ := startProxy(t, routes{"/": {Cluster: "app"}}, startApp(t, app.ServeHTTP))
	raw := "POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi" +
		"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
	resps, closed := rawExchange(t, addr, raw, 3)
	for i, status := range resps {
		if status != http.StatusOK {
			t.Errorf("response %d: status %d", i+1, status)
		}
	}
	if closed {
		t.Error("keep-alive connection closed")
	}
	if got, want := strings.Join(app.received(), "|"), "/1 hi|/2 |/3 x"; got != want {
		t.Errorf("app received %q, want %q", got, want)
	}
}

func TestHTTP1ExpectContinue(t *testing.T) {
	app := &recordingApp{}
	addr, _ := startProxy(t, routes{"/": {Cluster: "app"}}, startApp(t, app.ServeHTTP))
	var d net.Dialer
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "PUT /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q, %v; want 100 Continue", line, err)
	}
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "body"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Join(app.received(), "|") != "/e body" {
		t.Errorf("status %d, app received %q", resp.StatusCode, app.received())
	}
}

// TestHTTP2FieldWithCRLF sends, over h2c, a header field value holding CR
// and LF, which HPACK carries but would split an HTTP/1 line: the stream
// is refused and nothing reaches the HTTP/1 app.
func TestHTTP2FieldWithCRLF(t *testing.T) {
	app := &recordingApp{}
	addr, _ := startProxy(t, routes{"/": {Cluster: "app"}}, startApp(t, app.ServeHTTP))
	var d net.Dialer
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	send := func(stream uint32, value string) {
		var buf bytes.Buffer
		enc := hpack.NewEncoder(&buf)
		for _, f := range []hpack.HeaderField{
			{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
			{Name: ":authority", Value: "x"}, {Name: ":path", Value: "/h2"},
			{Name: "x-evil", Value: value},
		} {
			if err := enc.WriteField(f); err != nil {
				t.Fatal(err)
			}
		}
		err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: buf.Bytes(), EndStream: true, EndHeaders: true})
		if err != nil {
			t.Fatal(err)
		}
	}
	send(1, "a\r\nInjected: 1")
	send(3, "fine")
	// Stream 1 must be reset or answered 400; stream 3 answered 200.
	results := map[uint32]string{}
	dec := hpack.NewDecoder(4096, nil)
	for len(results) < 2 {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("read frame: %v (results %v)", err, results)
		}
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			results[f.StreamID] = "reset"
		case *http2.HeadersFrame:
			fields, err := dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				t.Fatal(err)
			}
			for _, hf := range fields {
				if hf.Name == ":status" {
					results[f.StreamID] = hf.Value
				}
			}
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if r := results[1]; r != "reset" && r != "400" {
		t.Errorf("stream with CR LF: %s, want reset or 400", r)
	}
	if results[3] != "200" {
		t.Errorf("valid stream: %s, want 200", results[3])
	}
	if got := strings.Join(app.received(), "|"); got != "/h2 " {
		t.Errorf("app received %q, want only the valid request", got)
	}
}

// TestShutdownClosesIdleHTTP1 checks that Shutdown ends an idle keep-alive
// connection and returns once it is closed.
func TestShutdownClosesIdleHTTP1(t *testing.T) {
	app := &recordingApp{}
	appAddr := startApp(t, app.ServeHTTP)
	p := httpproxy.New(httpproxy.Config{Clusters: clusters{addr: appAddr}})
	defer p.Close()
	router := routes{"/": {Cluster: "app"}}
	l := &httpproxy.Listener{Name: "l", Direction: "outbound", Router: func() httpproxy.Router { return router }}
	client, server := net.Pipe()
	defer client.Close()
	var wg sync.WaitGroup
	wg.Go(func() { p.ServeConn(t.Context(), l, server, "") })
	go func() { _, _ = io.WriteString(client, "GET /k HTTP/1.1\r\nHost: x\r\n\r\n") }()
	br := bufio.NewReader(client)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	wg.Wait()
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection still open after Shutdown: %v", err)
	}
}
