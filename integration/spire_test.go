package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/weftmesh/weft/controlplane"
	"github.com/weftmesh/weft/proxy"
	"github.com/weftmesh/weft/proxy/identity"
)

// TestSPIREIssuedSVIDTalksToWeftIssuedSVID runs the real SPIRE server and
// agent next to Weft's control plane. The backend's sidecar takes its SVID
// from the SPIRE agent's Workload API; the frontend's comes from Weft's CA.
// Each issuer keeps its own root, and both trust both: the control plane
// serves SPIRE's roots next to its own (so the frontend sidecar, and the
// control plane's xDS port, accept SPIRE's certificates), and SPIRE's bundle
// carries Weft's root (so the backend sidecar accepts Weft's). Bytes must
// flow frontend → backend over mTLS, and each sidecar must have verified
// the other's SPIFFE ID.
func TestSPIREIssuedSVIDTalksToWeftIssuedSVID(t *testing.T) {
	if testing.Short() {
		t.Skip("builds (once) and runs the real SPIRE server and agent")
	}
	binDir := spireBinDir(t)
	td := spiffeid.RequireTrustDomainFromString("cluster.local")
	dir := shortTempDir(t)
	netPrefix := "127.0.90."

	server := startSPIREServer(t, binDir, dir, "127.0.94.1", td.Name())
	spireRoots := server.bundle(t)
	spireBundleFile := filepath.Join(dir, "spire-bundle.pem")
	writeCertsPEM(t, spireBundleFile, spireRoots)

	cp, stateDir := startSPIREMeshControlPlane(t, netPrefix, spireBundleFile)
	weftRoots := readCertsFile(t, filepath.Join(stateDir, "root-cert.pem"))
	if sameCerts(weftRoots, spireRoots) {
		t.Fatal("Weft's CA and SPIRE share a root: the test would not show that two roots are trusted")
	}
	server.appendX509Authorities(t, weftRoots)

	agent := startSPIREAgent(t, binDir, dir, server, td.Name(), spireBundleFile)
	server.cli(t, "entry", "create",
		"-parentID", agent.id,
		"-spiffeID", backendID,
		"-selector", fmt.Sprintf("unix:uid:%d", os.Getuid()))
	workloadAPI := "unix://" + agent.socket
	waitForWorkloadSVID(t, workloadAPI, backendID, append(append([]*x509.Certificate(nil), spireRoots...), weftRoots...))

	startEcho(t, fmt.Sprintf("%s3:%d", netPrefix, backendAppPort))
	frontend := startSPIREMeshProxy(t, cp, stateDir, "frontend-1", "frontend", netPrefix+"2", func(cfg *proxy.Config) {
		cfg.TokenFile = writeTempFile(t, "frontend-token", "frontend-token\n")
	})
	backend := startSPIREMeshProxy(t, cp, stateDir, "backend-1", "backend", netPrefix+"3", func(cfg *proxy.Config) {
		cfg.WorkloadAPISocket = workloadAPI
		// Had the sidecar asked Weft's CA instead, this token would fail.
		cfg.TokenFile = writeTempFile(t, "backend-token", "not-the-backend-token\n")
	})
	waitForProxy(t, "the frontend sidecar (Weft-issued SVID) to get its configuration", frontend)
	// The control plane must accept the SPIRE-issued client certificate, and
	// the sidecar the control plane's Weft-issued one, for xDS to flow.
	waitForProxy(t, "the backend sidecar (SPIRE-issued SVID) to get its configuration over mTLS", backend)

	conn, err := net.DialTimeout("tcp", fmt.Sprintf("%s2:%d", netPrefix, frontendLocal), 5*time.Second)
	if err != nil {
		t.Fatalf("dialling the frontend sidecar: %v", err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for i := range 10 {
		msg := fmt.Sprintf("hello SPIRE %d", i)
		got, err := roundTrip(conn, r, msg)
		if err != nil {
			t.Fatalf("round trip %q through the sidecars: %v", msg, err)
		}
		if want := "echo: " + msg; got != want {
			t.Fatalf("round trip: got %q, want %q", got, want)
		}
	}

	front := metrics(t, frontend)
	if !hasSeries(front, "weft_proxy_connections_total", `direction="outbound"`, `peer_id="`+backendID+`"`) {
		t.Errorf("frontend sidecar did not record the backend's SPIFFE ID on its outbound connection:\n%s", grepLines(front, "weft_proxy_connections_total"))
	}
	back := metrics(t, backend)
	if !hasSeries(back, "weft_proxy_connections_total", `direction="inbound"`, `peer_id="`+frontendID+`"`) {
		t.Errorf("backend sidecar did not record the frontend's SPIFFE ID on its inbound connection:\n%s", grepLines(back, "weft_proxy_connections_total"))
	}

	// Each sidecar says where its SVID came from, and trusts both roots.
	for _, c := range []struct {
		name   string
		p      *proxy.Proxy
		source string
		id     string
	}{
		{"frontend", frontend, identity.SourceCA, frontendID},
		{"backend", backend, identity.SourceWorkloadAPI, backendID},
	} {
		got := proxyCerts(t, c.p)
		if got.Source != c.source || got.SPIFFEID != c.id {
			t.Errorf("%s sidecar's /certs: source %q, SPIFFE ID %q; want %q, %q", c.name, got.Source, got.SPIFFEID, c.source, c.id)
		}
		for _, root := range append(append([]*x509.Certificate(nil), spireRoots...), weftRoots...) {
			if !slices.ContainsFunc(got.Roots, func(r identity.RootInfo) bool { return r.Serial == root.SerialNumber.Text(16) }) {
				t.Errorf("%s sidecar does not trust the root %q (serial %s); its bundle: %+v", c.name, root.Subject, root.SerialNumber.Text(16), got.Roots)
			}
		}
	}

	// The certificate the backend sidecar presents is SPIRE's: it chains to
	// SPIRE's root and not to Weft's.
	chain := servedChain(t, fmt.Sprintf("%s3:%d", netPrefix, backendMeshPort))
	id, _, err := x509svid.Verify(chain, x509bundle.FromX509Authorities(td, spireRoots))
	if err != nil {
		t.Fatalf("the backend sidecar's certificate does not chain to SPIRE's root: %v", err)
	}
	if id.String() != backendID {
		t.Errorf("the backend sidecar presents %s, want %s", id, backendID)
	}
	if _, _, err := x509svid.Verify(chain, x509bundle.FromX509Authorities(td, weftRoots)); err == nil {
		t.Error("the backend sidecar's certificate chains to Weft's root: it did not come from SPIRE")
	}
}

// startSPIREMeshControlPlane starts Weft's control plane for the frontend
// and backend of meshYAML, trusting the roots in extraRootsFile besides its
// own. It returns the control plane and its state directory.
func startSPIREMeshControlPlane(t *testing.T, netPrefix, extraRootsFile string) (*controlplane.ControlPlane, string) {
	t.Helper()
	dir := t.TempDir()
	meshDir, stateDir := filepath.Join(dir, "mesh"), filepath.Join(dir, "state")
	for _, d := range []string{meshDir, stateDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(meshDir, "mesh.yaml"), meshYAML(netPrefix))
	cfg := controlplane.Default()
	cfg.ConfigDir, cfg.StateDir = meshDir, stateDir
	cfg.XDSAddress = netPrefix + "1:0"
	cfg.MonitorAddress = netPrefix + "1:0"
	cfg.CATrustBundleFile = extraRootsFile
	cp := controlplane.New(cfg, testLogger(t, "controlplane"))
	if err := cp.Start(t.Context()); err != nil {
		t.Fatalf("starting control plane: %v", err)
	}
	t.Cleanup(func() { _ = cp.Close() })
	return cp, stateDir
}

// startSPIREMeshProxy starts a sidecar for workload name of meshYAML; set
// chooses where its identity comes from.
func startSPIREMeshProxy(t *testing.T, cp *controlplane.ControlPlane, stateDir, name, sa, addr string, set func(*proxy.Config)) *proxy.Proxy {
	t.Helper()
	cfg := proxy.Default()
	cfg.ControlPlaneAddress = cp.XDSAddr().String()
	cfg.CARootFile = filepath.Join(stateDir, "root-cert.pem")
	cfg.Name, cfg.Namespace, cfg.ServiceAccount = name, "shop", sa
	cfg.AdminAddress = addr + ":0"
	cfg.StatusAddress = addr + ":0" // loopback, never :15020 on every address
	set(&cfg)
	p := proxy.New(cfg, testLogger(t, name))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatalf("starting proxy %s: %v", name, err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// waitForProxy waits until p has its configuration, failing at once if p
// stops with an error.
func waitForProxy(t *testing.T, what string, p *proxy.Proxy) {
	t.Helper()
	waitFor(t, what, func() bool {
		select {
		case err := <-p.Errors():
			t.Fatalf("waiting for %s: the proxy failed: %v", what, err)
		default:
		}
		return p.Ready()
	})
}

// waitForWorkloadSVID waits until the Workload API at addr gives this
// process the SVID named id, with a bundle that holds every root in roots.
func waitForWorkloadSVID(t *testing.T, addr, id string, roots []*x509.Certificate) {
	t.Helper()
	var last string
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		x509ctx, err := workloadapi.FetchX509Context(ctx, workloadapi.WithAddr(addr))
		cancel()
		switch {
		case err != nil:
			last = err.Error()
		case x509ctx.DefaultSVID().ID.String() != id:
			last = "the Workload API gives " + x509ctx.DefaultSVID().ID.String()
		default:
			b, err := x509ctx.Bundles.GetX509BundleForTrustDomain(x509ctx.DefaultSVID().ID.TrustDomain())
			if err != nil {
				last = err.Error()
				break
			}
			missing := 0
			for _, r := range roots {
				if !b.HasX509Authority(r) {
					missing++
				}
			}
			if missing == 0 {
				return
			}
			last = fmt.Sprintf("the Workload API's bundle lacks %d of the %d roots", missing, len(roots))
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for SPIRE to issue %s: %s", id, last)
}

// servedChain returns the certificate chain a TLS server at addr presents.
// The handshake itself fails (this client has no certificate to show); the
// chain is read before that.
func servedChain(t *testing.T, addr string) []*x509.Certificate {
	t.Helper()
	var chain []*x509.Certificate
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // the chain is checked by the caller against chosen roots
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			for _, der := range raw {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return err
				}
				chain = append(chain, c)
			}
			return nil
		},
	})
	if err == nil {
		_ = conn.Close()
	}
	if len(chain) == 0 {
		t.Fatalf("no certificate from %s: %v", addr, err)
	}
	return chain
}

// proxyCerts reads a proxy's /certs page.
func proxyCerts(t *testing.T, p *proxy.Proxy) identity.Certs {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+p.AdminAddr().String()+"/certs", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c identity.Certs
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /certs: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatalf("GET /certs: %v", err)
	}
	return c
}

func readCertsFile(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := parsePEMCerts(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return certs
}

func sameCerts(a, b []*x509.Certificate) bool {
	for _, x := range a {
		for _, y := range b {
			if x.Equal(y) {
				return true
			}
		}
	}
	return false
}

func writeTempFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	writeFile(t, path, content)
	return path
}
