package ca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/ca"
)

func TestLoadOrCreateCreatesRoot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	clk := newClock()
	a, err := ca.LoadOrCreate(dir, td, clk.Now)
	if err != nil {
		t.Fatalf("LoadOrCreate: %v", err)
	}
	roots := a.Bundle()
	if len(roots) != 1 {
		t.Fatalf("Bundle has %d roots, want 1", len(roots))
	}
	root := roots[0]
	if !root.IsCA || !root.BasicConstraintsValid {
		t.Error("root is not CA:true")
	}
	if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign; root.KeyUsage != want {
		t.Errorf("root key usage = %v, want %v", root.KeyUsage, want)
	}
	if len(root.URIs) != 1 || root.URIs[0].String() != "spiffe://cluster.test" {
		t.Errorf("root URI SANs = %v, want [spiffe://cluster.test]", root.URIs)
	}
	if got := root.Subject.Organization; len(got) != 1 || got[0] != "Weft" {
		t.Errorf("root subject O = %v, want [Weft]", got)
	}
	pub, ok := root.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("root key is %T, want ECDSA P-256", root.PublicKey)
	}
	if got, want := root.NotAfter, clk.Now().Add(10*365*24*time.Hour); !got.Equal(want) {
		t.Errorf("root NotAfter = %v, want %v", got, want)
	}

	for name, want := range map[string]os.FileMode{ca.RootCertFile: 0o644, ca.RootKeyFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode = %v, want %v", name, got, want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("CA directory holds %d entries, want 2 (temporary files left behind?)", len(entries))
	}

	again, err := ca.LoadOrCreate(dir, td, clk.Now)
	if err != nil {
		t.Fatalf("second LoadOrCreate: %v", err)
	}
	if !again.Bundle()[0].Equal(root) {
		t.Error("second LoadOrCreate made a new root instead of loading the stored one")
	}
	// The reloaded key signs for the same root.
	key := p256Key(t)
	id := workloadID(t, "default", "app")
	chain, err := again.Sign(makeCSR(t, key, &x509.CertificateRequest{URIs: uris(id)}), id, time.Hour)
	if err != nil {
		t.Fatalf("Sign with reloaded root: %v", err)
	}
	if err := chain[0].CheckSignatureFrom(root); err != nil {
		t.Errorf("leaf from reloaded authority is not signed by the stored root: %v", err)
	}
}

func TestLoadOrCreateErrors(t *testing.T) {
	otherDir := t.TempDir()
	if _, err := ca.LoadOrCreate(otherDir, td, nil); err != nil {
		t.Fatal(err)
	}
	otherKey, err := os.ReadFile(filepath.Join(otherDir, ca.RootKeyFile))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		td     spiffeid.TrustDomain
		now    func() time.Time
		mangle func(t *testing.T, dir string)
		want   string
	}{
		{
			name:   "corrupt certificate",
			mangle: writeFile(ca.RootCertFile, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")),
			want:   "root-cert.pem: parse certificate",
		},
		{
			name:   "certificate not PEM",
			mangle: writeFile(ca.RootCertFile, []byte("garbage")),
			want:   "root-cert.pem: no PEM data found",
		},
		{
			name:   "corrupt key",
			mangle: writeFile(ca.RootKeyFile, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")),
			want:   "root-key.pem: parse private key",
		},
		{
			name:   "key of another root",
			mangle: writeFile(ca.RootKeyFile, otherKey),
			want:   "CA private key does not match the CA certificate's public key",
		},
		{
			name:   "certificate missing",
			mangle: removeFile(ca.RootCertFile),
			want:   "holds root-key.pem but not root-cert.pem",
		},
		{
			name:   "key missing",
			mangle: removeFile(ca.RootKeyFile),
			want:   "holds root-cert.pem but not root-key.pem",
		},
		{
			name: "other trust domain",
			td:   spiffeid.RequireTrustDomainFromString("other.test"),
			want: `does not name trust domain "other.test"`,
		},
		{
			name: "expired root",
			now:  func() time.Time { return time.Now().Add(11 * 365 * 24 * time.Hour) },
			want: `CA certificate "CN=Weft root CA cluster.test,O=Weft" is valid from`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := ca.LoadOrCreate(dir, td, nil); err != nil {
				t.Fatal(err)
			}
			if tt.mangle != nil {
				tt.mangle(t, dir)
			}
			loadTD := td
			if !tt.td.IsZero() {
				loadTD = tt.td
			}
			_, err := ca.LoadOrCreate(dir, loadTD, tt.now)
			if err == nil {
				t.Fatal("LoadOrCreate succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func writeFile(name string, data []byte) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func removeFile(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}
