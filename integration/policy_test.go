package integration

import (
	"bufio"
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

// policyMesh is the HTTP mesh of TestHTTPThroughTheMesh plus a third
// workload, intruder-1 (service account intruder), which may call the
// backend too: policies tell the two clients apart.
type policyMesh struct {
	*meshFixture
	intruder *proxy.Proxy
}

func newPolicyMesh(t *testing.T, subnet int) *policyMesh {
	t.Helper()
	yaml := func(netPrefix string) string {
		return withAppProtocol("http")(netPrefix) + fmt.Sprintf(`---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: intruder-1, namespace: shop, labels: {app: intruder}}
spec:
  serviceAccount: intruder
  address: %[1]s4
  localAddress: %[1]s4
  outbound:
  - {service: backend, port: %[2]d}
  bootstrapTokenSHA256: %[3]s
`, netPrefix, backendMeshPort, tokenDigest("intruder-token"))
	}
	f := newMeshWith(t, subnet, yaml, startHTTPApp)
	writeFile(t, filepath.Join(f.dir, "intruder-token"), "intruder-token\n")
	m := &policyMesh{meshFixture: f, intruder: f.startProxy("intruder-1", "intruder", f.net+"4")}
	waitFor(t, "intruder proxy ready", m.intruder.Ready)
	return m
}

// setPolicies replaces the policies of the config directory with yaml.
func (f *meshFixture) setPolicies(yaml string) {
	f.t.Helper()
	writeFile(f.t, filepath.Join(f.dir, "mesh", "policies.yaml"), "# policies under test\n"+yaml)
}

// status sends one raw HTTP/1.1 request, written exactly as given (no
// client library cleans the path), to addr and returns the status code,
// or 0 when the connection ended without a response.
func status(t *testing.T, addr, method, target string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dialling %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n", method, target); err != nil {
		return 0
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func (f *meshFixture) frontendAddr() string { return fmt.Sprintf("%s2:%d", f.net, frontendLocal) }
func (f *meshFixture) backendAddr() string  { return fmt.Sprintf("%s3:%d", f.net, backendMeshPort) }
func (m *policyMesh) intruderAddr() string  { return fmt.Sprintf("%s4:%d", m.net, frontendLocal) }

// TestPeerAuthenticationModes switches the shop namespace's mode and
// checks what a client outside the mesh (plaintext, straight to the
// backend's mesh port) and a client in the mesh (the frontend) see.
func TestPeerAuthenticationModes(t *testing.T) {
	f := newPolicyMesh(t, 81)
	mode := func(m string) string {
		return fmt.Sprintf(`apiVersion: mesh.weft.dev/v1alpha1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec:
  mtls: {mode: %s}
`, m)
	}

	// The fixture's mesh-wide STRICT holds: plaintext gets no response.
	if got := status(t, f.backendAddr(), "GET", "/strict"); got != 0 {
		t.Fatalf("STRICT: plaintext to the mesh port got %d, want the connection closed", got)
	}
	if got := status(t, f.frontendAddr(), "GET", "/strict"); got != http.StatusOK {
		t.Fatalf("STRICT: the frontend through the mesh got %d, want 200", got)
	}

	f.setPolicies(mode("PERMISSIVE"))
	waitFor(t, "PERMISSIVE to accept plaintext", func() bool {
		return status(t, f.backendAddr(), "GET", "/permissive") == http.StatusOK
	})
	if got := status(t, f.frontendAddr(), "GET", "/permissive"); got != http.StatusOK {
		t.Fatalf("PERMISSIVE: the frontend through the mesh got %d, want 200", got)
	}
	back := metrics(t, f.backend)
	if !hasSeries(back, "weft_proxy_http_requests_total", `direction="inbound"`, `peer_id="`+frontendID+`"`) {
		t.Errorf("PERMISSIVE: the backend did not see the frontend's verified identity:\n%s", grepLines(back, "weft_proxy_http_requests_total"))
	}

	f.setPolicies(mode("DISABLE"))
	waitFor(t, "DISABLE to carry the mesh's own traffic in plaintext", func() bool {
		return status(t, f.frontendAddr(), "GET", "/disable") == http.StatusOK &&
			status(t, f.backendAddr(), "GET", "/disable") == http.StatusOK
	})

	f.setPolicies(mode("STRICT"))
	waitFor(t, "STRICT to refuse plaintext again", func() bool {
		return status(t, f.backendAddr(), "GET", "/strict-again") == 0
	})
	if got := status(t, f.frontendAddr(), "GET", "/strict-again"); got != http.StatusOK {
		t.Fatalf("STRICT again: the frontend through the mesh got %d, want 200", got)
	}
}

// TestAuthorizationAllow: an ALLOW policy admits GET /public from the
// frontend's service account, and nothing else from anyone.
func TestAuthorizationAllow(t *testing.T) {
	f := newPolicyMesh(t, 82)
	f.setPolicies(`apiVersion: mesh.weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: public-from-frontend, namespace: shop}
spec:
  selector: {matchLabels: {app: backend}}
  action: ALLOW
  rules:
  - from: [{serviceAccounts: [frontend]}]
    to: [{methods: [GET], paths: [{exact: /public}]}]
`)
	waitFor(t, "the ALLOW policy in force", func() bool {
		return status(t, f.frontendAddr(), "GET", "/private") == http.StatusForbidden
	})
	for _, tc := range []struct {
		who, addr, method, path string
		want                    int
	}{
		{"frontend", f.frontendAddr(), "GET", "/public", http.StatusOK},
		{"frontend", f.frontendAddr(), "POST", "/public", http.StatusForbidden},
		{"frontend", f.frontendAddr(), "GET", "/public/more", http.StatusForbidden},
		{"intruder", f.intruderAddr(), "GET", "/public", http.StatusForbidden},
		{"intruder", f.intruderAddr(), "GET", "/private", http.StatusForbidden},
	} {
		if got := status(t, tc.addr, tc.method, tc.path); got != tc.want {
			t.Errorf("%s %s %s: got %d, want %d", tc.who, tc.method, tc.path, got, tc.want)
		}
	}
	back := metrics(t, f.backend)
	if !hasSeries(back, "weft_proxy_authz_denied_total", `reason="not_allowed"`) {
		t.Errorf("the backend did not count the denials:\n%s", grepLines(back, "weft_proxy_authz"))
	}
}

// TestAuthorizationDenyAdmin: a DENY on /admin must hold against every
// spelling of it a client might try. Each request goes through both
// sidecars, written raw; each must be refused (403) or rejected as
// malformed (400), never served.
func TestAuthorizationDenyAdmin(t *testing.T) {
	f := newPolicyMesh(t, 83)
	f.setPolicies(`apiVersion: mesh.weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: shop}
spec:
  action: DENY
  rules:
  - to: [{paths: [{exact: /admin, ignoreCase: true}, {prefix: /admin/, ignoreCase: true}]}]
`)
	waitFor(t, "the DENY policy in force", func() bool {
		return status(t, f.frontendAddr(), "GET", "/admin") == http.StatusForbidden
	})
	for _, path := range []string{
		"/admin", "/admin/", "//admin", "/ADMIN", "/Admin/users", "/app/%2E%2E/admin",
		"/admin%2F", "/admin;x=y", "/admin#frag", "/admin?x", "/./admin", "/%61dmin",
	} {
		got := status(t, f.frontendAddr(), "GET", path)
		if got != http.StatusForbidden && got != http.StatusBadRequest {
			t.Errorf("GET %s: got %d, want 403 or 400", path, got)
		}
	}
	for _, path := range []string{"/", "/administrator", "/public"} {
		if got := status(t, f.frontendAddr(), "GET", path); got != http.StatusOK {
			t.Errorf("GET %s: got %d, want 200 (the policy denies /admin only)", path, got)
		}
	}
	back := metrics(t, f.backend)
	if !hasSeries(back, "weft_proxy_authz_denied_total", `policy="shop/deny-admin/rules[0]"`, `reason="denied"`) {
		t.Errorf("the backend did not name the denying policy:\n%s", grepLines(back, "weft_proxy_authz"))
	}
}

// TestAuthorizationTCP: on a TCP port an ALLOW policy by service account
// lets the frontend's bytes through and closes the intruder's connection
// before it reaches the app.
func TestAuthorizationTCP(t *testing.T) {
	f := newMeshWith(t, 84, func(netPrefix string) string {
		return meshYAML(netPrefix) + fmt.Sprintf(`---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: intruder-1, namespace: shop, labels: {app: intruder}}
spec:
  serviceAccount: intruder
  address: %[1]s4
  localAddress: %[1]s4
  outbound:
  - {service: backend, port: %[2]d}
  bootstrapTokenSHA256: %[3]s
---
apiVersion: mesh.weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: frontend-only, namespace: shop}
spec:
  selector: {matchLabels: {app: backend}}
  rules:
  - from: [{principals: ["spiffe://cluster.local/ns/shop/sa/frontend"]}]
`, netPrefix, backendMeshPort, tokenDigest("intruder-token"))
	}, func(t *testing.T, addr string) { startEcho(t, addr) })
	writeFile(t, filepath.Join(f.dir, "intruder-token"), "intruder-token\n")
	intruder := f.startProxy("intruder-1", "intruder", f.net+"4")
	waitFor(t, "intruder proxy ready", intruder.Ready)

	conn := f.frontendDial()
	f.mustRoundTrip(conn, bufio.NewReader(conn), "from the frontend")

	ic, err := net.DialTimeout("tcp", fmt.Sprintf("%s4:%d", f.net, frontendLocal), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if got, err := roundTrip(ic, bufio.NewReader(ic), "from the intruder"); err == nil || strings.Contains(got, "echo") {
		t.Fatalf("the intruder got %q, %v; want the connection closed", got, err)
	}
	back := metrics(t, f.backend)
	if !hasSeries(back, "weft_proxy_authz_denied_total", `reason="not_allowed"`) {
		t.Errorf("the backend did not count the refused connection:\n%s", grepLines(back, "weft_proxy_authz"))
	}
}
