package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/weftmesh/weft/meshid"
)

// ServingCertificate issues the control plane's own certificate: a fresh
// ECDSA P-256 key that stays in memory, URI SAN meshid.ControlPlane(td) (the
// only identity proxies accept from xDS and CA servers) plus dnsNames, for
// server and client authentication, valid for ttl (at most MaxTTL). The
// returned certificate carries its chain without the root, and Leaf is set.
func (a *Authority) ServingCertificate(dnsNames []string, ttl time.Duration) (*tls.Certificate, error) {
	if err := checkTTL(ttl); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate serving key: %w", err)
	}
	s := a.cur.Load()
	now := a.now()
	notAfter := minTime(now.Add(ttl), s.notAfter)
	chain, err := a.issue(s, &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{"Weft"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:                  []*url.URL{meshid.ControlPlane(a.td).URL()},
		DNSNames:              dnsNames,
	}, key.Public())
	if err != nil {
		return nil, err
	}
	cert := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return cert, nil
}

// ServingCertSource hands out the control plane's serving certificate and
// reissues it once half of its lifetime has passed, or as soon as the
// Authority signs with another certificate (Update). It does so lazily, in
// the TLS handshake that needs it, so it starts no goroutine. It is safe for
// concurrent use.
type ServingCertSource struct {
	auth     *Authority
	dnsNames []string
	ttl      time.Duration

	mu      sync.Mutex
	cert    *tls.Certificate
	signer  *signer // what signed cert
	renewAt time.Time
}

// NewServingCertSource returns a source of serving certificates issued with
// ServingCertificate(dnsNames, ttl). It issues nothing until first asked.
func (a *Authority) NewServingCertSource(dnsNames []string, ttl time.Duration) *ServingCertSource {
	return &ServingCertSource{auth: a, dnsNames: dnsNames, ttl: ttl}
}

// GetCertificate returns the current certificate, issuing a new one first
// when there is none yet or half of the current one's lifetime has passed.
// Use it as tls.Config.GetCertificate.
func (s *ServingCertSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.auth.now()
	current := s.auth.cur.Load()
	if s.cert != nil && now.Before(s.renewAt) && s.signer.cert.Equal(current.cert) {
		return s.cert, nil
	}
	cert, err := s.auth.ServingCertificate(s.dnsNames, s.ttl)
	if err != nil {
		if s.cert != nil && now.Before(s.cert.Leaf.NotAfter) {
			// Keep serving the old certificate while it is valid; the
			// next handshake tries again.
			return s.cert, nil
		}
		return nil, err
	}
	s.cert, s.signer = cert, current
	s.renewAt = now.Add(cert.Leaf.NotAfter.Sub(now) / 2)
	return cert, nil
}
