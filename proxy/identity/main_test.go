package identity_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	cav1 "github.com/weftmesh/weft/api/ca/v1"
	"github.com/weftmesh/weft/controlplane/ca"
	"github.com/weftmesh/weft/proxy/identity"
)

// These tests run the real CA service (controlplane/ca) over gRPC/TLS on
// loopback. Only the tests import the control plane; the package does not.

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var td = spiffeid.RequireTrustDomainFromString("cluster.test")

// testCA is an Authority whose Service can be served on loopback.
type testCA struct {
	auth   *ca.Authority
	tokens map[string][2]string // token -> namespace, service account
}

func newTestCA(t *testing.T, tokens map[string][2]string) *testCA {
	t.Helper()
	auth, err := ca.LoadOrCreate(t.TempDir(), td, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{auth: auth, tokens: tokens}
}

// serve serves the CA on lis until the test ends or stop is called,
// presenting cert (the control plane's serving certificate when nil).
func (c *testCA) serve(t *testing.T, lis net.Listener, cert *tls.Certificate) (stop func()) {
	t.Helper()
	entries := make([]ca.TokenEntry, 0, len(c.tokens))
	for token, who := range c.tokens {
		sum := sha256.Sum256([]byte(token))
		entries = append(entries, ca.TokenEntry{SHA256Hex: hex.EncodeToString(sum[:]), Namespace: who[0], ServiceAccount: who[1]})
	}
	authn := ca.NewTokenAuthenticator(func(context.Context) []ca.TokenEntry { return entries })
	svc, err := ca.NewService(c.auth, authn, ca.ServiceConfig{}, slog.New(slog.NewTextHandler(t.Output(), nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS13}
	if cert != nil {
		tlsCfg.Certificates = []tls.Certificate{*cert}
	} else {
		tlsCfg.GetCertificate = c.auth.NewServingCertSource(nil, time.Hour).GetCertificate
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsCfg)))
	cav1.RegisterCertificateServiceServer(srv, svc)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			srv.Stop()
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

// config returns a Manager config for ns/sa presenting token to the CA.
func (c *testCA) config(t *testing.T, addr, ns, sa, token string) identity.Config {
	return identity.Config{
		CAAddress:      addr,
		TrustDomain:    td,
		Namespace:      ns,
		ServiceAccount: sa,
		Token:          func(context.Context) (string, error) { return token, nil },
		RootCAs:        c.auth.Bundle(),
		RetryInitial:   50 * time.Millisecond,
		RetryMax:       500 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
}

// startManager starts a Manager and closes it when the test ends.
func startManager(t *testing.T, cfg identity.Config) *identity.Manager {
	t.Helper()
	m := identity.New(cfg)
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return m
}

// workloadCert issues a certificate for a workload ID, for a server that
// must not be accepted as the control plane.
func (c *testCA) workloadCert(t *testing.T, id spiffeid.ID) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{id.URL()}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := c.auth.Sign(csr, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{chain[0].Raw}, PrivateKey: crypto.Signer(key), Leaf: chain[0]}
}
