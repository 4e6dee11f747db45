package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/controlplane"
	"github.com/weftmesh/weft/proxy"
)

// TestProxyConfig reads a real sidecar's admin port: a control plane in
// standalone mode and two proxies run in process on 127.0.93.0/24, the
// frontend sending HTTP to the backend service through its sidecar.
func TestProxyConfig(t *testing.T) {
	m := startMesh(t, "127.0.93.")
	admin := "http://" + m.frontend.AdminAddr().String()

	// Each kind's table has the rows a user looks for; the table lines
	// are matched with runs of spaces squeezed.
	tests := []struct {
		kind  string
		admin string // default: the frontend's
		want  []string
	}{
		{"listeners", "", []string{
			"NAME ADDRESS KIND CHAINS",
			"outbound|backend.shop|9000 127.0.93.2:9000 bound * → http routes ",
		}},
		{"routes", "", []string{
			"NAME VIRTUAL HOST DOMAINS MATCH ACTION",
			" /* → outbound|9000||backend.shop.svc.cluster.local",
		}},
		{"routes", "http://" + m.backend.AdminAddr().String(), []string{
			"inbound|9000 (inline) ",
		}},
		{"clusters", "", []string{
			"NAME TYPE ENDPOINTS TLS",
			"outbound|9000||backend.shop.svc.cluster.local EDS 1 mTLS spiffe://cluster.local/ns/shop/sa/backend",
		}},
		{"endpoints", "", []string{
			"CLUSTER ADDRESS HEALTH WEIGHT",
			"outbound|9000||backend.shop.svc.cluster.local 127.0.93.3:9000 ",
		}},
		{"secrets", "", []string{
			"NAME SPIFFE ID SERIAL NOT AFTER REMAINING",
			"default spiffe://cluster.local/ns/shop/sa/frontend ",
			"ROOTCA spiffe://cluster.local ",
		}},
	}
	for _, tt := range tests {
		name := tt.kind + " of frontend"
		if tt.admin != "" {
			name = tt.kind + " of backend"
		}
		t.Run(name, func(t *testing.T) {
			url := admin
			if tt.admin != "" {
				url = tt.admin
			}
			code, out, stderr := runWeftctl(t, "proxy-config", "frontend-1", tt.kind, "--admin-url", url)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			got := squeeze(out)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("%s table lacks a row with %q:\n%s", tt.kind, w, out)
				}
			}
		})
	}

	t.Run("all kinds", func(t *testing.T) {
		code, out, stderr := runWeftctl(t, "proxy-config", "frontend-1", "--admin-url", admin)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, kind := range proxyConfigKinds {
			if !strings.Contains(out, strings.ToUpper(kind)+":\n") {
				t.Errorf("output lacks the %s section:\n%s", kind, out)
			}
		}
	})

	// -o yaml and -o json print the same resources, the proxy's own.
	for _, kind := range proxyConfigKinds {
		t.Run("yaml and json of "+kind, func(t *testing.T) {
			_, jsonOut, stderr := runWeftctl(t, "proxy-config", "frontend-1", kind, "-o", "json", "--admin-url", admin)
			_, yamlOut, _ := runWeftctl(t, "proxy-config", "frontend-1", kind, "-o", "yaml", "--admin-url", admin)
			var fromJSON, fromYAML any
			if err := json.Unmarshal([]byte(jsonOut), &fromJSON); err != nil {
				t.Fatalf("-o json is not JSON: %v\n%s%s", err, jsonOut, stderr)
			}
			if err := yaml.Unmarshal([]byte(yamlOut), &fromYAML); err != nil {
				t.Fatalf("-o yaml is not YAML: %v\n%s", err, yamlOut)
			}
			if !reflect.DeepEqual(fromJSON, fromYAML) {
				t.Errorf("-o yaml and -o json differ:\n%s\n%s", yamlOut, jsonOut)
			}
			if !strings.Contains(jsonOut, map[string]string{
				"listeners": `"name": "outbound|backend.shop|9000"`,
				"routes":    `"cluster": "outbound|9000||backend.shop.svc.cluster.local"`,
				"clusters":  `"name": "outbound|9000||backend.shop.svc.cluster.local"`,
				"endpoints": `"clusterName": "outbound|9000||backend.shop.svc.cluster.local"`,
				"secrets":   `"spiffe_id": "spiffe://cluster.local/ns/shop/sa/frontend"`,
			}[kind]) {
				t.Errorf("-o json of %s lacks the frontend's resource:\n%s", kind, jsonOut)
			}
		})
	}

	t.Run("bad input", func(t *testing.T) {
		tests := []struct {
			args     []string
			wantCode int
			want     string
		}{
			{[]string{"frontend-1", "filters"}, 2, `unknown kind "filters": want one of listeners, routes, clusters, endpoints, secrets`},
			{[]string{}, 2, "proxy-config takes a pod and optionally a kind (listeners, routes, clusters, endpoints, secrets), got 0 arguments"},
			{[]string{"frontend-1", "routes", "-o", "xml"}, 2, `-o "xml": want table, yaml or json`},
			{[]string{"frontend-1", "--admin-url", "http://127.0.93.9:1"}, 1, "proxy admin: Get"},
		}
		for _, tt := range tests {
			t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
				code, _, stderr := runWeftctl(t, append([]string{"proxy-config"}, tt.args...)...)
				if code != tt.wantCode || !strings.Contains(stderr, tt.want) {
					t.Errorf("exit %d, want %d; stderr %q lacks %q", code, tt.wantCode, stderr, tt.want)
				}
			})
		}
	})
}

func runWeftctl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// squeeze turns runs of spaces into one, so that rows match whatever the
// column widths.
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ") + " "
	}
	return strings.Join(lines, "\n")
}

type testMesh struct {
	frontend, backend *proxy.Proxy
}

// startMesh runs a standalone control plane (prefix+"1") and the sidecars
// of frontend-1 (prefix+"2") and backend-1 (prefix+"3"), backend serving
// HTTP on port 9000.
func startMesh(t *testing.T, prefix string) *testMesh {
	t.Helper()
	dir := t.TempDir()
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	mesh := fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: backend, namespace: shop}
spec:
  selector: {app: backend}
  ports:
  - {name: web, port: 9000, appProtocol: http}
---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: backend-1, namespace: shop, labels: {app: backend}}
spec:
  serviceAccount: backend
  address: %[1]s3
  localAddress: %[1]s3
  ports:
  - {name: web, port: 9000, targetPort: 19000}
  bootstrapTokenSHA256: %[2]s
---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: frontend-1, namespace: shop, labels: {app: frontend}}
spec:
  serviceAccount: frontend
  address: %[1]s2
  localAddress: %[1]s2
  outbound:
  - {service: backend, port: 9000}
  bootstrapTokenSHA256: %[3]s
`, prefix, sum("backend-token"), sum("frontend-token"))
	for name, content := range map[string]string{
		"mesh/mesh.yaml": mesh, "frontend-token": "frontend-token\n", "backend-token": "backend-token\n",
	} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := controlplane.Default()
	cfg.ConfigDir, cfg.StateDir = filepath.Join(dir, "mesh"), filepath.Join(dir, "state")
	cfg.XDSAddress, cfg.MonitorAddress = prefix+"1:0", prefix+"1:0"
	cp := controlplane.New(cfg, nil)
	if err := cp.Start(t.Context()); err != nil {
		t.Fatalf("start the control plane: %v", err)
	}
	t.Cleanup(func() { _ = cp.Close() })

	start := func(name, sa, addr string) *proxy.Proxy {
		pc := proxy.Default()
		pc.ControlPlaneAddress = cp.XDSAddr().String()
		pc.CARootFile = filepath.Join(dir, "state", "root-cert.pem")
		pc.Name, pc.Namespace, pc.ServiceAccount = name, "shop", sa
		pc.TokenFile = filepath.Join(dir, sa+"-token")
		pc.AdminAddress, pc.StatusAddress = addr+":0", addr+":0"
		p := proxy.New(pc, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if err := p.Start(ctx); err != nil {
			t.Fatalf("start proxy %s: %v", name, err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	m := &testMesh{frontend: start("frontend-1", "frontend", prefix+"2"), backend: start("backend-1", "backend", prefix+"3")}
	deadline := time.Now().Add(30 * time.Second)
	for !m.frontend.Ready() || !m.backend.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("the proxies are not ready after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return m
}
