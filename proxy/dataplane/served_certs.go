package dataplane

import (
	"crypto/tls"
	"crypto/x509"
	"maps"
	"slices"
)

// ServedCertificate is a certificate chain the proxy serves from SDS (a
// Gateway's Secret), for the admin port's /certs.
type ServedCertificate struct {
	// Name is the SDS secret's name (kubernetes://<namespace>/<name>).
	Name string
	// Chain is the chain served, leaf first.
	Chain []*x509.Certificate
}

// ServedCertificates returns the certificates received over SDS, by name.
func (d *Dataplane) ServedCertificates() []ServedCertificate {
	certs := d.secrets.all()
	out := make([]ServedCertificate, 0, len(certs))
	for _, name := range slices.Sorted(maps.Keys(certs)) {
		out = append(out, ServedCertificate{Name: name, Chain: chainOf(certs[name])})
	}
	return out
}

// chainOf parses the chain of c; its leaf is already parsed.
func chainOf(c *tls.Certificate) []*x509.Certificate {
	chain := []*x509.Certificate{c.Leaf}
	for _, der := range c.Certificate[1:] {
		if cert, err := x509.ParseCertificate(der); err == nil { // tls.X509KeyPair parsed them once already
			chain = append(chain, cert)
		}
	}
	return chain
}

// observeSecrets sets weft_certificate_expiry_timestamp_seconds for each
// certificate served, labelled with its secret's name, and drops those of
// secrets no longer sent: a Gateway's certificates are alerted on as the
// proxy's own is (docs/metrics.md).
func (m *metrics) observeSecrets(old, certs map[string]*tls.Certificate) {
	for name := range old {
		if certs[name] == nil {
			m.certExpiry.DeleteLabelValues(name)
		}
	}
	for name, c := range certs {
		m.certExpiry.WithLabelValues(name).Set(float64(c.Leaf.NotAfter.Unix()))
	}
}
