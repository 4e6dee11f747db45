package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// withAppProtocol turns the fixture's TCP service port into one of the
// given protocol, as a user would declare it.
func withAppProtocol(protocol string) func(string) string {
	return func(netPrefix string) string {
		return strings.Replace(meshYAML(netPrefix),
			fmt.Sprintf("  - {name: tcp-echo, port: %d}\n", backendMeshPort),
			fmt.Sprintf("  - {name: web, port: %d, appProtocol: %s}\n", backendMeshPort, protocol), 1)
	}
}

// startHTTPApp serves the backend app over HTTP/1.1: it answers with what
// it received, so the test sees what crossed the mesh.
func startHTTPApp(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-App-Proto", r.Proto)
		w.Header().Set("X-App-Saw-Secret", r.Header.Get("X-Secret"))
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
}

// TestHTTPThroughTheMesh: an HTTP service port gets L7 proxying end to
// end, from the translator through both sidecars: requests on a kept-alive
// connection, bodies, connection-specific headers removed, and each
// sidecar recording the verified peer of every request.
func TestHTTPThroughTheMesh(t *testing.T) {
	f := newMeshWith(t, 76, withAppProtocol("http"), startHTTPApp)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	url := fmt.Sprintf("http://%s2:%d", f.net, frontendLocal)

	for i := range 5 {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, fmt.Sprintf("%s/items/%d", url, i), strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Connection", "X-Secret")
		req.Header.Set("X-Secret", "must not cross a hop")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != fmt.Sprintf("POST /items/%d payload", i) {
			t.Fatalf("request %d: %s %q (flags %q)", i, resp.Status, body, resp.Header.Get("X-Weft-Response-Flags"))
		}
		if got := resp.Header.Get("X-App-Saw-Secret"); got != "" {
			t.Errorf("a header named by Connection reached the app: %q", got)
		}
		if got := resp.Header.Get("X-App-Proto"); got != "HTTP/1.1" {
			t.Errorf("the app was spoken to with %q, want HTTP/1.1", got)
		}
	}

	front, back := metrics(t, f.frontend), metrics(t, f.backend)
	if !hasSeries(front, "weft_proxy_http_requests_total", `direction="outbound"`, `peer_id="`+backendID+`"`) {
		t.Errorf("frontend sidecar did not count HTTP requests to the verified backend:\n%s", grepLines(front, "weft_proxy_http_requests_total"))
	}
	if !hasSeries(back, "weft_proxy_http_requests_total", `direction="inbound"`, `peer_id="`+frontendID+`"`) {
		t.Errorf("backend sidecar did not count HTTP requests from the verified frontend:\n%s", grepLines(back, "weft_proxy_http_requests_total"))
	}
}

// startGRPCApp serves gRPC's health service over h2c as the backend app.
func startGRPCApp(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("shop.Backend", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
}

// TestGRPCThroughTheMesh: a gRPC service port carries unary calls and
// server streams (with their status trailers) through both sidecars.
func TestGRPCThroughTheMesh(t *testing.T) {
	f := newMeshWith(t, 77, withAppProtocol("grpc"), startGRPCApp)
	conn, err := grpc.NewClient(fmt.Sprintf("%s2:%d", f.net, frontendLocal), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "shop.Backend"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("unary Check = %v, %v; want SERVING", resp, err)
	}
	// A status in the trailers must survive both hops.
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.Such"}); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Fatalf("Check of an unknown service = %v, want the app's NotFound status", err)
	}
	stream, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "shop.Backend"})
	if err != nil {
		t.Fatal(err)
	}
	update, err := stream.Recv()
	if err != nil || update.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("server stream's first message = %v, %v", update, err)
	}
}
