package dataplane_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// startHoldingApp serves HTTP/1.1 and h2c; each request is held until its
// body ends, after its arrival has been announced on arrived.
func startHoldingApp(t *testing.T, arrived chan<- string) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			arrived <- r.URL.Path
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return
			}
			_, _ = w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("app: %v", err)
		}
	})
	t.Cleanup(func() {
		_ = srv.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// TestConcurrentRequestsShareOneUpstreamConnection holds several requests
// in flight at once from separate HTTP/1.1 connections: the proxies carry
// them as streams of one HTTP/2 connection.
func TestConcurrentRequestsShareOneUpstreamConnection(t *testing.T) {
	const n = 4
	arrived := make(chan string, n)
	m := newHTTPMesh(t, startHoldingApp(t, arrived), false)

	writers := make([]*io.PipeWriter, n)
	results := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		pr, pw := io.Pipe()
		writers[i] = pw
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+m.outbound+"/hold/"+itoa(i), pr)
		must(t, err)
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		wg.Go(func() {
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				results <- err.Error()
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				results <- err.Error()
				return
			}
			results <- string(b)
		})
	}
	for range n {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("requests did not all reach the app")
		}
	}
	// All n requests are at the app now, none finished.
	if v := metric(t, m.srvMetrics, "weft_proxy_connections_total", connections(inboundName, "inbound", clientID, "ok")); v != 1 {
		t.Errorf("server proxy accepted %v connections for %d concurrent requests, want 1", v, n)
	}
	for i, w := range writers {
		_, _ = io.WriteString(w, "body "+itoa(i))
		_ = w.Close()
	}
	wg.Wait()
	close(results)
	var got []string
	for r := range results {
		got = append(got, r)
	}
	if strings.Join(got, ",") == "" || len(got) != n {
		t.Fatalf("results %v", got)
	}
	for _, r := range got {
		if !strings.HasPrefix(r, "body ") {
			t.Errorf("result %q, want a body echoed", r)
		}
	}
}

// TestRouteUpdateKeepsConnection changes the routes of an established
// keep-alive connection: the connection stays and its next request follows
// the new routes. A listener change then drains it, as Envoy drains a
// changed listener: an idle connection is closed, one in use after its
// response (with Connection: close), and the client's requests go on, on
// a new connection.
func TestRouteUpdateKeepsConnection(t *testing.T) {
	m := newHTTPMesh(t, startHTTPApp(t), false)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	// get returns the status and whether the response closed the connection.
	type result struct {
		StatusCode int
		Close      bool
	}
	get := func(path string) result {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+m.outbound+path, nil)
		must(t, err)
		resp, err := client.Do(req)
		must(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return result{resp.StatusCode, resp.Close}
	}
	accepted := func() float64 {
		return metric(t, m.clientMetrics, "weft_proxy_connections_total", connections(outboundName, "outbound", "", "ok"))
	}
	if r := get("/a"); r.StatusCode != http.StatusOK {
		t.Fatalf("first request: %d", r.StatusCode)
	}
	rc := routeTo(outboundName, outboundVhost, outboundCluster)
	rc.VirtualHosts[0].Routes[0].Match.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: "/b"}
	must(t, m.client.OnRoutes(t.Context(), []*routev3.RouteConfiguration{rc}))
	if r := get("/a"); r.StatusCode != http.StatusNotFound {
		t.Errorf("after the route update, /a: %d, want 404", r.StatusCode)
	}
	if r := get("/b"); r.StatusCode != http.StatusOK || r.Close {
		t.Errorf("after the route update, /b: %d (close %v), want 200 on a kept connection", r.StatusCode, r.Close)
	}
	if v := accepted(); v != 1 {
		t.Errorf("client proxy accepted %v connections, want 1: a route update must keep the connection", v)
	}

	// Same listener, same address, one more field: the socket stays, the
	// connection is drained.
	l := httpOutboundListener(t, outboundName, "127.0.0.1:0")
	l.StatPrefix = "changed"
	must(t, m.client.OnListeners(t.Context(), []*listenerv3.Listener{l}))
	// The idle connection is closed at once (or, if the request raced the
	// close, answered with Connection: close); either way the client's
	// request works.
	if r := get("/b"); r.StatusCode != http.StatusOK {
		t.Errorf("after the listener update, /b: %d, want 200", r.StatusCode)
	}
	if r := get("/b"); r.StatusCode != http.StatusOK {
		t.Errorf("on a new connection, /b: %d, want 200", r.StatusCode)
	}
	if v := accepted(); v != 2 {
		t.Errorf("client proxy accepted %v connections, want 2: the drained one and its successor", v)
	}
	// The same listeners again change nothing: no drain.
	must(t, m.client.OnListeners(t.Context(), []*listenerv3.Listener{l}))
	if r := get("/b"); r.StatusCode != http.StatusOK || r.Close {
		t.Errorf("after an identical update, /b: %d (close %v), want 200 on a kept connection", r.StatusCode, r.Close)
	}
}

// startNamedApp answers every request with its name.
func startNamedApp(t *testing.T, name string) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, name) }),
		ReadHeaderTimeout: 10 * time.Second,
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) })
	t.Cleanup(func() {
		_ = srv.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// TestRequestsBalancedAcrossEndpoints sends the requests of one downstream
// connection round robin to two endpoints.
func TestRequestsBalancedAcrossEndpoints(t *testing.T) {
	m := newHTTPMesh(t, startNamedApp(t, "a"), false)
	// A second inbound listener on the server proxy, in front of app b.
	const second = "inbound|9001"
	must(t, m.server.OnClusters(t.Context(), []*clusterv3.Cluster{
		httpInboundCluster(t, inboundName, startNamedApp(t, "a"), false),
		httpInboundCluster(t, second, startNamedApp(t, "b"), false),
	}))
	must(t, m.server.OnListeners(t.Context(), []*listenerv3.Listener{
		httpInboundListener(t, inboundName, "127.0.0.1:0"),
		httpInboundListener(t, second, "127.0.0.1:0"),
	}))
	must(t, m.client.OnEndpoints(t.Context(), []*endpointv3.ClusterLoadAssignment{
		assignment(t, outboundCluster, listenerAddr(t, m.server, inboundName), listenerAddr(t, m.server, second)),
	}))
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	counts := map[string]int{}
	for range 6 {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+m.outbound+"/", nil)
		must(t, err)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		must(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		must(t, err)
		counts[string(b)]++
	}
	if counts["a"] != 3 || counts["b"] != 3 {
		t.Errorf("answers %v, want 3 from each endpoint (round robin)", counts)
	}
}

// TestRemovedEndpointLosesItsConnections checks that the idle HTTP/2
// connection to an endpoint goes once EDS no longer lists the endpoint.
func TestRemovedEndpointLosesItsConnections(t *testing.T) {
	m := newHTTPMesh(t, startNamedApp(t, "a"), false)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+m.outbound+"/", nil)
	must(t, err)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	must(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	active := func() float64 {
		return metric(t, m.srvMetrics, "weft_proxy_active_connections", map[string]string{"listener": inboundName})
	}
	if v := active(); v != 1 {
		t.Fatalf("server proxy has %v connections after a request, want 1 (kept for the next)", v)
	}
	must(t, m.client.OnEndpoints(t.Context(), []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, deadAddress(t))}))
	eventually(t, func() string {
		if v := active(); v != 0 {
			return "the connection to the removed endpoint is still open"
		}
		return ""
	})
}
