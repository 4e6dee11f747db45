package status

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// maxAppBody is how much of the app's answer is read, as the kubelet
// reads at most 10 KiB of it.
const maxAppBody = 10 << 10

// serveProbe answers a rewritten probe by asking the app: its status code
// for httpGet, 200 or 503 for grpc, 503 when the app does not answer in
// time.
func (s *Server) serveProbe(w http.ResponseWriter, r *http.Request) {
	probe, ok := s.cfg.Probes[r.URL.Path]
	if !ok {
		http.Error(w, "no probe "+r.URL.Path, http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), probe.Timeout())
	defer cancel()
	var code int
	var msg string
	if probe.GRPC != nil {
		code, msg = probeGRPC(ctx, probe.GRPC)
	} else {
		code, msg = s.probeHTTP(ctx, r, probe.HTTPGet)
	}
	if code >= http.StatusBadRequest {
		if ctx.Err() != nil && r.Context().Err() == nil {
			msg = fmt.Sprintf("probe timed out after %s: %s", probe.Timeout(), msg)
		}
		s.log.Debug("app probe failed", "path", r.URL.Path, "code", code, "reason", msg)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, msg)
}

// probeHTTP sends the app the original request: path, headers and scheme
// from the probe table, with the kubelet's User-Agent and Accept unless
// the table sets them.
func (s *Server) probeHTTP(ctx context.Context, in *http.Request, h *HTTPGetAction) (int, string) {
	u, err := h.url()
	if err != nil {
		return http.StatusInternalServerError, err.Error()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return http.StatusInternalServerError, err.Error()
	}
	for _, name := range []string{"User-Agent", "Accept"} {
		if v := in.Header.Get(name); v != "" {
			req.Header.Set(name, v)
		}
	}
	overridden := map[string]bool{}
	for _, hdr := range h.HTTPHeaders {
		name := http.CanonicalHeaderKey(hdr.Name)
		if name == "Host" {
			req.Host = hdr.Value
			continue
		}
		// The table's headers replace the kubelet's, and repeat as given.
		if !overridden[name] {
			req.Header.Del(name)
			overridden[name] = true
		}
		req.Header.Add(name, hdr.Value)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return http.StatusServiceUnavailable, "app " + h.Scheme + " probe: " + err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAppBody))
	return resp.StatusCode, fmt.Sprintf("app answered %s on %s", resp.Status, resp.Request.URL.RequestURI())
}

// probeGRPC calls grpc.health.v1.Health/Check on the app in plaintext, as
// the kubelet does.
func probeGRPC(ctx context.Context, g *GRPCAction) (int, string) {
	conn, err := grpc.NewClient("passthrough:///"+net.JoinHostPort("127.0.0.1", strconv.Itoa(g.Port)),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return http.StatusServiceUnavailable, "app gRPC probe: " + err.Error()
	}
	defer func() { _ = conn.Close() }()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: g.Service})
	if err != nil {
		return http.StatusServiceUnavailable, "app gRPC health check: " + err.Error()
	}
	if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		return http.StatusServiceUnavailable, fmt.Sprintf("app gRPC health status %s (service %q)", st, g.Service)
	}
	return http.StatusOK, fmt.Sprintf("app gRPC health status SERVING (service %q)", g.Service)
}
