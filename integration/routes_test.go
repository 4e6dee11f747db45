package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// startNamedHTTPApp answers every request with name, and /slow after two
// seconds.
func startNamedHTTPApp(t *testing.T, addr, name string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		}
		_, _ = io.WriteString(w, name)
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
}

// TestRoutesAndTrafficPolicy: an HTTPRoute attached to the backend Service
// (GAMMA) sends requests with x-version: v2 to a second Service, splits
// /split between the two, and a TrafficPolicy's timeout answers 504 for a
// backend too slow; all through two sidecars, from the control plane's
// own translation.
func TestRoutesAndTrafficPolicy(t *testing.T) {
	yaml := func(netPrefix string) string {
		return withAppProtocol("http")(netPrefix) + fmt.Sprintf(`---
apiVersion: v1
kind: Service
metadata: {name: backend-v2, namespace: shop}
spec:
  selector: {app: backend-v2}
  ports:
  - {name: http, port: %[2]d}
---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: backend-v2-1, namespace: shop, labels: {app: backend-v2}}
spec:
  serviceAccount: backend-v2
  address: %[1]s5
  localAddress: %[1]s5
  ports:
  - {name: http, port: %[2]d, targetPort: %[3]d}
  bootstrapTokenSHA256: %[4]s
`, netPrefix, backendMeshPort, backendAppPort, tokenDigest("backend-v2-token"))
	}
	f := newMeshWith(t, 86, yaml, func(t *testing.T, addr string) { startNamedHTTPApp(t, addr, "v1") })
	startNamedHTTPApp(t, fmt.Sprintf("%s5:%d", f.net, backendAppPort), "v2")
	writeFile(t, filepath.Join(f.dir, "backend-v2-token"), "backend-v2-token\n")
	v2 := f.startProxy("backend-v2-1", "backend-v2", f.net+"5")
	waitFor(t, "backend-v2 proxy ready", v2.Ready)

	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	get := func(path, version string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+f.frontendAddr()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if version != "" {
			req.Header.Set("X-Version", version)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/", "v2"); code != http.StatusOK || body != "v1" {
		t.Fatalf("before any route: %d %q, want 200 v1", code, body)
	}

	f.setPolicies(fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: backend-versions, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: backend, port: %[1]d}]
  rules:
  - matches: [{headers: [{name: x-version, value: v2}]}]
    backendRefs: [{name: backend-v2, port: %[1]d}]
  - matches: [{path: {type: PathPrefix, value: /split}}]
    backendRefs:
    - {name: backend, port: %[1]d, weight: 50}
    - {name: backend-v2, port: %[1]d, weight: 50}
---
apiVersion: mesh.weft.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: backend, namespace: shop}
spec:
  targetRef: {name: backend}
  timeout: 500ms
`, backendMeshPort))
	waitFor(t, "the route in force", func() bool {
		_, body := get("/", "v2")
		return body == "v2"
	})
	if code, body := get("/", ""); code != http.StatusOK || body != "v1" {
		t.Errorf("without the header: %d %q, want 200 v1 (the Service's own route)", code, body)
	}
	seen := map[string]int{}
	for range 100 {
		_, body := get("/split", "")
		seen[body]++
	}
	if seen["v1"] < 20 || seen["v2"] < 20 || seen["v1"]+seen["v2"] != 100 {
		t.Errorf("a 50/50 split sent %v over 100 requests", seen)
	}
	if code, _ := get("/slow", ""); code != http.StatusGatewayTimeout {
		t.Errorf("GET /slow (2s) with a 500ms timeout: %d, want 504", code)
	}
}
