package httpproxy_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftmesh/weft/proxy/accesslog"
	"github.com/weftmesh/weft/proxy/httpproxy"
)

// namedClusters maps cluster names to plaintext addresses.
type namedClusters map[string]string

func (c namedClusters) Pick(_, cluster string) (httpproxy.Target, string) {
	addr, ok := c[cluster]
	if !ok {
		return httpproxy.Target{}, httpproxy.FlagNoCluster
	}
	return httpproxy.Target{
		Key:     cluster,
		Address: addr,
		Dial: func(ctx context.Context, address string) (net.Conn, string, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", address)
			return conn, "", err
		},
	}, ""
}

// lines is an io.Writer handing each line written to a channel.
type lines chan string

func (l lines) Write(p []byte) (int, error) {
	for s := range strings.SplitSeq(strings.TrimSuffix(string(p), "\n"), "\n") {
		l <- s
	}
	return len(p), nil
}

// serveListener serves l with a Proxy picking from cs and returns its
// address.
func serveListener(t *testing.T, l *httpproxy.Listener, cs httpproxy.Clusters) string {
	t.Helper()
	p := httpproxy.New(httpproxy.Config{Clusters: cs})
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.ServeConn(ctx, l, c, "") })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		cancel()
		wg.Wait()
		p.Close()
	})
	return ln.Addr().String()
}

func TestAccessLog(t *testing.T) {
	app := startApp(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	})
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()

	out := make(lines, 16)
	router := routes{"/ok": {Cluster: "app"}, "/dead": {Cluster: "dead"}}
	l := &httpproxy.Listener{
		Name: "l", Direction: "outbound",
		Router:    func() httpproxy.Router { return router },
		AccessLog: accesslog.New(out),
	}
	addr := serveListener(t, l, namedClusters{"app": app, "dead": dead})

	tests := []struct {
		name   string
		method string
		path   string
		body   string
		header http.Header
		want   accesslog.Entry
	}{
		{"forwarded", http.MethodPost, "/ok/x", "hello", http.Header{"X-Request-Id": {"abc"}}, accesslog.Entry{
			Method: "POST", Path: "/ok/x", Protocol: "HTTP/1.1", ResponseCode: 200, ResponseFlags: "-",
			BytesReceived: 5, BytesSent: 2, UpstreamHost: app, UpstreamCluster: "app", XRequestID: "abc",
		}},
		{"no route", http.MethodGet, "/nothing", "", nil, accesslog.Entry{
			Method: "GET", Path: "/nothing", Protocol: "HTTP/1.1", ResponseCode: 404, ResponseFlags: "NR",
			BytesSent: int64(len("Not Found\n")),
		}},
		{"upstream failure", http.MethodGet, "/dead", "", nil, accesslog.Entry{
			Method: "GET", Path: "/dead", Protocol: "HTTP/1.1", ResponseCode: 503, ResponseFlags: "UF",
			BytesSent: int64(len("upstream connect error\n")), UpstreamHost: dead, UpstreamCluster: "dead",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			status, _, _ := do(t, tt.method, "http://"+addr+tt.path, body, tt.header)
			if status != tt.want.ResponseCode {
				t.Errorf("status %d, want %d", status, tt.want.ResponseCode)
			}
			got := nextEntry(t, out)
			if got.StartTime.IsZero() || got.DurationMillis < 0 {
				t.Errorf("start_time %v, duration_ms %d", got.StartTime, got.DurationMillis)
			}
			got.StartTime, got.DurationMillis = time.Time{}, 0
			if tt.want.XRequestID == "" {
				// A request without x-request-id gets a UUID (tracing.EnsureRequestID).
				if len(got.XRequestID) != 36 {
					t.Errorf("x_request_id %q, want a generated UUID", got.XRequestID)
				}
				got.XRequestID = ""
			}
			if got != tt.want {
				t.Errorf("logged %+v\nwant   %+v", got, tt.want)
			}
		})
	}

	t.Run("refused head", func(t *testing.T) {
		resps, closed := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 1)
		if resps[0] != http.StatusBadRequest || !closed {
			t.Errorf("status %d, closed %v", resps[0], closed)
		}
		if got := nextEntry(t, out); got.ResponseCode != 400 || got.ResponseFlags != "DPE" {
			t.Errorf("logged %+v, want 400 DPE", got)
		}
	})
}

// nextEntry waits for the next access log line and decodes it.
func nextEntry(t *testing.T, out lines) accesslog.Entry {
	t.Helper()
	select {
	case line := <-out:
		var e accesslog.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no access log line")
	}
	return accesslog.Entry{}
}

// TestClientDisconnect checks that a client closing its connection while
// the upstream has not answered cancels the upstream request, and that the
// access log says DC.
func TestClientDisconnect(t *testing.T) {
	entered, canceled := make(chan struct{}), make(chan struct{})
	app := startApp(t, func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
		close(canceled)
	})
	out := make(lines, 4)
	router := routes{"/": {Cluster: "app"}}
	l := &httpproxy.Listener{
		Name: "l", Direction: "outbound",
		Router:    func() httpproxy.Router { return router },
		AccessLog: accesslog.New(out),
	}
	addr := serveListener(t, l, namedClusters{"app": app})
	var d net.Dialer
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, entered, "request reaching the app")
	_ = c.Close()
	waitFor(t, canceled, "upstream request canceled")
	if e := nextEntry(t, out); e.ResponseFlags != httpproxy.FlagDownstreamDisconnect || e.ResponseCode != 0 {
		t.Errorf("logged %d %s, want 0 DC", e.ResponseCode, e.ResponseFlags)
	}
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no " + what)
	}
}
