package ca_test

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/weftmesh/weft/controlplane/ca"
)

// TestUpdateRotatesRoot walks a root rotation through Update: trust the new
// root, sign with it, drop the old one. At each step the leaves issued
// before and after verify against the bundle served then, as they must for
// peers holding either.
func TestUpdateRotatesRoot(t *testing.T) {
	oldRoot := newTestCA(t, "old root", nil, caOpts{})
	newRoot := newTestCA(t, "new root", nil, caOpts{})
	a, err := ca.NewAuthority(td, ca.Material{Cert: oldRoot.cert, Key: oldRoot.key}, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := workloadID(t, "shop", "cart")
	sign := func() []*x509.Certificate {
		t.Helper()
		chain, err := a.Sign(makeCSR(t, p256Key(t), &x509.CertificateRequest{URIs: uris(id)}), id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return chain
	}
	verifies := func(chain []*x509.Certificate) bool {
		_, _, err := x509svid.Verify(chain, x509bundle.FromX509Authorities(td, a.Bundle()))
		return err == nil
	}
	serving := a.NewServingCertSource(nil, time.Hour)
	servingIssuer := func() string {
		t.Helper()
		c, err := serving.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.Issuer.CommonName
	}
	update := func(m ca.Material, wantChanged bool) {
		t.Helper()
		changed, err := a.Update(m)
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if changed != wantChanged {
			t.Fatalf("Update reported changed=%v, want %v", changed, wantChanged)
		}
	}

	oldLeaf := sign()
	if got := servingIssuer(); got != "old root" {
		t.Fatalf("serving certificate issued by %q, want old root", got)
	}

	// (a) trust the new root too.
	update(ca.Material{Cert: oldRoot.cert, Key: oldRoot.key, Roots: []*x509.Certificate{newRoot.cert}}, true)
	update(ca.Material{Cert: oldRoot.cert, Key: oldRoot.key, Roots: []*x509.Certificate{newRoot.cert}}, false)
	if n := len(a.Bundle()); n != 2 {
		t.Fatalf("bundle has %d roots after adding one, want 2", n)
	}
	if !verifies(oldLeaf) || !verifies(sign()) {
		t.Fatal("old-root leaves stopped verifying while both roots are trusted")
	}

	// (b) sign with the new root, still trusting the old one.
	update(ca.Material{Cert: newRoot.cert, Key: newRoot.key, Roots: []*x509.Certificate{oldRoot.cert}}, true)
	newLeaf := sign()
	if got := newLeaf[0].Issuer.CommonName; got != "new root" {
		t.Fatalf("leaf issued by %q after the switch, want new root", got)
	}
	if !verifies(oldLeaf) || !verifies(newLeaf) {
		t.Fatal("during the overlap, a leaf of either root must verify")
	}
	if got := servingIssuer(); got != "new root" {
		t.Errorf("serving certificate still issued by %q after the switch, want new root", got)
	}

	// A broken update is refused and changes nothing.
	if _, err := a.Update(ca.Material{Cert: newRoot.cert, Key: oldRoot.key}); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("Update with a mismatched key: %v, want a refusal", err)
	}
	if !a.SigningCertificate().Equal(newRoot.cert) || len(a.Bundle()) != 2 {
		t.Error("a refused update changed the authority")
	}

	// (d) drop the old root.
	update(ca.Material{Cert: newRoot.cert, Key: newRoot.key}, true)
	if b := a.Bundle(); len(b) != 1 || !b[0].Equal(newRoot.cert) {
		t.Fatal("bundle is not the new root alone")
	}
	if verifies(oldLeaf) {
		t.Error("an old-root leaf still verifies after the old root was removed")
	}
	if !verifies(newLeaf) {
		t.Error("a new-root leaf does not verify")
	}
	if !a.BundlePool().Equal(poolOf(newRoot.cert)) {
		t.Error("BundlePool does not match Bundle")
	}
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
