package integration

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/weftmesh/weft/controlplane"
	"github.com/weftmesh/weft/proxy"
)

// rotationCertTTL is the workload certificate lifetime of the root
// rotation test: proxies renew every second or two, so each step of the
// rotation reaches every proxy quickly.
const rotationCertTTL = 3 * time.Second

// TestRootRotation rotates the mesh's root with an overlapping trust bundle
// while traffic flows through two sidecars, as docs/identity.md tells an
// operator to: (a) trust the new root too, (b) sign with the new root, (c)
// let every proxy renew onto it, (d) drop the old root. The CA is a
// provided one in cert-manager's layout, replaced the way kubelet updates a
// mounted Secret (an atomic symlink swap), and the control plane picks each
// change up by itself. No request and no handshake may fail.
func TestRootRotation(t *testing.T) {
	r := newRotationFixture(t, 80)
	oldRoot, newRoot := r.oldRoot, newRotationRoot(t, "Weft root 2")

	traffic := startTraffic(t, r.net)
	// A connection opened before the rotation must survive it.
	longConn := r.dialFrontend()
	longReader := bufio.NewReader(longConn)
	mustEcho(t, longConn, longReader, "before")

	// (a) Trust both roots.
	r.writeTrustBundle(oldRoot, newRoot)
	r.waitCA("both roots trusted", 1, 2)
	r.waitProxies("both proxies trust both roots", func(c certsView) bool {
		return c.trusts(oldRoot) && c.trusts(newRoot) && len(c.Roots) == 2
	})
	traffic.expectProgress(t)

	// A botched edit of the bundle is refused; the CA keeps both roots.
	r.writeTrustBundleText("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
	waitFor(t, "the broken trust bundle to be refused", func() bool {
		return metricValue(r.monitorMetrics(), `weft_ca_reloads_total{result="failed"}`) >= 1
	})
	r.writeTrustBundle(oldRoot, newRoot)
	r.waitCA("both roots still trusted", 1, 2)

	// (b) Sign with the new root, still trusting the old one.
	r.swapCA(newRoot)
	r.waitCA("signing with the new root", 2, 2)

	// (c) Every proxy renews onto the new root.
	r.waitProxies("both proxies hold a certificate of the new root", func(c certsView) bool {
		return c.issuer() == newRoot.cert.Subject.String() && len(c.Roots) == 2
	})
	traffic.expectProgress(t)

	// (d) Drop the old root.
	r.writeTrustBundle()
	r.waitCA("old root removed", 3, 1)
	r.waitProxies("both proxies trust the new root alone", func(c certsView) bool {
		return c.issuer() == newRoot.cert.Subject.String() && len(c.Roots) == 1 && c.trusts(newRoot)
	})
	// A few more renewals with the new root alone.
	time.Sleep(2 * rotationCertTTL)
	traffic.expectProgress(t)
	mustEcho(t, longConn, longReader, "after")

	ok, failures := traffic.stop()
	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed across the rotation; first: %v", len(failures), ok+len(failures), failures[0])
	}
	t.Logf("%d requests, each on a new mTLS connection, across the rotation", ok)
	for _, p := range []*proxy.Proxy{r.frontend, r.backend} {
		if n := metricSum(metrics(t, p), "weft_proxy_tls_handshake_errors_total"); n != 0 {
			t.Errorf("proxy %s counted %v TLS handshake errors, want 0", p.AdminAddr(), n)
		}
	}

	// The counter checked above is live: a plaintext client on the
	// backend's mesh port is counted.
	plain, err := net.DialTimeout("tcp", r.net+"3:"+strconv.Itoa(backendMeshPort), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(plain, "plaintext\n")
	_ = plain.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.ReadAll(plain)
	_ = plain.Close()
	waitFor(t, "the plaintext attempt to be counted as a handshake error", func() bool {
		return metricSum(metrics(t, r.backend), "weft_proxy_tls_handshake_errors_total") == 1
	})

	// What a peer sees: the backend's certificate verifies against the new
	// root alone, and is the one its /certs reports.
	backendChain := r.peerChain(newRoot)
	if _, _, err := x509svid.Verify(backendChain, x509bundle.FromX509Authorities(r.td, []*x509.Certificate{newRoot.cert})); err != nil {
		t.Errorf("backend's certificate does not verify against the new root: %v", err)
	}
	if got := backendChain[0].Issuer.String(); got != newRoot.cert.Subject.String() {
		t.Errorf("peer sees the backend's certificate issued by %q, want %q", got, newRoot.cert.Subject)
	}
	for name, p := range map[string]*proxy.Proxy{"frontend": r.frontend, "backend": r.backend} {
		c := r.certs(p)
		if c.issuer() != newRoot.cert.Subject.String() || c.trusts(oldRoot) {
			t.Errorf("%s ends with a certificate issued by %q, trusting %d root(s); want the new root only", name, c.issuer(), len(c.Roots))
		}
	}
	monitor := r.monitorMetrics()
	if n := metricValue(monitor, `weft_ca_reloads_total{result="changed"}`); n != 3 {
		t.Errorf("weft_ca_reloads_total{result=changed} = %v, want 3 (add, switch, remove)", n)
	}
}

// rotationFixture is a control plane with a provided CA in a
// Secret-volume-like directory, and two sidecars with an echo app.
type rotationFixture struct {
	t        *testing.T
	dir      string
	net      string
	td       spiffeid.TrustDomain
	oldRoot  *rotationRoot
	cp       *controlplane.ControlPlane
	frontend *proxy.Proxy
	backend  *proxy.Proxy
	swaps    int
}

func newRotationFixture(t *testing.T, subnet int) *rotationFixture {
	t.Helper()
	r := &rotationFixture{
		t:       t,
		dir:     t.TempDir(),
		net:     fmt.Sprintf("127.0.%d.", subnet),
		td:      spiffeid.RequireTrustDomainFromString("cluster.local"),
		oldRoot: newRotationRoot(t, "Weft root 1"),
	}
	for _, d := range []string{"mesh", "ca"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(r.dir, "mesh", "mesh.yaml"), meshYAML(r.net))
	writeFile(t, filepath.Join(r.dir, "frontend-token"), "frontend-token\n")
	writeFile(t, filepath.Join(r.dir, "backend-token"), "backend-token\n")
	writeFile(t, filepath.Join(r.dir, "proxy-roots.pem"), r.oldRoot.certPEM())
	r.swapCA(r.oldRoot)
	r.writeTrustBundle()
	startEcho(t, r.net+"3:"+strconv.Itoa(backendAppPort))

	cfg := controlplane.Default()
	cfg.ConfigDir = filepath.Join(r.dir, "mesh")
	cfg.StateDir = ""
	cfg.CADir = filepath.Join(r.dir, "ca")
	cfg.CATrustBundleFile = filepath.Join(r.dir, "trust.pem")
	cfg.CAReloadInterval = 100 * time.Millisecond
	cfg.DefaultCertTTL = rotationCertTTL
	cfg.XDSAddress = r.net + "1:0"
	cfg.MonitorAddress = r.net + "1:0"
	r.cp = controlplane.New(cfg, testLogger(t, "controlplane"))
	if err := r.cp.Start(t.Context()); err != nil {
		t.Fatalf("starting control plane: %v", err)
	}
	t.Cleanup(func() { _ = r.cp.Close() })

	r.frontend = r.startProxy("frontend-1", "frontend", r.net+"2")
	r.backend = r.startProxy("backend-1", "backend", r.net+"3")
	waitFor(t, "both proxies ready", func() bool { return r.frontend.Ready() && r.backend.Ready() })
	return r
}

func (r *rotationFixture) startProxy(name, sa, addr string) *proxy.Proxy {
	r.t.Helper()
	cfg := proxy.Default()
	cfg.ControlPlaneAddress = r.cp.XDSAddr().String()
	cfg.CARootFile = filepath.Join(r.dir, "proxy-roots.pem")
	cfg.Name, cfg.Namespace, cfg.ServiceAccount = name, "shop", sa
	cfg.TokenFile = filepath.Join(r.dir, sa+"-token")
	cfg.AdminAddress = addr + ":0"
	cfg.StatusAddress = addr + ":0" // loopback, never :15020 on every address
	p := proxy.New(cfg, testLogger(r.t, name))
	ctx, cancel := context.WithTimeout(r.t.Context(), 30*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		r.t.Fatalf("starting proxy %s: %v", name, err)
	}
	r.t.Cleanup(func() { _ = p.Close() })
	return p
}

// swapCA makes root the CA of the ca directory the way kubelet updates a
// mounted Secret: the files are links into ..data, which is a link to a
// fresh directory, swapped with one rename.
func (r *rotationFixture) swapCA(root *rotationRoot) {
	r.t.Helper()
	caDir := filepath.Join(r.dir, "ca")
	r.swaps++
	version := fmt.Sprintf("..v%d", r.swaps)
	if err := os.Mkdir(filepath.Join(caDir, version), 0o700); err != nil {
		r.t.Fatal(err)
	}
	writeFile(r.t, filepath.Join(caDir, version, "tls.crt"), root.certPEM())
	writeFile(r.t, filepath.Join(caDir, version, "tls.key"), root.keyPEM(r.t))
	if err := os.Symlink(version, filepath.Join(caDir, "..data_tmp")); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(caDir, "..data_tmp"), filepath.Join(caDir, "..data")); err != nil {
		r.t.Fatal(err)
	}
	for _, name := range []string{"tls.crt", "tls.key"} {
		link := filepath.Join(caDir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			r.t.Fatal(err)
		}
	}
}

// writeTrustBundle replaces trust.pem, atomically, with roots.
func (r *rotationFixture) writeTrustBundle(roots ...*rotationRoot) {
	r.t.Helper()
	var b strings.Builder
	for _, root := range roots {
		b.WriteString(root.certPEM())
	}
	r.writeTrustBundleText(b.String())
}

func (r *rotationFixture) writeTrustBundleText(text string) {
	r.t.Helper()
	tmp := filepath.Join(r.dir, "trust.pem.tmp")
	writeFile(r.t, tmp, text)
	if err := os.Rename(tmp, filepath.Join(r.dir, "trust.pem")); err != nil {
		r.t.Fatal(err)
	}
}

// waitCA waits until the control plane has taken in `changes` changes of
// its CA files and serves a bundle of `roots` roots.
func (r *rotationFixture) waitCA(what string, changes, roots float64) {
	r.t.Helper()
	waitFor(r.t, "control plane: "+what, func() bool {
		m := r.monitorMetrics()
		return metricValue(m, `weft_ca_reloads_total{result="changed"}`) == changes &&
			metricValue(m, "weft_ca_trust_bundle_roots") == roots
	})
}

func (r *rotationFixture) waitProxies(what string, ok func(certsView) bool) {
	r.t.Helper()
	waitFor(r.t, what, func() bool { return ok(r.certs(r.frontend)) && ok(r.certs(r.backend)) })
}

func (r *rotationFixture) monitorMetrics() string {
	r.t.Helper()
	return httpGet(r.t, "http://"+r.cp.MonitorAddr().String()+"/metrics")
}

func (r *rotationFixture) dialFrontend() net.Conn {
	r.t.Helper()
	conn, err := net.DialTimeout("tcp", r.net+"2:"+strconv.Itoa(frontendLocal), 5*time.Second)
	if err != nil {
		r.t.Fatalf("dialling the frontend sidecar: %v", err)
	}
	r.t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// peerChain connects to the backend's mesh port as the frontend would, with
// a certificate of the frontend's identity signed by root, and returns the
// chain the backend presents.
func (r *rotationFixture) peerChain(root *rotationRoot) []*x509.Certificate {
	r.t.Helper()
	id := spiffeid.RequireFromSegments(r.td, "ns", "shop", "sa", "frontend")
	cert := root.issueLeaf(r.t, id)
	var chain []*x509.Certificate
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true, // verified below, against the new root alone
		VerifyConnection: func(cs tls.ConnectionState) error {
			chain = cs.PeerCertificates
			return nil
		},
	}
	d := tls.Dialer{Config: conf, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	conn, err := d.DialContext(r.t.Context(), "tcp", r.net+"3:"+strconv.Itoa(backendMeshPort))
	if err != nil {
		r.t.Fatalf("mTLS to the backend's mesh port with a new-root certificate: %v", err)
	}
	defer conn.Close()
	// The server verifies the client certificate after sending its own;
	// a round trip shows it accepted ours.
	if _, err := io.WriteString(conn, "peer\n"); err != nil {
		r.t.Fatalf("writing to the backend: %v", err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		r.t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "echo: peer\n" {
		r.t.Fatalf("backend answered %q, %v; want the echo (it refused a new-root client?)", line, err)
	}
	return chain
}

// certsView is the part of a proxy's /certs this test reads.
type certsView struct {
	Chain []struct {
		Issuer string `json:"issuer"`
	} `json:"svid_chain"`
	Roots []struct {
		Subject string `json:"subject"`
		Serial  string `json:"serial"`
	} `json:"trust_bundle"`
}

func (c certsView) issuer() string {
	if len(c.Chain) == 0 {
		return ""
	}
	return c.Chain[0].Issuer
}

func (c certsView) trusts(root *rotationRoot) bool {
	for _, r := range c.Roots {
		if r.Serial == root.cert.SerialNumber.Text(16) {
			return true
		}
	}
	return false
}

func (r *rotationFixture) certs(p *proxy.Proxy) certsView {
	r.t.Helper()
	var c certsView
	body := httpGet(r.t, "http://"+p.AdminAddr().String()+"/certs")
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		r.t.Fatalf("/certs of %s: %v\n%s", p.AdminAddr(), err, body)
	}
	return c
}

// rotationRoot is a root CA the test holds the key of.
type rotationRoot struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newRotationRoot(t *testing.T, cn string) *rotationRoot {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{Organization: []string{"Weft"}, CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &rotationRoot{cert: cert, key: key}
}

func (r *rotationRoot) certPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.cert.Raw}))
}

func (r *rotationRoot) keyPEM(t *testing.T) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(r.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// issueLeaf signs an SVID for id, valid for a minute.
func (r *rotationRoot) issueLeaf(t *testing.T, id spiffeid.ID) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Minute),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		URIs:         []*url.URL{id.URL()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, r.cert, key.Public(), r.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// traffic sends requests through the frontend sidecar without pause, each
// on a new connection (so each is a new mTLS handshake between the
// sidecars), and records every failure.
type traffic struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	ok       atomic.Int64
	mu       sync.Mutex
	failures []error
}

func startTraffic(t *testing.T, netPrefix string) *traffic {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	tr := &traffic{cancel: cancel}
	addr := netPrefix + "2:" + strconv.Itoa(frontendLocal)
	for w := range 4 {
		tr.wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				if err := oneRequest(ctx, addr, fmt.Sprintf("w%d-%d", w, i)); err != nil {
					if ctx.Err() != nil {
						return
					}
					tr.mu.Lock()
					tr.failures = append(tr.failures, err)
					tr.mu.Unlock()
					continue
				}
				tr.ok.Add(1)
			}
		})
	}
	t.Cleanup(func() { tr.stop() })
	return tr
}

func oneRequest(ctx context.Context, addr, msg string) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	got, err := roundTrip(conn, bufio.NewReader(conn), msg)
	if err != nil {
		return fmt.Errorf("request %s: %w", msg, err)
	}
	if got != "echo: "+msg {
		return fmt.Errorf("request %s: answer %q", msg, got)
	}
	return nil
}

// expectProgress fails the test unless requests keep succeeding.
func (tr *traffic) expectProgress(t *testing.T) {
	t.Helper()
	before := tr.ok.Load()
	waitFor(t, "requests to keep succeeding", func() bool { return tr.ok.Load() >= before+20 })
}

// stop ends the traffic and returns the successes and failures.
func (tr *traffic) stop() (int, []error) {
	tr.cancel()
	tr.wg.Wait()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return int(tr.ok.Load()), tr.failures
}

func mustEcho(t *testing.T, conn net.Conn, r *bufio.Reader, msg string) {
	t.Helper()
	got, err := roundTrip(conn, r, msg)
	if err != nil || got != "echo: "+msg {
		t.Fatalf("long-lived connection: %q, %v; want the echo of %q", got, err, msg)
	}
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", u, resp.Status, body)
	}
	return string(body)
}

// metricValue returns the value of the series named exactly (name and
// labels as exposed), 0 when absent.
func metricValue(page, series string) float64 {
	for line := range strings.Lines(page) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			v, _ := strconv.ParseFloat(rest, 64)
			return v
		}
	}
	return 0
}

// metricSum adds up every series of a metric.
func metricSum(page, name string) float64 {
	var sum float64
	for line := range strings.Lines(page) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			v, _ := strconv.ParseFloat(line[i+1:], 64)
			sum += v
		}
	}
	return sum
}
