package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftmesh/weft/controlplane"
	"github.com/weftmesh/weft/proxy"
	"github.com/weftmesh/weft/proxy/identity"
)

// rotationTTL is the certificate lifetime the proxies ask for: renewal is
// due every 24 to 33 seconds (40% to 55% of it).
const rotationTTL = time.Minute

// TestRotationUnderLoad runs traffic through two sidecars whose
// certificates live a minute, for at least three renewals of each: no
// request may fail, kept-alive connections must survive every renewal and
// the expiry of the certificate they were opened with, and each renewal
// must show up as a new serial, both on /certs and in the certificate the
// backend's sidecar presents to a peer.
func TestRotationUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 100s: three renewals of one-minute certificates")
	}
	const rotations = 3
	f := newRotationMesh(t, 85)
	backendMesh := fmt.Sprintf("%s3:%d", f.net, backendMeshPort)

	load := startLoad(t, f.net+"2:"+fmt.Sprint(frontendLocal), 4, 2)

	front := &serialLog{}
	back := &serialLog{}
	presented := &serialLog{} // the backend's certificate, as a peer sees it
	// Renewals come at most 55% of the TTL apart; allow for a slow machine.
	budget := rotations*rotationTTL*55/100 + 30*time.Second
	deadline := time.Now().Add(budget)
	for {
		front.add(leafSerial(t, f.frontend))
		back.add(leafSerial(t, f.backend))
		presented.add(presentedSerial(t, backendMesh))
		if front.changes() >= rotations && back.changes() >= rotations && presented.changes() >= rotations {
			break
		}
		if err := load.firstError(); err != nil {
			t.Fatalf("a request failed during rotation: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: frontend serials %v, backend serials %v, presented by the backend %v; want %d changes each",
				budget, front.serials, back.serials, presented.serials, rotations)
		}
		time.Sleep(250 * time.Millisecond)
	}
	ok, failed := load.stop()
	t.Logf("%d requests, frontend serials %v, backend serials %v", ok, front.serials, back.serials)
	if failed != 0 {
		t.Fatalf("%d of %d requests failed during rotation; first: %v", failed, ok+failed, load.firstError())
	}
	if ok < 1000 {
		t.Errorf("only %d requests succeeded: too little load to show anything", ok)
	}

	// Each renewal gave a new serial, never one seen before.
	for name, l := range map[string]*serialLog{"frontend": front, "backend": back, "presented by the backend": presented} {
		if !l.allDistinct() {
			t.Errorf("%s serials repeat: %v", name, l.serials)
		}
	}
	// What a peer sees is what /certs says: every serial the backend held
	// (after the first, which the probe may have missed only if it was
	// replaced within a poll) was presented.
	for _, s := range back.serials[1:] {
		if !slices.Contains(presented.serials, s) {
			t.Errorf("the backend's serial %s never reached a peer (peers saw %v)", s, presented.serials)
		}
	}

	for name, p := range map[string]*proxy.Proxy{"frontend": f.frontend, "backend": f.backend} {
		c := certs(t, p)
		leaf := c.Chain[0]
		if left := time.Until(leaf.NotAfter); left > rotationTTL || left <= 0 {
			t.Errorf("%s: current certificate expires in %s, want within the %s TTL", name, left, rotationTTL)
		}
		page := metrics(t, p)
		if got, want := sampleValue(page, "weft_proxy_svid_expiry_timestamp_seconds"), float64(leaf.NotAfter.Unix()); got != want {
			t.Errorf("%s: weft_proxy_svid_expiry_timestamp_seconds = %v, want /certs' not_after %v:\n%s", name, got, want, grepLines(page, "weft_proxy_svid"))
		}
		if hasSeries(page, "weft_proxy_svid_renewals_total", `result="failure"`) {
			t.Errorf("%s: failed renewals with the CA up:\n%s", name, grepLines(page, "weft_proxy_svid"))
		}
		if !hasSeries(page, "weft_proxy_svid_renewals_total", `result="success"`) {
			t.Errorf("%s: no successful renewal counted:\n%s", name, grepLines(page, "weft_proxy_svid"))
		}
		if strings.Contains(page, `reason="upstream_`) {
			t.Errorf("%s: upstream handshakes failed during rotation:\n%s", name, grepLines(page, "weft_proxy_tls_handshake_errors_total"))
		}
	}
	// The probe's own handshakes are refused (it has no client
	// certificate); any other refusal is a rotation failure.
	for _, line := range strings.Split(grepLines(metrics(t, f.backend), "weft_proxy_tls_handshake_errors_total"), "\n") {
		if line != "" && !strings.Contains(line, `reason="no_client_certificate"`) {
			t.Errorf("backend refused a handshake during rotation: %s", line)
		}
	}
}

// rotationMesh is the control plane and two sidecars of meshYAML, with
// certificates of rotationTTL.
type rotationMesh struct {
	net               string
	frontend, backend *proxy.Proxy
}

func newRotationMesh(t *testing.T, subnet int) *rotationMesh {
	t.Helper()
	dir := t.TempDir()
	f := &rotationMesh{net: fmt.Sprintf("127.0.%d.", subnet)}
	for _, d := range []string{"mesh", "state"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "mesh", "mesh.yaml"), meshYAML(f.net))
	startEcho(t, f.net+"3:"+fmt.Sprint(backendAppPort))

	cpCfg := controlplane.Default()
	cpCfg.ConfigDir = filepath.Join(dir, "mesh")
	cpCfg.StateDir = filepath.Join(dir, "state")
	cpCfg.XDSAddress = f.net + "1:0"
	cpCfg.MonitorAddress = f.net + "1:0"
	cp := controlplane.New(cpCfg, testLogger(t, "controlplane"))
	if err := cp.Start(t.Context()); err != nil {
		t.Fatalf("starting control plane: %v", err)
	}
	t.Cleanup(func() { _ = cp.Close() })

	start := func(name, sa, addr string) *proxy.Proxy {
		writeFile(t, filepath.Join(dir, sa+"-token"), sa+"-token\n")
		cfg := proxy.Default()
		cfg.ControlPlaneAddress = cp.XDSAddr().String()
		cfg.CARootFile = filepath.Join(dir, "state", "root-cert.pem")
		cfg.Name, cfg.Namespace, cfg.ServiceAccount = name, "shop", sa
		cfg.TokenFile = filepath.Join(dir, sa+"-token")
		cfg.AdminAddress = addr + ":0"
		cfg.StatusAddress = addr + ":0" // loopback, never :15020 on every address
		cfg.CertTTL = rotationTTL
		p := proxy.New(cfg, testLogger(t, name))
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if err := p.Start(ctx); err != nil {
			t.Fatalf("starting proxy %s: %v", name, err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	f.frontend = start("frontend-1", "frontend", f.net+"2")
	f.backend = start("backend-1", "backend", f.net+"3")
	waitFor(t, "both proxies ready", func() bool { return f.frontend.Ready() && f.backend.Ready() })
	return f
}

// load sends requests through the frontend's sidecar: some workers on
// connections kept open for the whole test, others on a new connection
// per request.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ok     atomic.Int64
	failed atomic.Int64
	mu     sync.Mutex
	first  error
}

func startLoad(t *testing.T, addr string, keptAlive, newConns int) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	l := &load{cancel: cancel}
	t.Cleanup(func() { l.stop() })
	for i := range keptAlive {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dialling the frontend sidecar: %v", err)
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer conn.Close()
			r := bufio.NewReader(conn)
			for n := 0; ctx.Err() == nil; n++ {
				l.record(request(conn, r, fmt.Sprintf("kept-alive %d request %d", i, n)))
				pause(ctx)
			}
		}()
	}
	for i := range newConns {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					l.record(fmt.Errorf("dial: %w", err))
					pause(ctx)
					continue
				}
				l.record(request(conn, bufio.NewReader(conn), fmt.Sprintf("new connection %d request %d", i, n)))
				_ = conn.Close()
				pause(ctx)
			}
		}()
	}
	return l
}

func pause(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(20 * time.Millisecond):
	}
}

func request(conn net.Conn, r *bufio.Reader, msg string) error {
	got, err := roundTrip(conn, r, msg)
	if err != nil {
		return fmt.Errorf("%s: %w", msg, err)
	}
	if want := "echo: " + msg; got != want {
		return fmt.Errorf("%s: got %q, want %q", msg, got, want)
	}
	return nil
}

func (l *load) record(err error) {
	if err == nil {
		l.ok.Add(1)
		return
	}
	l.failed.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.first == nil {
		l.first = err
	}
}

func (l *load) firstError() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

// stop ends the load (requests under way finish first) and returns the
// counts.
func (l *load) stop() (ok, failed int64) {
	l.cancel()
	l.wg.Wait()
	return l.ok.Load(), l.failed.Load()
}

// serialLog is the sequence of distinct serials observed, in order.
type serialLog struct{ serials []string }

func (l *serialLog) add(s string) {
	if s != "" && (len(l.serials) == 0 || l.serials[len(l.serials)-1] != s) {
		l.serials = append(l.serials, s)
	}
}

func (l *serialLog) changes() int { return max(len(l.serials)-1, 0) }

func (l *serialLog) allDistinct() bool {
	seen := map[string]bool{}
	for _, s := range l.serials {
		if seen[s] {
			return false
		}
		seen[s] = true
	}
	return true
}

// certs returns a proxy's /certs.
func certs(t *testing.T, p *proxy.Proxy) *identity.Certs {
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
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/certs: %s", resp.Status)
	}
	var c identity.Certs
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatalf("/certs is not the documented JSON: %v", err)
	}
	if len(c.Chain) == 0 || len(c.Roots) == 0 || c.Chain[0].Serial == "" || len(c.Chain[0].URISANs) != 1 {
		t.Fatalf("/certs lacks the chain or the bundle: %+v", c)
	}
	return &c
}

func leafSerial(t *testing.T, p *proxy.Proxy) string {
	t.Helper()
	return certs(t, p).Chain[0].Serial
}

// presentedSerial is the serial of the certificate the sidecar at addr
// presents to a new connection. The probe has no client certificate, so
// the sidecar refuses it after sending its own (TLS 1.3): the probe reads
// the certificate and goes.
func presentedSerial(t *testing.T, addr string) string {
	t.Helper()
	var serial string
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // the probe only reads the certificate; it trusts nothing
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				serial = cs.PeerCertificates[0].SerialNumber.Text(16)
			}
			return nil
		},
	})
	if err == nil {
		_ = conn.Close()
	}
	return serial // empty when the probe could not connect
}

// sampleValue is the value of the unlabelled sample name on a /metrics
// page, or -1.
func sampleValue(page, name string) float64 {
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
