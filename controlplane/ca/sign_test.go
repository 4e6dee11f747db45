package ca_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/weftmesh/weft/controlplane/ca"
)

func TestSign(t *testing.T) {
	clk := newClock()
	a := newAuthority(t, clk.Now)
	bundle := x509bundle.FromX509Authorities(td, a.Bundle())
	id := workloadID(t, "shop", "cart")

	_, ed25519Key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]crypto.Signer{
		"ECDSA P-256": p256Key(t),
		"ECDSA P-384": p384,
		"RSA 2048":    rsaKey,
		"Ed25519":     ed25519Key,
	}
	var serials []string
	for name, key := range keys {
		t.Run(name, func(t *testing.T) {
			csr := makeCSR(t, key, &x509.CertificateRequest{URIs: uris(id)})
			chain, err := a.Sign(csr, id, 2*time.Hour)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			gotID, _, err := x509svid.Verify(chain, bundle, x509svid.WithTime(clk.Now()))
			if err != nil {
				t.Fatalf("x509svid.Verify: %v", err)
			}
			if gotID != id {
				t.Errorf("SVID ID = %s, want %s", gotID, id)
			}
			leaf := chain[0]
			if leaf.IsCA {
				t.Error("leaf is CA:true")
			}
			if want := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment; leaf.KeyUsage != want {
				t.Errorf("leaf key usage = %v, want %v", leaf.KeyUsage, want)
			}
			if want := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}; !slices.Equal(leaf.ExtKeyUsage, want) {
				t.Errorf("leaf ext key usage = %v, want %v", leaf.ExtKeyUsage, want)
			}
			if len(leaf.DNSNames)+len(leaf.IPAddresses)+len(leaf.EmailAddresses) != 0 || len(leaf.URIs) != 1 {
				t.Errorf("leaf SANs: URIs %v DNS %v IP %v email %v, want one URI", leaf.URIs, leaf.DNSNames, leaf.IPAddresses, leaf.EmailAddresses)
			}
			if want := clk.Now().Add(-time.Minute); !leaf.NotBefore.Equal(want) {
				t.Errorf("NotBefore = %v, want %v", leaf.NotBefore, want)
			}
			if want := clk.Now().Add(2 * time.Hour); !leaf.NotAfter.Equal(want) {
				t.Errorf("NotAfter = %v, want %v", leaf.NotAfter, want)
			}
			if bits := leaf.SerialNumber.BitLen(); bits > 128 || bits < 64 {
				t.Errorf("serial has %d bits, want a random 128-bit number", bits)
			}
			pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
			if !ok || !pub.Equal(leaf.PublicKey) {
				t.Error("leaf does not carry the CSR's public key")
			}
			serials = append(serials, leaf.SerialNumber.String())
		})
	}
	slices.Sort(serials)
	if len(slices.Compact(serials)) != len(keys) {
		t.Errorf("serials repeat: %v", serials)
	}
}

func TestSignClampsToRootLifetime(t *testing.T) {
	clk := newClock()
	a := newAuthority(t, clk.Now)
	root := a.Bundle()[0]
	clk.Advance(root.NotAfter.Sub(clk.Now()) - time.Hour)
	id := workloadID(t, "default", "app")
	chain, err := a.Sign(makeCSR(t, p256Key(t), &x509.CertificateRequest{URIs: uris(id)}), id, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !chain[0].NotAfter.Equal(root.NotAfter) {
		t.Errorf("leaf NotAfter = %v, want the root's %v", chain[0].NotAfter, root.NotAfter)
	}
}

func TestSignRejects(t *testing.T) {
	a := newAuthority(t, nil)
	id := workloadID(t, "shop", "cart")
	other := workloadID(t, "shop", "admin")

	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := p256Key(t)

	tests := []struct {
		name   string
		csr    func(t *testing.T) *x509.CertificateRequest
		ttl    time.Duration
		reason ca.Reason
		want   string
	}{
		{
			name: "two URI SANs",
			csr: func(t *testing.T) *x509.CertificateRequest {
				return makeCSR(t, key, &x509.CertificateRequest{URIs: uris(id, other)})
			},
			reason: ca.ReasonBadSAN,
			want:   "CSR has 2 URI SANs, want exactly 1",
		},
		{
			name: "no URI SAN",
			csr: func(t *testing.T) *x509.CertificateRequest {
				return makeCSR(t, key, &x509.CertificateRequest{})
			},
			reason: ca.ReasonBadSAN,
			want:   "CSR has 0 URI SANs, want exactly 1",
		},
		{
			name: "wrong ID",
			csr: func(t *testing.T) *x509.CertificateRequest {
				return makeCSR(t, key, &x509.CertificateRequest{URIs: uris(other)})
			},
			reason: ca.ReasonWrongIdentity,
			want:   `CSR asks for "spiffe://cluster.test/ns/shop/sa/admin" but the caller is spiffe://cluster.test/ns/shop/sa/cart`,
		},
		{
			name: "DNS SAN",
			csr: func(t *testing.T) *x509.CertificateRequest {
				return makeCSR(t, key, &x509.CertificateRequest{URIs: uris(id), DNSNames: []string{"cart.shop.svc"}})
			},
			reason: ca.ReasonBadSAN,
			want:   "CSR has 1 DNS SAN(s)",
		},
		{
			name: "IP SAN",
			csr: func(t *testing.T) *x509.CertificateRequest {
				return makeCSR(t, key, &x509.CertificateRequest{URIs: uris(id), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
			},
			reason: ca.ReasonBadSAN,
			want:   "CSR has 1 IP SAN(s)",
		},
		{
			name: "email SAN",
			csr: func(t *testing.T) *x509.CertificateRequest {
				return makeCSR(t, key, &x509.CertificateRequest{URIs: uris(id), EmailAddresses: []string{"a@example.com"}})
			},
			reason: ca.ReasonBadSAN,
			want:   "CSR has 1 email SAN(s)",
		},
		{
			name: "RSA 1024",
			csr: func(t *testing.T) *x509.CertificateRequest {
				return makeCSR(t, rsa1024, &x509.CertificateRequest{URIs: uris(id)})
			},
			reason: ca.ReasonBadKey,
			want:   "CSR key is RSA with 1024 bits; want at least 2048",
		},
		{
			name: "P-224",
			csr: func(t *testing.T) *x509.CertificateRequest {
				return makeCSR(t, p224, &x509.CertificateRequest{URIs: uris(id)})
			},
			reason: ca.ReasonBadKey,
			want:   "CSR key is ECDSA on curve P-224; want P-256 or P-384",
		},
		{
			name: "bad signature",
			csr: func(t *testing.T) *x509.CertificateRequest {
				csr := makeCSR(t, key, &x509.CertificateRequest{URIs: uris(id)})
				csr.Signature = slices.Clone(csr.Signature)
				csr.Signature[len(csr.Signature)-1] ^= 0xff
				return csr
			},
			reason: ca.ReasonBadSignature,
			want:   "CSR signature does not verify",
		},
		{
			name: "signed by another key",
			csr: func(t *testing.T) *x509.CertificateRequest {
				csr := makeCSR(t, key, &x509.CertificateRequest{URIs: uris(id)})
				csr.PublicKey = p256Key(t).Public()
				return csr
			},
			reason: ca.ReasonBadSignature,
			want:   "CSR signature does not verify",
		},
		{
			name: "zero TTL",
			csr: func(t *testing.T) *x509.CertificateRequest {
				return makeCSR(t, key, &x509.CertificateRequest{URIs: uris(id)})
			},
			ttl:    -1,
			reason: ca.ReasonBadTTL,
			want:   "TTL 0s is not positive",
		},
		{
			name: "huge TTL",
			csr: func(t *testing.T) *x509.CertificateRequest {
				return makeCSR(t, key, &x509.CertificateRequest{URIs: uris(id)})
			},
			ttl:    ca.MaxTTL + time.Second,
			reason: ca.ReasonBadTTL,
			want:   "TTL 168h0m1s exceeds the maximum of 168h0m0s",
		},
		{
			name:   "no CSR",
			csr:    func(*testing.T) *x509.CertificateRequest { return nil },
			reason: ca.ReasonMalformed,
			want:   "no CSR",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ttl := tt.ttl
			switch ttl {
			case 0:
				ttl = time.Hour
			case -1:
				ttl = 0
			}
			chain, err := a.Sign(tt.csr(t), id, ttl)
			if err == nil {
				t.Fatalf("Sign issued %s, want an error", chain[0].URIs)
			}
			if !errors.Is(err, ca.ErrInvalidCSR) || !ca.IsInvalidCSR(err) {
				t.Errorf("error %v does not match ErrInvalidCSR", err)
			}
			rej, ok := errors.AsType[*ca.RejectionError](err)
			if !ok {
				t.Fatalf("error %T is not a *RejectionError", err)
			}
			if rej.Reason != tt.reason {
				t.Errorf("reason = %s, want %s", rej.Reason, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "invalid certificate request: ") {
				t.Errorf("error %q does not start with the sentinel's message", err)
			}
		})
	}
}

func TestSignRejectsForeignTrustDomain(t *testing.T) {
	a := newAuthority(t, nil)
	id := spiffeIDIn(t, "other.test")
	_, err := a.Sign(makeCSR(t, p256Key(t), &x509.CertificateRequest{URIs: uris(id)}), id, time.Hour)
	if err == nil || ca.IsInvalidCSR(err) || !strings.Contains(err.Error(), "is not in trust domain cluster.test") {
		t.Errorf("Sign for a foreign trust domain: error %v, want a non-CSR error naming the trust domain", err)
	}
}
