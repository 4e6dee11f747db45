package httpproxy_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/weftmesh/weft/proxy/httpproxy"
)

// routes is a Router answering by path prefix.
type routes map[string]httpproxy.Action

func (rs routes) Route(r *http.Request) (httpproxy.Action, bool) {
	for prefix, a := range rs {
		if strings.HasPrefix(r.URL.Path, prefix) {
			return a, true
		}
	}
	return httpproxy.Action{}, false
}

// clusters knows one cluster, "app", at one plaintext address.
type clusters struct {
	addr  string
	http2 bool
}

func (c clusters) Pick(_, cluster string) (httpproxy.Target, string) {
	if cluster != "app" {
		return httpproxy.Target{}, httpproxy.FlagNoCluster
	}
	return httpproxy.Target{
		Key:     c,
		Address: c.addr,
		HTTP2:   c.http2,
		Dial: func(ctx context.Context, address string) (net.Conn, string, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", address)
			return conn, "", err
		},
	}, ""
}

// startApp serves h on loopback, HTTP/1.1 and h2c.
func startApp(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) })
	t.Cleanup(func() {
		_ = srv.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// startProxy serves a listener with router in front of the app at appAddr
// and returns its address and metrics.
func startProxy(t *testing.T, router httpproxy.Router, appAddr string) (string, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	p := httpproxy.New(httpproxy.Config{Clusters: clusters{addr: appAddr}, Registerer: reg})
	l := &httpproxy.Listener{Name: "l", Direction: "outbound", Router: func() httpproxy.Router { return router }}
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
	return ln.Addr().String(), reg
}

func do(t *testing.T, method, url string, body io.Reader, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vv := range header {
		req.Header[k] = vv
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestLocalAnswers(t *testing.T) {
	app := startApp(t, func(w http.ResponseWriter, r *http.Request) {
		select { // hold until the proxy gives up
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	addr, reg := startProxy(t, routes{
		"/redirect": {Status: http.StatusFound, Header: http.Header{"Location": {"https://example.com/x"}}},
		"/direct":   {Status: http.StatusTeapot, Body: []byte("short and stout"), ResponseHeaders: func(h http.Header) { h.Set("X-Added", "1") }},
		"/nowhere":  {Cluster: "missing"},
		"/slow":     {Cluster: "app", Timeout: 50 * time.Millisecond},
	}, app)
	tests := []struct {
		path, flag, body string
		status           int
	}{
		{"/redirect", "", "", http.StatusFound},
		{"/direct", "", "short and stout", http.StatusTeapot},
		{"/none", "NR", "Not Found\n", http.StatusNotFound},
		{"/nowhere", "NC", "no healthy upstream\n", http.StatusServiceUnavailable},
		{"/slow", "UT", "upstream request timeout\n", http.StatusGatewayTimeout},
		{"/a/%2F/b", "", "invalid path\n", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, h, body := do(t, http.MethodGet, "http://"+addr+tt.path, nil, nil)
			if status != tt.status || body != tt.body || h.Get("X-Weft-Response-Flags") != tt.flag {
				t.Errorf("%d %q flags %q, want %d %q flags %q", status, body, h.Get("X-Weft-Response-Flags"), tt.status, tt.body, tt.flag)
			}
			switch tt.path {
			case "/redirect":
				if l := h.Get("Location"); l != "https://example.com/x" {
					t.Errorf("Location %q", l)
				}
			case "/direct":
				if h.Get("X-Added") != "1" {
					t.Error("response header mutation not applied to the direct response")
				}
			}
		})
	}
	status, h, _ := do(t, http.MethodConnect, "http://"+addr, nil, nil) // authority-form target
	if status != http.StatusNotFound || h.Get("X-Weft-Response-Flags") != "NR" {
		t.Errorf("CONNECT: %d flags %q, want 404 NR", status, h.Get("X-Weft-Response-Flags"))
	}
	if v := counter(t, reg, "4xx"); v != 4 {
		t.Errorf("%v 4xx requests counted, want 4", v)
	}
}

func TestHopByHopFieldsAndRewrite(t *testing.T) {
	app := startApp(t, func(w http.ResponseWriter, r *http.Request) {
		var seen []string
		for _, k := range []string{"Connection", "X-Down", "Keep-Alive", "Upgrade", "Te"} {
			if v, ok := r.Header[k]; ok {
				seen = append(seen, k+"="+strings.Join(v, ";"))
			}
		}
		w.Header().Set("Connection", "X-Up")
		w.Header().Set("X-Up", "1")
		w.Header().Set("Keep-Alive", "timeout=1")
		_, _ = io.WriteString(w, r.Host+" "+r.URL.RequestURI()+" "+r.Header.Get("X-Route")+" "+strings.Join(seen, ","))
	})
	addr, _ := startProxy(t, routes{"/": {Cluster: "app", Rewrite: func(out *http.Request) {
		out.Header.Set("X-Route", "set")
		out.Header.Set("Connection", "X-Down") // added by a route: still removed
		out.Host = "rewritten"
		out.URL.Path = "/new" + out.URL.Path
	}}}, app)
	status, h, body := do(t, http.MethodGet, "http://"+addr+"/p/./q/../r?x=1", nil, http.Header{
		"X-Down": {"secret"}, "Te": {"trailers"}, "Upgrade": {"h2c"},
	})
	if want := "rewritten /new/p/r?x=1 set Te=trailers"; status != http.StatusOK || body != want {
		t.Errorf("%d %q, want 200 %q", status, body, want)
	}
	for _, k := range []string{"X-Up", "Keep-Alive"} {
		if _, ok := h[k]; ok {
			t.Errorf("response carries connection-specific field %s", k)
		}
	}
}

func TestConflictingContentLength(t *testing.T) {
	app := startApp(t, func(w http.ResponseWriter, r *http.Request) { t.Error("request reached the app") })
	addr, _ := startProxy(t, routes{"/": {Cluster: "app"}}, app)
	var d net.Dialer
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", resp.StatusCode)
	}
}

func TestUpstreamFailure(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	addr, _ := startProxy(t, routes{"/": {Cluster: "app"}}, dead)
	status, h, _ := do(t, http.MethodGet, "http://"+addr+"/", nil, nil)
	if status != http.StatusServiceUnavailable || h.Get("X-Weft-Response-Flags") != "UF" {
		t.Errorf("%d flags %q, want 503 UF", status, h.Get("X-Weft-Response-Flags"))
	}
}

func counter(t *testing.T, reg *prometheus.Registry, class string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "weft_proxy_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label(m, "code_class") == class {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestHTTP2FieldsCrossingIntoHTTP1 sends over h2c a field value that HTTP/2
// carries but an HTTP/1 line must not: refused before the HTTP/1 upstream.
func TestHTTP2FieldsCrossingIntoHTTP1(t *testing.T) {
	app := startApp(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "reached") })
	addr, _ := startProxy(t, routes{"/": {Cluster: "app"}}, app)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	for _, tt := range []struct {
		value  string
		status int
	}{
		{"fine", http.StatusOK},
		{" padded", http.StatusBadRequest},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header["X-Value"] = []string{tt.value}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("value %q: status %d, want %d", tt.value, resp.StatusCode, tt.status)
		}
	}
}
