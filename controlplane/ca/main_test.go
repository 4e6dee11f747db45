package ca_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.uber.org/goleak"

	"github.com/weftmesh/weft/controlplane/ca"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var td = spiffeid.RequireTrustDomainFromString("cluster.test")

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newAuthority(t testing.TB, now func() time.Time) *ca.Authority {
	t.Helper()
	a, err := ca.LoadOrCreate(t.TempDir(), td, now)
	if err != nil {
		t.Fatalf("LoadOrCreate: %v", err)
	}
	return a
}

func workloadID(t testing.TB, ns, sa string) spiffeid.ID {
	t.Helper()
	return spiffeid.RequireFromSegments(td, "ns", ns, "sa", sa)
}

func p256Key(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// makeCSR returns a CSR signed by key; tmpl may be changed by the caller.
func makeCSR(t *testing.T, key crypto.Signer, tmpl *x509.CertificateRequest) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatalf("CreateCertificateRequest: %v", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatalf("ParseCertificateRequest: %v", err)
	}
	return csr
}

func uris(ids ...spiffeid.ID) []*url.URL {
	out := make([]*url.URL, 0, len(ids))
	for _, id := range ids {
		out = append(out, id.URL())
	}
	return out
}

func spiffeIDIn(t *testing.T, trustDomain string) spiffeid.ID {
	t.Helper()
	return spiffeid.RequireFromSegments(spiffeid.RequireTrustDomainFromString(trustDomain), "ns", "default", "sa", "app")
}
