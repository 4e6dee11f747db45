package identity_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/weftmesh/weft/proxy/identity"
)

// These tests run a real gRPC server implementing the SPIFFE Workload API
// (the service a SPIRE agent serves) on a unix socket, and go-spiffe's real
// client against it.

// spireCA issues X509-SVIDs as a SPIRE server would.
type spireCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newSpireCA(t *testing.T) *spireCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"SPIRE"}, CommonName: "test root"},
		URIs:                  []*url.URL{td.ID().URL()},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &spireCA{cert: cert, key: key}
}

// svid returns a Workload API X509SVID message for id, valid for ttl.
func (c *spireCA) svid(t *testing.T, id string, ttl time.Duration) (*workload.X509SVID, *x509.Certificate) {
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
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"SPIRE"}},
		URIs:         []*url.URL{spiffeid.RequireFromString(id).URL()},
		NotBefore:    time.Now().Add(-time.Second),
		NotAfter:     time.Now().Add(ttl),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &workload.X509SVID{SpiffeId: id, X509Svid: der, X509SvidKey: keyDER, Bundle: c.cert.Raw}, leaf
}

// workloadAPI serves FetchX509SVID: each stream gets the current response,
// then every later one set by push, as a SPIRE agent streams rotations.
type workloadAPI struct {
	workload.UnimplementedSpiffeWorkloadAPIServer
	mu      sync.Mutex
	resp    *workload.X509SVIDResponse
	refuse  error // returned to every stream when set
	changed chan struct{}
}

func (w *workloadAPI) FetchX509SVID(_ *workload.X509SVIDRequest, stream grpc.ServerStreamingServer[workload.X509SVIDResponse]) error {
	// A real agent refuses clients that do not send this header.
	if md, _ := metadata.FromIncomingContext(stream.Context()); len(md.Get("workload.spiffe.io")) != 1 || md.Get("workload.spiffe.io")[0] != "true" {
		return status.Error(codes.InvalidArgument, "security header missing from request")
	}
	for {
		w.mu.Lock()
		resp, refuse, changed := w.resp, w.refuse, w.changed
		w.mu.Unlock()
		if refuse != nil {
			return refuse
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-changed:
		}
	}
}

// push makes svids the Workload API's answer, on open streams too.
func (w *workloadAPI) push(svids ...*workload.X509SVID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.resp = &workload.X509SVIDResponse{Svids: svids}
	if w.changed != nil {
		close(w.changed)
	}
	w.changed = make(chan struct{})
}

// serveWorkloadAPI serves api on a unix socket until the test ends and
// returns its address (unix:///...).
func serveWorkloadAPI(t *testing.T, api *workloadAPI) string {
	t.Helper()
	// Unix socket paths are limited to about 100 bytes: t.TempDir is too
	// long with long test names.
	dir, err := os.MkdirTemp("", "wapi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	path := filepath.Join(dir, "agent.sock")
	var lc net.ListenConfig
	lis, err := lc.Listen(t.Context(), "unix", path)
	if err != nil {
		t.Fatal(err)
	}
	api.mu.Lock()
	if api.changed == nil {
		api.changed = make(chan struct{})
	}
	api.mu.Unlock()
	srv := grpc.NewServer()
	workload.RegisterSpiffeWorkloadAPIServer(srv, api)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "unix://" + path
}

func wapiConfig(t *testing.T, addr, id string, reg prometheus.Registerer) identity.WorkloadAPIConfig {
	return identity.WorkloadAPIConfig{
		Address:     addr,
		TrustDomain: td,
		ID:          spiffeid.RequireFromString(id),
		Logger:      testLogger(t),
		Registerer:  reg,
	}
}

func startWAPI(t *testing.T, cfg identity.WorkloadAPIConfig) *identity.WorkloadAPISource {
	t.Helper()
	s := identity.NewWorkloadAPISource(cfg)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return s
}

const (
	cartID = "spiffe://cluster.test/ns/shop/sa/cart"
	webID  = "spiffe://cluster.test/ns/shop/sa/web"
)

func TestWorkloadAPISourceFollowsRotation(t *testing.T) {
	ca := newSpireCA(t)
	first, firstLeaf := ca.svid(t, cartID, time.Hour)
	api := &workloadAPI{}
	api.push(first)
	addr := serveWorkloadAPI(t, api)
	reg := prometheus.NewRegistry()
	src := startWAPI(t, wapiConfig(t, addr, cartID, reg))

	svid, err := src.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	if svid.ID.String() != cartID || !svid.Certificates[0].Equal(firstLeaf) {
		t.Fatalf("SVID %s serial %s, want the agent's for %s", svid.ID, svid.Certificates[0].SerialNumber, cartID)
	}
	if got := gauge(t, reg, "weft_proxy_svid_expiry_timestamp_seconds"); got != float64(firstLeaf.NotAfter.Unix()) {
		t.Errorf("expiry gauge = %v, want NotAfter %d", got, firstLeaf.NotAfter.Unix())
	}

	// A TLS configuration built once follows the agent's rotation.
	serverTLS := tlsconfig.MTLSServerConfig(src, src, tlsconfig.AuthorizeID(spiffeid.RequireFromString(cartID)))
	clientTLS := tlsconfig.MTLSClientConfig(src, src, tlsconfig.AuthorizeID(spiffeid.RequireFromString(cartID)))
	if presented := handshakeWith(t, serverTLS, clientTLS); !presented.Equal(firstLeaf) {
		t.Fatal("server did not present the agent's SVID")
	}

	second, secondLeaf := ca.svid(t, cartID, 2*time.Hour)
	api.push(second)
	waitUntil(t, "the source to hold the rotated SVID", func() bool {
		svid, err := src.GetX509SVID()
		return err == nil && svid.Certificates[0].Equal(secondLeaf)
	})
	if presented := handshakeWith(t, serverTLS, clientTLS); !presented.Equal(secondLeaf) {
		t.Errorf("after rotation the server presented serial %s, want %s", presented.SerialNumber, secondLeaf.SerialNumber)
	}
	waitUntil(t, "the metrics to follow the rotation", func() bool {
		return gauge(t, reg, "weft_proxy_svid_expiry_timestamp_seconds") == float64(secondLeaf.NotAfter.Unix()) &&
			counter(t, reg, "weft_proxy_svid_renewals_total", "success") == 1
	})

	certs, err := src.Certs(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if certs.Source != identity.SourceWorkloadAPI || certs.SPIFFEID != cartID || certs.RenewAt != nil {
		t.Errorf("Certs = source %q, ID %q, renew_at %v; want workload-api, %s, none", certs.Source, certs.SPIFFEID, certs.RenewAt, cartID)
	}
	if len(certs.Chain) != 1 || certs.Chain[0].Serial != secondLeaf.SerialNumber.Text(16) {
		t.Errorf("Certs chain = %+v, want the rotated leaf %x", certs.Chain, secondLeaf.SerialNumber)
	}
	if len(certs.Roots) != 1 || certs.Roots[0].Serial != "1" || certs.Roots[0].Subject != "CN=test root,O=SPIRE" {
		t.Errorf("Certs roots = %+v, want the agent's bundle root", certs.Roots)
	}
}

func TestWorkloadAPISourcePicksTheWorkloadsSVID(t *testing.T) {
	ca := newSpireCA(t)
	other, _ := ca.svid(t, webID, time.Hour)
	mine, mineLeaf := ca.svid(t, cartID, time.Hour)
	api := &workloadAPI{}
	api.push(other, mine)
	src := startWAPI(t, wapiConfig(t, serveWorkloadAPI(t, api), cartID, nil))
	svid, err := src.GetX509SVID()
	if err != nil || !svid.Certificates[0].Equal(mineLeaf) {
		t.Fatalf("GetX509SVID = %v, %v; want the SVID for %s among two", svid, err, cartID)
	}
}

func TestWorkloadAPISourceStartFails(t *testing.T) {
	ca := newSpireCA(t)
	wrong, _ := ca.svid(t, webID, time.Hour)
	foreign, _ := ca.svid(t, "spiffe://other.test/ns/shop/sa/cart", time.Hour)

	// A socket nobody serves.
	dir, err := os.MkdirTemp("", "wapi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	tests := []struct {
		name string
		addr func(t *testing.T) string
		want string
	}{
		{"agent not running", func(*testing.T) string { return "unix://" + filepath.Join(dir, "none.sock") }, "no SVID from the Workload API at unix://"},
		{"workload not registered", func(t *testing.T) string {
			return serveWorkloadAPI(t, &workloadAPI{refuse: status.Error(codes.PermissionDenied, "no identity issued")})
		}, "no identity issued"},
		{"another workload's SVID", func(t *testing.T) string {
			api := &workloadAPI{}
			api.push(wrong)
			return serveWorkloadAPI(t, api)
		}, "without " + cartID + " (first: " + webID + "); register the workload under that ID"},
		{"SVID of another trust domain", func(t *testing.T) string {
			api := &workloadAPI{}
			api.push(foreign)
			return serveWorkloadAPI(t, api)
		}, "(first: spiffe://other.test/ns/shop/sa/cart)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := identity.NewWorkloadAPISource(wapiConfig(t, tt.addr(t), cartID, nil))
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
			defer cancel()
			err := s.Start(ctx)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start = %v, want an error containing %q", err, tt.want)
			}
			if _, err := s.GetX509SVID(); err == nil {
				t.Error("GetX509SVID succeeded after a failed Start")
			}
		})
	}
}

func TestWorkloadAPISourceCloseInterruptsStart(t *testing.T) {
	dir, err := os.MkdirTemp("", "wapi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	s := identity.NewWorkloadAPISource(wapiConfig(t, "unix://"+filepath.Join(dir, "none.sock"), cartID, nil))
	started := make(chan error, 1)
	go func() { started <- s.Start(t.Context()) }()
	time.Sleep(300 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-started:
		if err == nil {
			t.Fatal("Start succeeded without a Workload API")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Start still waiting 5s after Close")
	}
	if err := s.Start(t.Context()); err == nil {
		t.Error("second Start succeeded")
	}
}

func TestWorkloadAPIConfigErrors(t *testing.T) {
	valid := wapiConfig(t, "unix:///run/spire/agent.sock", cartID, nil)
	tests := []struct {
		name   string
		mutate func(*identity.WorkloadAPIConfig)
		want   string
	}{
		{"no address", func(c *identity.WorkloadAPIConfig) { c.Address = "" }, "workload API address: required"},
		{"path without scheme", func(c *identity.WorkloadAPIConfig) { c.Address = "/run/spire/agent.sock" }, `workload API address "/run/spire/agent.sock": workload endpoint socket URI must have a "tcp" or "unix" scheme`},
		{"tcp without IP", func(c *identity.WorkloadAPIConfig) { c.Address = "tcp://localhost:8081" }, "host component must be an IP:port"},
		{"no trust domain", func(c *identity.WorkloadAPIConfig) { c.TrustDomain = spiffeid.TrustDomain{} }, "TrustDomain: required"},
		{"no ID", func(c *identity.WorkloadAPIConfig) { c.ID = spiffeid.ID{} }, "ID: required"},
		{"ID of another trust domain", func(c *identity.WorkloadAPIConfig) {
			c.ID = spiffeid.RequireFromString("spiffe://other.test/ns/shop/sa/cart")
		}, `not in trust domain "cluster.test"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.mutate(&cfg)
			s := identity.NewWorkloadAPISource(cfg)
			err := s.Start(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start = %v, want an error containing %q", err, tt.want)
			}
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

// TestCertsHasNoKeyMaterial encodes /certs' answer as JSON and looks for
// the key in every encoding it could take.
func TestCertsHasNoKeyMaterial(t *testing.T) {
	ca := newSpireCA(t)
	msg, _ := ca.svid(t, cartID, time.Hour)
	api := &workloadAPI{}
	api.push(msg)
	src := startWAPI(t, wapiConfig(t, serveWorkloadAPI(t, api), cartID, nil))
	certs, err := src.Certs(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(certs)
	if err != nil {
		t.Fatal(err)
	}
	svid, _ := src.GetX509SVID()
	key := svid.PrivateKey.(*ecdsa.PrivateKey)
	d, err := key.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{string(d), hexOf(d), b64Of(d), b64Of(msg.GetX509SvidKey()), "PRIVATE", "private"} {
		if strings.Contains(string(body), secret) {
			t.Fatalf("/certs JSON contains key material (%.12q...): %s", secret, body)
		}
	}
	if !strings.Contains(string(body), `"expires_in_seconds":`) || !strings.Contains(string(body), `"uri_sans":["`+cartID+`"]`) {
		t.Errorf("/certs JSON lacks expiry or URI SAN: %s", body)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWorkloadAPISourceWarnsWhenNotRenewed: an agent that stops rotating
// does not let the SVID expire silently.
func TestWorkloadAPISourceWarnsWhenNotRenewed(t *testing.T) {
	ca := newSpireCA(t)
	msg, _ := ca.svid(t, cartID, 2*time.Second) // valid 3s from NotBefore: overdue after 2.4s
	api := &workloadAPI{}
	api.push(msg)
	reg := prometheus.NewRegistry()
	cfg := wapiConfig(t, serveWorkloadAPI(t, api), cartID, reg)
	logs := &recorder{}
	cfg.Logger = slog.New(logs.handler(t))
	startWAPI(t, cfg)
	waitUntil(t, "a warning that the agent did not renew", func() bool {
		return logs.has(slog.LevelWarn, "Workload API has not renewed the certificate") &&
			counter(t, reg, "weft_proxy_svid_renewals_total", "failure") >= 1
	})
	waitUntil(t, "an error once the SVID expired", func() bool {
		return logs.has(slog.LevelError, "certificate from the Workload API has expired and was not renewed")
	})
}
