package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// RootLifetime is the validity of a root that GenerateRoot creates.
const RootLifetime = 10 * 365 * 24 * time.Hour

// MaxTTL is the longest lifetime Sign grants a workload certificate. A
// Service may be configured with a lower ceiling, never a higher one.
const MaxTTL = 7 * 24 * time.Hour

// clockSkew backdates NotBefore so that peers whose clocks lag a little
// accept a certificate as soon as it is issued.
const clockSkew = time.Minute

// Authority signs workload certificates for one trust domain. It is safe for
// concurrent use.
type Authority struct {
	td   spiffeid.TrustDomain
	now  func() time.Time
	cert *x509.Certificate // signs leaves; today the root itself
	key  crypto.Signer
	// chain is what follows a leaf in the chains Sign returns: the
	// intermediates between the signing certificate and a root, empty when
	// the signing certificate is a root.
	chain []*x509.Certificate
	roots []*x509.Certificate
}

// New returns an Authority that signs with a self-signed root certificate
// and its private key. It checks that they belong together, that the
// certificate may sign certificates, is valid now and names the trust domain
// (URI SAN spiffe://<td>). A nil now means time.Now.
func New(td spiffeid.TrustDomain, root *x509.Certificate, key crypto.Signer, now func() time.Time) (*Authority, error) {
	if td.IsZero() {
		return nil, errors.New("trust domain is empty")
	}
	if now == nil {
		now = time.Now
	}
	if root == nil || key == nil {
		return nil, errors.New("root certificate and key are both required")
	}
	if err := checkRoot(td, root, key, now()); err != nil {
		return nil, err
	}
	return &Authority{
		td:    td,
		now:   now,
		cert:  root,
		key:   key,
		roots: []*x509.Certificate{root},
	}, nil
}

func checkRoot(td spiffeid.TrustDomain, root *x509.Certificate, key crypto.Signer, now time.Time) error {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(root.PublicKey) {
		return errors.New("root private key does not match the root certificate's public key")
	}
	if !root.BasicConstraintsValid || !root.IsCA {
		return errors.New("root certificate is not a CA certificate (basic constraints CA:false)")
	}
	if root.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errors.New("root certificate lacks the certificate-sign key usage")
	}
	if err := root.CheckSignatureFrom(root); err != nil {
		return fmt.Errorf("root certificate is not self-signed: %w", err)
	}
	if now.Before(root.NotBefore) || now.After(root.NotAfter) {
		return fmt.Errorf("root certificate is valid from %s to %s, not now (%s)",
			root.NotBefore.UTC().Format(time.RFC3339), root.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	want := td.ID().URL().String()
	if !slices.ContainsFunc(root.URIs, func(u *url.URL) bool { return u.String() == want }) {
		return fmt.Errorf("root certificate does not name trust domain %q (no URI SAN %s)", td, want)
	}
	return nil
}

// GenerateRoot creates a self-signed root for the trust domain: ECDSA P-256,
// valid for RootLifetime, CA:true, key usage certificate sign and CRL sign,
// URI SAN spiffe://<td>, subject O=Weft.
func GenerateRoot(td spiffeid.TrustDomain, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	if td.IsZero() {
		return nil, nil, errors.New("trust domain is empty")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate root key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Weft"}, CommonName: "Weft root CA " + td.Name()},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(RootLifetime),
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		URIs:                  []*url.URL{td.ID().URL()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("create root certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse new root certificate: %w", err)
	}
	return cert, key, nil
}

// newSerial returns a random, positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// TrustDomain returns the trust domain the Authority signs for.
func (a *Authority) TrustDomain() spiffeid.TrustDomain { return a.td }

// Bundle returns the trust domain's root certificates, which verify every
// chain Sign returns. The slice is a copy; the certificates are shared and
// must not be modified.
func (a *Authority) Bundle() []*x509.Certificate { return slices.Clone(a.roots) }
