package controlplane

import (
	"crypto/tls"
	"sync"
	"time"

	"github.com/weftmesh/weft/controlplane/ca"
)

// servingCert hands out the control plane's own TLS certificate, issuing a
// new one when the current one has passed half its life.
type servingCert struct {
	authority *ca.Authority
	dnsNames  []string
	ttl       time.Duration

	mu      sync.Mutex
	current *tls.Certificate
	renewAt time.Time
}

func (s *servingCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil && time.Now().Before(s.renewAt) {
		return s.current, nil
	}
	cert, err := s.authority.ServingCertificate(s.dnsNames, s.ttl)
	if err != nil {
		return nil, err
	}
	s.current = cert
	s.renewAt = time.Now().Add(s.ttl / 2)
	return cert, nil
}
