package dataplane_test

import (
	"bufio"
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

	"github.com/weftmesh/weft/proxy/dataplane"
)

// TestServerFirstProtocolThroughMesh: an app that speaks first (a MySQL
// greeting) on a TCP port reaches a client that has sent nothing, through
// both sidecars and their mTLS hop; then a round trip.
func TestServerFirstProtocolThroughMesh(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if _, err := io.WriteString(c, "greeting: server v8\n"); err != nil {
					return
				}
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, "ok "+line); err != nil {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})

	ca := newCA(t, "cluster.local")
	server, _ := newDataplane(t, ca, serverID)
	client, _ := newDataplane(t, ca, clientID)
	ctx := t.Context()
	must(t, server.OnClusters(ctx, []*clusterv3.Cluster{staticCluster(t, inboundName, ln.Addr().String())}))
	must(t, server.OnListeners(ctx, []*listenerv3.Listener{inboundListener(t, inboundName, "127.0.0.1:0", inboundName, "spiffe://cluster.local/")}))
	must(t, client.OnClusters(ctx, []*clusterv3.Cluster{edsCluster(t, outboundCluster, outboundSNI, serverID)}))
	must(t, client.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, listenerAddr(t, server, inboundName))}))
	must(t, client.OnListeners(ctx, []*listenerv3.Listener{outboundListener(t, outboundName, "127.0.0.1:0", outboundCluster)}))

	c, br := dialHTTP(t, listenerAddr(t, client, outboundName))
	// Nothing sent: the greeting must come anyway.
	if got, err := br.ReadString('\n'); err != nil || got != "greeting: server v8\n" {
		t.Fatalf("greeting %q, %v", got, err)
	}
	if _, err := io.WriteString(c, "SELECT 1\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := br.ReadString('\n'); err != nil || got != "ok SELECT 1\n" {
		t.Fatalf("answer %q, %v", got, err)
	}
}

// TestCloseDrainsHTTP closes the outbound sidecar (what SIGTERM does)
// while a slow request is in flight on a keep-alive connection: new
// connections are refused at once, the request still completes, its
// response says Connection: close, and Close returns once it has, well
// before the drain timeout.
func TestCloseDrainsHTTP(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	app := startAppHandler(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "done "+r.URL.Path)
	})
	const drain = time.Minute
	m := newDrainingHTTPMesh(t, app, drain)

	c, br := dialHTTP(t, m.outbound)
	get := func(path string) string {
		return "GET " + path + " HTTP/1.1\r\nHost: " + outboundVhost + "\r\n\r\n"
	}
	// A first request makes the connection a keep-alive one.
	if _, err := io.WriteString(c, get("/fast")); err != nil {
		t.Fatal(err)
	}
	resp := readResponse(t, br)
	if resp.body != "done /fast" || resp.close {
		t.Fatalf("first response %+v, want a keep-alive done /fast", resp)
	}
	if _, err := io.WriteString(c, get("/slow")); err != nil {
		t.Fatal(err)
	}
	<-started

	closed := make(chan time.Duration)
	start := time.Now()
	go func() {
		m.client.Close()
		closed <- time.Since(start)
	}()
	// The listener stops accepting.
	eventually(t, func() string {
		var d net.Dialer
		nc, err := d.DialContext(t.Context(), "tcp", m.outbound)
		if err != nil {
			return ""
		}
		_ = nc.Close()
		return "new connection accepted while draining"
	})
	select {
	case <-closed:
		t.Fatal("Close returned with a request in flight")
	default:
	}
	close(release)
	resp = readResponse(t, br)
	if resp.status != http.StatusOK || resp.body != "done /slow" {
		t.Errorf("in-flight response %+v, want 200 done /slow", resp)
	}
	if !resp.close {
		t.Error("the response during drain lacks Connection: close")
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after the drained response: %q, %v; want EOF", rest, err)
	}
	if d := <-closed; d >= drain {
		t.Errorf("Close took %v, the whole drain timeout, though every request was done", d)
	}
}

type rawResponse struct {
	status int
	body   string
	close  bool
}

func readResponse(t *testing.T, br *bufio.Reader) rawResponse {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{status: resp.StatusCode, body: string(body), close: resp.Close}
}

// startAppHandler serves h over HTTP/1.1 on loopback.
func startAppHandler(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
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

// newDrainingHTTPMesh is newHTTPMesh with the client sidecar's drain
// timeout set to drain.
func newDrainingHTTPMesh(t *testing.T, appAddr string, drain time.Duration) *httpMesh {
	t.Helper()
	ca := newCA(t, "cluster.local")
	m := &httpMesh{ca: ca}
	m.server, m.srvMetrics = newDataplane(t, ca, serverID)
	m.client, m.clientMetrics = newDataplane(t, ca, clientID, func(c *dataplane.Config) { c.DrainTimeout = drain })
	ctx := t.Context()
	must(t, m.server.OnClusters(ctx, []*clusterv3.Cluster{httpInboundCluster(t, inboundName, appAddr, false)}))
	must(t, m.server.OnListeners(ctx, []*listenerv3.Listener{httpInboundListener(t, inboundName, "127.0.0.1:0")}))
	m.inbound = listenerAddr(t, m.server, inboundName)
	must(t, m.client.OnClusters(ctx, []*clusterv3.Cluster{httpOutboundCluster(t, outboundCluster, outboundSNI, serverID)}))
	must(t, m.client.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, m.inbound)}))
	must(t, m.client.OnListeners(ctx, []*listenerv3.Listener{httpOutboundListener(t, outboundName, "127.0.0.1:0")}))
	must(t, m.client.OnRoutes(ctx, []*routev3.RouteConfiguration{routeTo(outboundName, outboundVhost, outboundCluster)}))
	m.outbound = listenerAddr(t, m.client, outboundName)
	if !strings.HasPrefix(m.outbound, "127.") {
		t.Fatalf("outbound listener on %s", m.outbound)
	}
	return m
}

// TestCloseDrainsHTTP2: an HTTP/2 client with a slow request in flight
// when the sidecar closes gets GOAWAY, yet its stream completes; its next
// request needs a new connection, which is refused.
func TestCloseDrainsHTTP2(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	app := startAppHandler(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "done "+r.URL.Path)
	})
	const drain = time.Minute
	m := newDrainingHTTPMesh(t, app, drain)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	type result struct {
		status, proto int
		body          string
		err           error
	}
	get := func(path string) result {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+m.outbound+path, nil)
		if err != nil {
			return result{err: err}
		}
		req.Host = outboundVhost
		resp, err := client.Do(req)
		if err != nil {
			return result{err: err}
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return result{status: resp.StatusCode, proto: resp.ProtoMajor, body: string(body), err: err}
	}
	slow := make(chan result, 1)
	go func() { slow <- get("/slow") }()
	<-started
	closed := make(chan struct{})
	go func() {
		m.client.Close()
		close(closed)
	}()
	eventually(t, func() string {
		var d net.Dialer
		nc, err := d.DialContext(t.Context(), "tcp", m.outbound)
		if err != nil {
			return ""
		}
		_ = nc.Close()
		return "new connection accepted while draining"
	})
	close(release)
	r := <-slow
	if r.err != nil || r.status != http.StatusOK || r.body != "done /slow" {
		t.Fatalf("in-flight HTTP/2 request: %v, %d %q", r.err, r.status, r.body)
	}
	if r.proto != 2 {
		t.Errorf("protocol HTTP/%d, want HTTP/2", r.proto)
	}
	<-closed
	if get("/after").err == nil {
		t.Error("a request after the drain was served")
	}
}
