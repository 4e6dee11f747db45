package dataplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// Gateway proxies serve the certificates of the Secrets their Gateway
// references (docs/gateway.md). They come over SDS, by name, and are
// looked up at every handshake: a new version of a Secret is served from
// the next handshake on, without touching listeners or connections.

// secretStore holds the certificates received over SDS, by name. Its zero
// value is empty and ready.
type secretStore struct {
	mu    sync.Mutex
	certs map[string]*tls.Certificate
	// changed is closed, and replaced, at every update: handshakes
	// waiting for a secret watch it.
	changed chan struct{}
}

// get returns the named certificate, nil when it has not arrived, and a
// channel closed at the next update.
func (s *secretStore) get(name string) (*tls.Certificate, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.certs[name], s.changed
}

// all returns every certificate, by name; the map is never modified.
func (s *secretStore) all() map[string]*tls.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.certs
}

// wait returns the named certificates, waiting until each has arrived or
// ctx ends, as Envoy's listeners wait for their secrets (warming).
func (s *secretStore) wait(ctx context.Context, names []string) ([]*tls.Certificate, error) {
	for {
		out := make([]*tls.Certificate, 0, len(names))
		var changed <-chan struct{}
		missing := ""
		for _, name := range names {
			c, ch := s.get(name)
			changed = ch
			if c == nil {
				missing = name
				break
			}
			out = append(out, c)
		}
		if missing == "" {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("secret %q has not arrived: %w", missing, ctx.Err())
		case <-changed:
		}
	}
}

// set replaces the certificates, wakes the waiting handshakes and returns
// the certificates replaced.
func (s *secretStore) set(certs map[string]*tls.Certificate) map[string]*tls.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.certs
	s.certs = certs
	if s.changed != nil {
		close(s.changed)
	}
	s.changed = make(chan struct{})
	return old
}

// OnSecrets validates and applies the complete set of SDS secrets: each a
// tls_certificate with certificate_chain and private_key inline. A secret
// that does not hold a valid certificate and key refuses the update,
// naming it; the previous certificates are then kept. Handshakes use the
// new set from the next one on; listeners and connections are untouched.
func (d *Dataplane) OnSecrets(_ context.Context, secrets []*tlsv3.Secret) error {
	var all []*problems
	certs := make(map[string]*tls.Certificate, len(secrets))
	names := make([]string, 0, len(secrets))
	for _, s := range secrets {
		if s.GetName() == "" {
			all = append(all, missingName("secret"))
			continue
		}
		names = append(names, s.GetName())
		p := newProblems("secret", s.GetName())
		if c := parseSecretResource(p, s); c != nil && p.OK() {
			certs[s.GetName()] = c
		}
		all = append(all, p)
	}
	all = append(all, duplicates("secret", names)...)
	if err := joinProblems(all); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	old := d.secrets.set(certs)
	d.metrics.observeSecrets(old, certs)
	d.log.Info("secrets applied", "count", len(certs))
	return nil
}

// parseSecretResource checks one Secret and returns its certificate.
func parseSecretResource(p *problems, s *tlsv3.Secret) *tls.Certificate {
	p.OnlyFields("", s, "name", "tls_certificate")
	if n := s.GetName(); n == certificateSecret || n == validationSecret {
		p.Addf("name", "%q is resolved from the proxy's own identity, never sent over SDS", n)
		return nil
	}
	tc := s.GetTlsCertificate()
	if tc == nil {
		p.Addf("tls_certificate", "missing")
		return nil
	}
	p.OnlyFields("tls_certificate", tc, "certificate_chain", "private_key")
	chain := inlineBytes(p, "tls_certificate.certificate_chain", tc.GetCertificateChain())
	key := inlineBytes(p, "tls_certificate.private_key", tc.GetPrivateKey())
	if chain == nil || key == nil {
		return nil
	}
	cert, err := tls.X509KeyPair(chain, key)
	if err != nil {
		p.Addf("tls_certificate", "%v", err)
		return nil
	}
	if cert.Leaf == nil {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			p.Addf("tls_certificate.certificate_chain", "%v", err)
			return nil
		}
		cert.Leaf = leaf
	}
	return &cert
}

// inlineBytes returns the content of a DataSource given inline.
func inlineBytes(p *problems, path string, ds *corev3.DataSource) []byte {
	switch s := ds.GetSpecifier().(type) {
	case *corev3.DataSource_InlineBytes:
		if len(s.InlineBytes) > 0 {
			return s.InlineBytes
		}
	case *corev3.DataSource_InlineString:
		if s.InlineString != "" {
			return []byte(s.InlineString)
		}
	case nil:
	default:
		p.Addf(path, "want inline_bytes or inline_string")
		return nil
	}
	p.Addf(path, "missing")
	return nil
}
