package ca

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// minRSABits is the smallest RSA modulus Sign accepts.
const minRSABits = 2048

// Sign issues an X.509 SVID for id to the holder of the CSR's private key
// and returns the chain, leaf first (the roots are in Bundle). The caller
// has already established that the requester is id; Sign checks that the
// CSR agrees: its signature is valid; its key is ECDSA P-256 or P-384, RSA
// of at least 2048 bits, or Ed25519; it does not ask to be a CA; no NUL byte
// hides in its subject or SANs; it has exactly one SAN, a URI without
// wildcard, equal to id. ttl must be in [MinTTL, MaxTTL]; the leaf never
// outlives the signing certificate or its chain. Rejections are
// *RejectionError values matching ErrInvalidCSR.
func (a *Authority) Sign(csr *x509.CertificateRequest, id spiffeid.ID, ttl time.Duration) ([]*x509.Certificate, error) {
	if id.IsZero() {
		return nil, fmt.Errorf("sign: empty SPIFFE ID")
	}
	if id.TrustDomain() != a.td {
		return nil, fmt.Errorf("sign: SPIFFE ID %s is not in trust domain %s", id, a.td)
	}
	if err := checkTTL(ttl); err != nil {
		return nil, err
	}
	if err := checkCSR(csr, id); err != nil {
		return nil, err
	}
	s := a.cur.Load()
	now := a.now()
	return a.issue(s, &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{"Weft"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              minTime(now.Add(ttl), s.notAfter),
		BasicConstraintsValid: true,
		IsCA:                  false,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:                  []*url.URL{id.URL()},
	}, csr.PublicKey)
}

// issue has s sign tmpl (given a fresh serial) for pub and returns the
// chain, leaf first.
func (a *Authority) issue(s *signer, tmpl *x509.Certificate, pub any) ([]*x509.Certificate, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.cert, pub, s.key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse signed certificate: %w", err)
	}
	chain := make([]*x509.Certificate, 0, 1+len(s.chain))
	return append(append(chain, leaf), s.chain...), nil
}

func checkTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return reject(ReasonBadTTL, "TTL %s is not positive", ttl)
	}
	if ttl < MinTTL {
		return reject(ReasonBadTTL, "TTL %s is below the minimum of %s", ttl, MinTTL)
	}
	if ttl > MaxTTL {
		return reject(ReasonBadTTL, "TTL %s exceeds the maximum of %s", ttl, MaxTTL)
	}
	return nil
}

func checkCSR(csr *x509.CertificateRequest, id spiffeid.ID) error {
	if csr == nil {
		return reject(ReasonMalformed, "no CSR")
	}
	if err := csr.CheckSignature(); err != nil {
		return reject(ReasonBadSignature, "CSR signature does not verify: %v", err)
	}
	if err := checkPublicKey(csr.PublicKey); err != nil {
		return err
	}
	if err := checkRequestedCA(csr); err != nil {
		return err
	}
	if err := checkNUL(csr); err != nil {
		return err
	}
	if err := checkSANKinds(csr); err != nil {
		return err
	}
	if n := len(csr.URIs); n != 1 {
		return reject(ReasonBadSAN, "CSR has %d URI SANs, want exactly 1 (%s)", n, id)
	}
	got := csr.URIs[0].String()
	if strings.Contains(got, "*") {
		return reject(ReasonWildcard, "CSR URI SAN %q contains a wildcard; want exactly %s", got, id)
	}
	if got != id.String() {
		return reject(ReasonWrongIdentity, "CSR asks for %q but the caller is %s", got, id)
	}
	return nil
}

func checkPublicKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if c := k.Curve; c != elliptic.P256() && c != elliptic.P384() {
			return reject(ReasonBadKey, "CSR key is ECDSA on curve %s; want P-256 or P-384", c.Params().Name)
		}
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < minRSABits {
			return reject(ReasonBadKey, "CSR key is RSA with %d bits; want at least %d", bits, minRSABits)
		}
	case ed25519.PublicKey:
	default:
		return reject(ReasonBadKey, "CSR key of type %T is not supported; want ECDSA P-256/P-384, RSA >= %d bits or Ed25519", pub, minRSABits)
	}
	return nil
}
