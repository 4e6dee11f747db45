package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weftmesh/weft/proxy"
)

// statusMeshYAML is the mesh of newMesh plus a workload probe-1 for a
// sidecar the test starts itself.
func statusMeshYAML(netPrefix string) string {
	return meshYAML(netPrefix) + fmt.Sprintf(`---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: probe-1, namespace: shop, labels: {app: probe}}
spec:
  serviceAccount: probe
  address: %[1]s5
  localAddress: %[1]s5
  bootstrapTokenSHA256: %[2]s
`, netPrefix, tokenDigest("probe-token"))
}

// TestStatusPort checks the port the kubelet probes on a real sidecar:
// /ready answers 503 with the reason until the proxy has its certificate
// and configuration from the control plane, then 200 (the native
// sidecar's startupProbe); /metrics is the proxy's registry; and the
// app's rewritten probe, handed over as WEFT_APP_PROBES, reaches the app
// on loopback whether or not the proxy is ready.
func TestStatusPort(t *testing.T) {
	f := newMeshWith(t, 92, statusMeshYAML, func(t *testing.T, addr string) { startEcho(t, addr) })

	// A ready sidecar of the fixture.
	base := "http://" + f.frontend.StatusAddr().String()
	if code, body := statusGet(t, base+"/ready"); code != http.StatusOK {
		t.Errorf("frontend /ready = %d %q, want 200", code, body)
	}
	if code, body := statusGet(t, base+"/metrics"); code != http.StatusOK || !strings.Contains(body, "weft_xds_connected 1") {
		t.Errorf("frontend /metrics = %d without the proxy's weft_xds_connected 1: %.300q", code, body)
	}

	// The app of the new sidecar: an HTTP health endpoint on loopback.
	app := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || r.Header.Get("X-Probe") != "weft" {
			http.Error(w, "wrong probe "+r.URL.Path, http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})}
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Serve(appLn) }()
	t.Cleanup(func() { _ = app.Close() })

	// Start a sidecar while the control plane is down: it waits for its
	// certificate, and its status port says so.
	if err := f.cp.Close(); err != nil {
		t.Fatalf("stopping the control plane: %v", err)
	}
	writeFile(t, filepath.Join(f.dir, "probe-token"), "probe-token\n")
	cfg := proxy.Default()
	cfg.ControlPlaneAddress = f.cpCfg.XDSAddress
	cfg.CARootFile = filepath.Join(f.dir, "state", "root-cert.pem")
	cfg.Name, cfg.Namespace, cfg.ServiceAccount = "probe-1", "shop", "probe"
	cfg.TokenFile = filepath.Join(f.dir, "probe-token")
	cfg.AdminAddress = f.net + "5:0"
	// Its own loopback address, so the real port number is free.
	cfg.StatusAddress = f.net + "5:15020"
	cfg.AppProbes = fmt.Sprintf(`{"/app-health/app/livez": {"httpGet": {"path": "/healthz", "port": %d, "scheme": "HTTP",
		"httpHeaders": [{"name": "X-Probe", "value": "weft"}]}, "timeoutSeconds": 5}}`, appLn.Addr().(*net.TCPAddr).Port)
	p := proxy.New(cfg, testLogger(t, "probe-1"))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	started := make(chan error, 1)
	go func() { started <- p.Start(ctx) }()
	t.Cleanup(func() { _ = p.Close() })

	probeBase := "http://" + cfg.StatusAddress
	var code int
	var body string
	waitFor(t, "the new sidecar's status port to answer", func() bool {
		code, body = statusTry(t, probeBase+"/ready")
		return code != 0
	})
	if code != http.StatusServiceUnavailable || body != "waiting for the workload certificate\n" {
		t.Errorf("/ready without a control plane = %d %q, want 503 saying it waits for the certificate", code, body)
	}
	if code, body := statusGet(t, probeBase+"/app-health/app/livez"); code != http.StatusOK {
		t.Errorf("app probe while the proxy is not ready = %d %q, want the app's 200", code, body)
	}
	if code, body := statusGet(t, probeBase+"/app-health/app/readyz"); code != http.StatusNotFound {
		t.Errorf("probe not in the table = %d %q, want 404", code, body)
	}

	f.startControlPlane()
	if err := <-started; err != nil {
		t.Fatalf("starting the sidecar once the control plane is back: %v", err)
	}
	waitFor(t, "the new sidecar's /ready to answer 200", func() bool {
		code, body = statusGet(t, probeBase+"/ready")
		return code == http.StatusOK
	})
	if body != "ready\n" || !p.Ready() {
		t.Errorf("/ready = %q, Ready() = %v", body, p.Ready())
	}
	if code, body := statusGet(t, probeBase+"/app-health/app/livez"); code != http.StatusOK {
		t.Errorf("app probe = %d %q, want the app's 200", code, body)
	}
}

// statusTry GETs url; 0 when nothing answers yet.
func statusTry(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func statusGet(t *testing.T, url string) (int, string) {
	t.Helper()
	code, body := statusTry(t, url)
	if code == 0 {
		t.Fatalf("GET %s: %s", url, body)
	}
	return code, body
}
