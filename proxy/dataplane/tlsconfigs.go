package dataplane

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
)

var errNoIdentity = errors.New("mTLS needs the workload certificate and trust bundle, and the dataplane has none")

// serverTLS builds the configuration of an inbound listener: TLS 1.3 only,
// the workload's SVID, and client SVIDs of the trust domain authorized by
// the listener's SAN matchers. The sources are consulted per handshake.
func (d *Dataplane) serverTLS(matchers []sanMatcher) (*tls.Config, error) {
	if d.cfg.SVID == nil || d.cfg.Bundle == nil {
		return nil, errNoIdentity
	}
	c := tlsconfig.MTLSServerConfig(d.cfg.SVID, d.trustBundle(), d.authorizer(matchers, x509.ExtKeyUsageClientAuth))
	tagPeerVerification(c)
	c.MinVersion, c.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
	// A resumed session skips VerifyPeerCertificate, which would let a
	// client keep a session past a bundle rotation or a narrower matcher.
	c.SessionTicketsDisabled = true
	return c, nil
}

// clientTLS builds the configuration a cluster dials its endpoints with.
func (d *Dataplane) clientTLS(u *upstreamTLS) (*tls.Config, error) {
	if d.cfg.SVID == nil || d.cfg.Bundle == nil {
		return nil, errNoIdentity
	}
	c := tlsconfig.MTLSClientConfig(d.cfg.SVID, d.trustBundle(), d.authorizer(u.matchers, x509.ExtKeyUsageServerAuth))
	tagPeerVerification(c)
	c.MinVersion, c.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
	c.ServerName = u.sni
	c.NextProtos = u.alpn
	// No ClientSessionCache: every connection verifies the server anew.
	return c, nil
}

// authorizer accepts peers whose certificate may be used for usage (the
// peer's role) and whose SPIFFE ID the matchers match; without matchers,
// any ID of the trust domain.
func (d *Dataplane) authorizer(matchers []sanMatcher, usage x509.ExtKeyUsage) tlsconfig.Authorizer {
	var a tlsconfig.Authorizer
	exact := make([]spiffeid.ID, 0, len(matchers))
	for _, m := range matchers {
		if m.prefix == "" {
			exact = append(exact, m.exact)
		}
	}
	switch {
	case len(matchers) == 0:
		a = tlsconfig.AuthorizeMemberOf(d.cfg.TrustDomain)
	case len(exact) == len(matchers):
		a = tlsconfig.AuthorizeOneOf(exact...)
	default:
		a = authorizeMatchers(matchers)
	}
	return func(id spiffeid.ID, chains [][]*x509.Certificate) error {
		if err := checkExtKeyUsage(chains, usage); err != nil {
			return err // a bad certificate, not an unauthorized ID
		}
		if err := a(id, chains); err != nil {
			return &unauthorizedError{id: id, err: err}
		}
		return nil
	}
}

// checkExtKeyUsage refuses a leaf whose extended key usages exclude usage.
// go-spiffe verifies SVIDs for any usage, so without this check a
// server-only certificate could act as a client and the reverse. A leaf
// without the extension may be used for either (RFC 5280 4.2.1.12, as
// crypto/x509 has it).
func checkExtKeyUsage(chains [][]*x509.Certificate, usage x509.ExtKeyUsage) error {
	if len(chains) == 0 || len(chains[0]) == 0 {
		return errors.New("no verified chain")
	}
	leaf := chains[0][0]
	if len(leaf.ExtKeyUsage) == 0 && len(leaf.UnknownExtKeyUsage) == 0 {
		return nil
	}
	for _, u := range leaf.ExtKeyUsage {
		if u == usage || u == x509.ExtKeyUsageAny {
			return nil
		}
	}
	role := "server"
	if usage == x509.ExtKeyUsageClientAuth {
		role = "client"
	}
	return fmt.Errorf("certificate's extended key usage does not allow %s authentication", role)
}

// authorizeMatchers accepts an ID equal to an exact matcher or starting
// with a prefix matcher, as Envoy's URI SAN matching does.
func authorizeMatchers(matchers []sanMatcher) tlsconfig.Authorizer {
	return func(id spiffeid.ID, _ [][]*x509.Certificate) error {
		s := id.String()
		for _, m := range matchers {
			if (m.prefix != "" && strings.HasPrefix(s, m.prefix)) || (m.prefix == "" && m.exact == id) {
				return nil
			}
		}
		return errors.New("no SAN matcher matches")
	}
}

// unauthorizedError is a peer whose certificate is valid but whose SPIFFE
// ID the configuration does not accept.
type unauthorizedError struct {
	id  spiffeid.ID
	err error
}

func (e *unauthorizedError) Error() string {
	return fmt.Sprintf("peer %s is not authorized: %v", e.id, e.err)
}

func (e *unauthorizedError) Unwrap() error { return e.err }

// peerCertificateError is a peer certificate that failed verification or
// authorization.
type peerCertificateError struct{ err error }

func (e *peerCertificateError) Error() string { return e.err.Error() }
func (e *peerCertificateError) Unwrap() error { return e.err }

// tagPeerVerification marks errors of the SPIFFE verification installed by
// tlsconfig so that failed handshakes can be told apart by reason.
func tagPeerVerification(c *tls.Config) {
	verify := c.VerifyPeerCertificate
	c.VerifyPeerCertificate = func(raw [][]byte, chains [][]*x509.Certificate) error { //nolint:gosec // no resumption: servers disable tickets, clients have no session cache
		if err := verify(raw, chains); err != nil {
			return &peerCertificateError{err: err}
		}
		return nil
	}
}

// trustBundle is the bundle source restricted to the dataplane's trust
// domain: peers of other trust domains never verify.
func (d *Dataplane) trustBundle() x509bundle.Source {
	return trustDomainBundle{td: d.cfg.TrustDomain, source: d.cfg.Bundle}
}

type trustDomainBundle struct {
	td     spiffeid.TrustDomain
	source x509bundle.Source
}

func (b trustDomainBundle) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	if td != b.td {
		return nil, fmt.Errorf("trust domain %q is not the mesh's trust domain %q", td, b.td)
	}
	return b.source.GetX509BundleForTrustDomain(td)
}
