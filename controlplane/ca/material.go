package ca

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Material is what an Authority signs with and what it trusts.
//
// The Authority checks that Key belongs to Cert; that Cert is a CA
// certificate (basic constraints CA:true, certificate-sign usage when key
// usage is present), is valid now with at least Options.MinRemaining left,
// and names no other trust domain; that every intermediate is a CA
// certificate; that every root is a valid CA certificate; and that Cert
// chains through Intermediates to one of Roots.
type Material struct {
	// Cert signs workload certificates: a self-signed root or an
	// intermediate. Required.
	Cert *x509.Certificate
	// Key is Cert's private key. Required.
	Key crypto.Signer
	// Intermediates lead from Cert's issuer up to, excluding, a root:
	// Cert's issuer first. They are sent after every leaf, with Cert when
	// Cert is not a root.
	Intermediates []*x509.Certificate
	// Roots are every trusted root, served as the trust bundle: the one
	// Cert chains to and, during a root rotation, the other. A self-signed
	// Cert is added when missing.
	Roots []*x509.Certificate
}

// Part names which piece of Material a MaterialError is about, so that a
// loader can name the file it came from.
type Part int

// Parts of Material.
const (
	PartCert Part = iota
	PartKey
	PartIntermediates
	PartRoots
)

// MaterialError says why Material cannot be used.
type MaterialError struct {
	Part Part
	Err  error
}

func (e *MaterialError) Error() string { return e.Err.Error() }
func (e *MaterialError) Unwrap() error { return e.Err }

func bad(p Part, format string, args ...any) error {
	return &MaterialError{Part: p, Err: fmt.Errorf(format, args...)}
}

// check validates m and returns the signer it makes.
func (a *Authority) check(m Material) (*signer, error) {
	if m.Cert == nil {
		return nil, bad(PartCert, "CA certificate is required")
	}
	if m.Key == nil {
		return nil, bad(PartKey, "CA private key is required")
	}
	now := a.now()
	pub, ok := m.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(m.Cert.PublicKey) {
		return nil, bad(PartKey, "CA private key does not match the CA certificate's public key")
	}
	if err := checkCA(m.Cert, now, "CA certificate"); err != nil {
		return nil, bad(PartCert, "%w", err)
	}
	if left := m.Cert.NotAfter.Sub(now); left < a.minRemaining {
		return nil, bad(PartCert, "CA certificate %q expires at %s, in %s: less than the %s it must have left; renew it",
			m.Cert.Subject, m.Cert.NotAfter.UTC().Format(time.RFC3339), left.Round(time.Second), a.minRemaining)
	}
	for _, u := range m.Cert.URIs {
		if id, err := spiffeid.FromURI(u); err == nil && id.TrustDomain() != a.td {
			return nil, bad(PartCert, "CA certificate does not name trust domain %q: its URI SAN is %s", a.td, u)
		}
	}
	for i, c := range m.Intermediates {
		if err := checkCA(c, now, fmt.Sprintf("intermediate %d", i+1)); err != nil {
			return nil, bad(PartIntermediates, "%w", err)
		}
	}
	selfSigned := isSelfSigned(m.Cert)
	roots := m.Roots
	if selfSigned && !containsCert(roots, m.Cert) {
		roots = append([]*x509.Certificate{m.Cert}, roots...)
	}
	if len(roots) == 0 {
		return nil, bad(PartRoots, "CA certificate %q is not self-signed and no root was given to chain it to", m.Cert.Subject)
	}
	s := &signer{cert: m.Cert, key: m.Key, pool: x509.NewCertPool(), notAfter: m.Cert.NotAfter}
	for i, r := range roots {
		if err := checkCA(r, now, fmt.Sprintf("root %d", i+1)); err != nil {
			return nil, bad(PartRoots, "%w", err)
		}
		if containsCert(s.bundle, r) {
			continue
		}
		s.bundle = append(s.bundle, r)
		s.pool.AddCert(r)
	}
	if !selfSigned {
		s.chain = append([]*x509.Certificate{m.Cert}, m.Intermediates...)
		inter := x509.NewCertPool()
		for _, c := range m.Intermediates {
			inter.AddCert(c)
			s.notAfter = minTime(s.notAfter, c.NotAfter)
		}
		_, err := m.Cert.Verify(x509.VerifyOptions{
			Roots: s.pool, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil {
			return nil, bad(PartRoots, "CA certificate %q does not chain to any of the %d root(s): %w", m.Cert.Subject, len(s.bundle), err)
		}
	}
	return s, nil
}

func checkCA(c *x509.Certificate, now time.Time, what string) error {
	if !c.BasicConstraintsValid || !c.IsCA {
		return fmt.Errorf("%s %q is not a CA certificate (basic constraints CA:false)", what, c.Subject)
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("%s %q lacks the certificate-sign key usage", what, c.Subject)
	}
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return fmt.Errorf("%s %q is valid from %s to %s, not now (%s)", what, c.Subject,
			c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}

func containsCert(certs []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range certs {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
