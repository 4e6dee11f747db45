package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weftmesh/weft/controlplane"
	"github.com/weftmesh/weft/proxy/xdsclient"
)

// TestXDSProtocolAgainstControlPlane runs a sidecar against the real
// control plane (standalone mode, TLS, the CA) over each ADS protocol: it
// becomes ready, the control plane sees the stream's variant, and an
// endpoint change reaches it. Over delta nothing but the assignment is
// sent: the clusters' and listeners' versions stay as they were (the
// control plane versions snapshots as a whole, so SotW moves them all).
func TestXDSProtocolAgainstControlPlane(t *testing.T) {
	for _, tt := range []struct {
		protocol xdsclient.Protocol
		variant  string // xds.ProxyStatus.Variant
	}{
		{xdsclient.ProtocolDelta, "delta"},
		{xdsclient.ProtocolSotW, "sotw"},
	} {
		t.Run(tt.protocol.String(), func(t *testing.T) {
			dir := t.TempDir()
			port := freePort(t)
			writeMesh(t, dir, port, "192.0.2.10")
			cp := startControlPlane(t, dir)

			cfg := Default()
			cfg.XDSProtocol = tt.protocol
			cfg.ControlPlaneAddress = cp.XDSAddr().String()
			cfg.CARootFile = filepath.Join(dir, "state", "root-cert.pem")
			cfg.Name, cfg.Namespace, cfg.ServiceAccount = "frontend-1", "shop", "frontend"
			cfg.TokenFile = filepath.Join(dir, "token")
			cfg.AdminAddress, cfg.StatusAddress = "127.0.0.1:0", "127.0.0.1:0"
			p := New(cfg, slog.New(slog.NewTextHandler(t.Output(), nil)))
			if err := p.Start(t.Context()); err != nil {
				t.Fatalf("starting the proxy: %v", err)
			}
			t.Cleanup(func() { _ = p.Close() })
			waitUntil(t, "the proxy ready", func() bool { return p.Ready() })
			waitUntil(t, "a "+tt.variant+" stream at the control plane", func() bool {
				for _, st := range cp.XDS().Status() {
					if st.Node == "frontend-1.shop" && st.Variant == tt.variant {
						return true
					}
				}
				return false
			})
			// Ready needs clusters and listeners; the assignment, asked
			// for once the clusters are in, may come a moment later.
			waitUntil(t, "the backend's assignment", func() bool {
				return p.xds.Load().Status().Types[xdsclient.EndpointType].Accepted
			})
			before := p.xds.Load().Status().Types

			writeMesh(t, dir, port, "192.0.2.11") // the backend moves
			waitUntil(t, "the new assignment", func() bool {
				return p.xds.Load().Status().Types[xdsclient.EndpointType].Version != before[xdsclient.EndpointType].Version
			})
			after := p.xds.Load().Status().Types
			eds := after[xdsclient.EndpointType].Version
			for _, typ := range []string{xdsclient.ClusterType, xdsclient.ListenerType} {
				if tt.protocol == xdsclient.ProtocolSotW {
					waitUntil(t, "SotW to resend "+typ, func() bool { return p.xds.Load().Status().Types[typ].Version == eds })
				} else if after[typ].Version != before[typ].Version {
					t.Errorf("%s version %q → %q after an endpoint change over delta, want it unchanged: nothing to send",
						typ, before[typ].Version, after[typ].Version)
				}
			}
		})
	}
}

// writeMesh writes the control plane's mesh: a frontend workload on
// 127.0.0.1 calling a backend Service on port, whose one workload is at
// backendAddr. The directory is watched: writing it again is a change.
func writeMesh(t *testing.T, dir string, port int, backendAddr string) {
	t.Helper()
	token := sha256.Sum256([]byte("frontend-token"))
	mesh := fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: backend, namespace: shop}
spec:
  selector: {app: backend}
  ports:
  - {name: tcp, port: %[1]d}
---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: backend-1, namespace: shop, labels: {app: backend}}
spec:
  serviceAccount: backend
  address: %[2]s
  ports:
  - {name: tcp, port: %[1]d}
---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: frontend-1, namespace: shop, labels: {app: frontend}}
spec:
  serviceAccount: frontend
  address: 127.0.0.1
  localAddress: 127.0.0.1
  outbound:
  - {service: backend, port: %[1]d}
  bootstrapTokenSHA256: %[3]s
`, port, backendAddr, hex.EncodeToString(token[:]))
	for _, d := range []string{"mesh", "state"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// Written aside and renamed, so that the watcher never reads half.
	tmp := filepath.Join(dir, "mesh.yaml.tmp")
	if err := os.WriteFile(tmp, []byte(mesh), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "mesh", "mesh.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("frontend-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func startControlPlane(t *testing.T, dir string) *controlplane.ControlPlane {
	t.Helper()
	cfg := controlplane.Default()
	cfg.ConfigDir = filepath.Join(dir, "mesh")
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.XDSAddress, cfg.MonitorAddress = "127.0.0.1:0", "127.0.0.1:0"
	cp := controlplane.New(cfg, slog.New(slog.NewTextHandler(t.Output(), nil)).With("component", "controlplane"))
	if err := cp.Start(t.Context()); err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() { _ = cp.Close() })
	return cp
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
