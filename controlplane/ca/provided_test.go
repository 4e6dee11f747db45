package ca_test

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/weftmesh/weft/controlplane/ca"
)

// testCA is a CA certificate and its key, as an operator's PKI would make.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

type caOpts struct {
	notCA    bool
	lifetime time.Duration // default 1 year
	uri      string
}

var serial int64

// newTestCA makes a CA certificate named cn, signed by parent (self-signed
// when parent is nil).
func newTestCA(t *testing.T, cn string, parent *testCA, o caOpts) *testCA {
	t.Helper()
	key := p256Key(t)
	if o.lifetime == 0 {
		o.lifetime = 365 * 24 * time.Hour
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(o.lifetime),
		BasicConstraintsValid: true,
		IsCA:                  !o.notCA,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	if o.uri != "" {
		u, err := url.Parse(o.uri)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = []*url.URL{u}
	}
	signerCert, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

func certsPEM(certs ...*x509.Certificate) string {
	var b strings.Builder
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.String()
}

func keyPEM(t *testing.T, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// writeCertManager writes dir/tls.crt, tls.key and ca.crt; an empty string
// leaves the file out.
func writeCertManager(t *testing.T, dir, crt, key, roots string) ca.Files {
	t.Helper()
	for name, data := range map[string]string{ca.CertManagerCert: crt, ca.CertManagerKey: key, ca.CertManagerRoots: roots} {
		if data == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca.CertManagerFiles(dir)
}

// TestProvidedIntermediate signs with an intermediate two levels below the
// root, as cert-manager's CA issuer lays it out: leaves carry both
// intermediates, the bundle holds the root only.
func TestProvidedIntermediate(t *testing.T) {
	root := newTestCA(t, "Corp root", nil, caOpts{})
	mid := newTestCA(t, "Corp intermediate", root, caOpts{})
	signing := newTestCA(t, "Weft intermediate", mid, caOpts{uri: "spiffe://cluster.test"})
	// tls.crt ends with the root, as some tools write it: it must not be
	// sent after leaves.
	files := writeCertManager(t, t.TempDir(), certsPEM(signing.cert, mid.cert, root.cert), keyPEM(t, signing.key), certsPEM(root.cert))

	m, err := files.Load(td, ca.Options{MinRemaining: 24 * time.Hour})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	a, err := ca.NewAuthority(td, m, ca.Options{})
	if err != nil {
		t.Fatalf("NewAuthority: %v", err)
	}
	if b := a.Bundle(); len(b) != 1 || !b[0].Equal(root.cert) {
		t.Fatalf("bundle = %d certificate(s), want the root only", len(b))
	}
	id := workloadID(t, "shop", "cart")
	chain, err := a.Sign(makeCSR(t, p256Key(t), &x509.CertificateRequest{URIs: uris(id)}), id, time.Hour)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if len(chain) != 3 || !chain[1].Equal(signing.cert) || !chain[2].Equal(mid.cert) {
		t.Fatalf("chain has %d certificates, want leaf, signing intermediate, its issuer", len(chain))
	}
	if _, _, err := x509svid.Verify(chain, x509bundle.FromX509Authorities(td, a.Bundle())); err != nil {
		t.Errorf("leaf does not verify against the bundle: %v", err)
	}
	serving, err := a.ServingCertificate(nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(serving.Certificate) != 3 {
		t.Errorf("serving certificate carries %d certificates, want 3", len(serving.Certificate))
	}
}

func TestProvidedRootWithTrustBundle(t *testing.T) {
	root := newTestCA(t, "Weft root", nil, caOpts{})
	next := newTestCA(t, "Weft next root", nil, caOpts{})
	dir := t.TempDir()
	files := writeCertManager(t, dir, certsPEM(root.cert), keyPEM(t, root.key), "")
	files.TrustBundleFile = filepath.Join(dir, "bundle.pem")
	writeFile(files.TrustBundleFile[len(dir)+1:], []byte(certsPEM(next.cert)))(t, dir)

	m, err := files.Load(td, ca.Options{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	a, err := ca.NewAuthority(td, m, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := a.Bundle()
	if len(b) != 2 || !b[0].Equal(root.cert) || !b[1].Equal(next.cert) {
		t.Errorf("bundle has %d roots, want the signing root then the trusted one", len(b))
	}
	if !a.SigningCertificate().Equal(root.cert) {
		t.Error("signing certificate is not the root of tls.crt")
	}

	// Between rotations the trust bundle file stays configured, empty.
	writeFile(files.TrustBundleFile[len(dir)+1:], []byte("\n"))(t, dir)
	m, err = files.Load(td, ca.Options{})
	if err != nil {
		t.Fatalf("Load with an empty trust bundle file: %v", err)
	}
	if len(m.Roots) != 0 {
		t.Errorf("an empty trust bundle file added %d root(s)", len(m.Roots))
	}
	if err := os.Remove(files.TrustBundleFile); err != nil {
		t.Fatal(err)
	}
	if _, err := files.Load(td, ca.Options{}); err == nil || !strings.Contains(err.Error(), "bundle.pem") {
		t.Errorf("Load with the trust bundle file missing: %v, want an error naming it", err)
	}
}

func TestProvidedErrors(t *testing.T) {
	root := newTestCA(t, "Corp root", nil, caOpts{})
	otherRoot := newTestCA(t, "Other root", nil, caOpts{})
	mid := newTestCA(t, "Weft intermediate", root, caOpts{})
	leafish := newTestCA(t, "Not a CA", root, caOpts{notCA: true})
	shortLived := newTestCA(t, "Short", root, caOpts{lifetime: time.Hour})
	expired := newTestCA(t, "Expired", root, caOpts{lifetime: -time.Minute})
	foreign := newTestCA(t, "Foreign", root, caOpts{uri: "spiffe://other.test"})

	tests := []struct {
		name            string
		crt, key, roots string
		want            string // the error, after the directory
	}{
		{name: "key of another certificate", crt: certsPEM(mid.cert), key: keyPEM(t, otherRoot.key), roots: certsPEM(root.cert),
			want: "tls.key: CA private key does not match the CA certificate's public key"},
		{name: "not a CA", crt: certsPEM(leafish.cert), key: keyPEM(t, leafish.key), roots: certsPEM(root.cert),
			want: `tls.crt: CA certificate "CN=Not a CA" is not a CA certificate (basic constraints CA:false)`},
		{name: "expired", crt: certsPEM(expired.cert), key: keyPEM(t, expired.key), roots: certsPEM(root.cert),
			want: `tls.crt: CA certificate "CN=Expired" is valid from`},
		{name: "expires too soon", crt: certsPEM(shortLived.cert), key: keyPEM(t, shortLived.key), roots: certsPEM(root.cert),
			want: `less than the 24h0m0s it must have left; renew it`},
		{name: "other trust domain", crt: certsPEM(foreign.cert), key: keyPEM(t, foreign.key), roots: certsPEM(root.cert),
			want: `tls.crt: CA certificate does not name trust domain "cluster.test": its URI SAN is spiffe://other.test`},
		{name: "intermediate without ca.crt", crt: certsPEM(mid.cert), key: keyPEM(t, mid.key),
			want: `ca.crt: CA certificate "CN=Weft intermediate" is not self-signed and no root was given to chain it to`},
		{name: "intermediate of another root", crt: certsPEM(mid.cert), key: keyPEM(t, mid.key), roots: certsPEM(otherRoot.cert),
			want: `ca.crt: CA certificate "CN=Weft intermediate" does not chain to any of the 1 root(s): x509: certificate signed by unknown authority`},
		{name: "leaf in ca.crt", crt: certsPEM(mid.cert), key: keyPEM(t, mid.key), roots: certsPEM(root.cert, leafish.cert),
			want: `ca.crt: root 2 "CN=Not a CA" is not a CA certificate (basic constraints CA:false)`},
		{name: "certificate not PEM", crt: "garbage", key: keyPEM(t, mid.key), roots: certsPEM(root.cert),
			want: "tls.crt: no PEM certificate found"},
		{name: "key in the certificate file", crt: keyPEM(t, mid.key), key: keyPEM(t, mid.key), roots: certsPEM(root.cert),
			want: `tls.crt: PEM block 1 is "PRIVATE KEY", want CERTIFICATE`},
		{name: "broken PEM block", crt: certsPEM(mid.cert) + "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", key: keyPEM(t, mid.key), roots: certsPEM(root.cert),
			want: "tls.crt: PEM block 2 does not decode (bad base64, or no END line)"},
		{name: "key not PEM", crt: certsPEM(mid.cert), key: "garbage", roots: certsPEM(root.cert),
			want: "tls.key: no PEM data found"},
		{name: "roots not PEM", crt: certsPEM(mid.cert), key: keyPEM(t, mid.key), roots: "garbage",
			want: "ca.crt: no PEM certificate found"},
		{name: "no key file", crt: certsPEM(mid.cert), roots: certsPEM(root.cert),
			want: "tls.key: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			files := writeCertManager(t, dir, tt.crt, tt.key, tt.roots)
			_, err := files.Load(td, ca.Options{MinRemaining: 24 * time.Hour})
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("the operator is told\n%s\nwant it to contain\n%s", err, tt.want)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}
