package identity

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// Source is where the proxy's identity comes from: the Weft CA (Manager) or
// the SPIFFE Workload API (WorkloadAPISource). Both keep the SVID current
// by themselves; TLS configurations built on a Source present the current
// certificate at every handshake.
type Source interface {
	x509svid.Source
	x509bundle.Source
	// Start returns once the Source holds an SVID, or with an error when
	// ctx ends first. What it starts runs until Close.
	Start(ctx context.Context) error
	// Close stops rotation and waits for it to end.
	Close() error
	// Certs describes the current SVID chain and trust bundle, for the
	// admin port's /certs. It never includes key material.
	Certs(now time.Time) (*Certs, error)
}

var (
	_ Source = (*Manager)(nil)
	_ Source = (*WorkloadAPISource)(nil)
)

// Names of the sources in Certs.Source.
const (
	SourceCA          = "weft-ca"
	SourceWorkloadAPI = "workload-api"
)

// Certs is what the admin port's /certs shows.
type Certs struct {
	// Source is SourceCA or SourceWorkloadAPI.
	Source   string `json:"source"`
	SPIFFEID string `json:"spiffe_id"`
	// RenewAt is when the next renewal is due; absent when the issuer
	// (the Workload API) decides.
	RenewAt *time.Time `json:"renew_at,omitempty"`
	// Chain is the SVID, leaf first, then any intermediates.
	Chain       []CertInfo `json:"svid_chain"`
	TrustDomain string     `json:"trust_domain"`
	// Roots are the trust bundle's authorities for TrustDomain.
	Roots []RootInfo `json:"trust_bundle"`
	// Served are the certificates a gateway proxy serves from its
	// Gateway's Secrets (over SDS), by secret name; the admin port adds
	// them.
	Served []ServedCert `json:"served_certificates,omitempty"`
}

// ServedCert is a certificate chain served from SDS.
type ServedCert struct {
	// Name is the SDS secret's name (kubernetes://<namespace>/<name>).
	Name  string     `json:"name"`
	Chain []CertInfo `json:"chain"`
}

// CertInfo describes one certificate of a chain.
type CertInfo struct {
	Subject string   `json:"subject"`
	URISANs []string `json:"uri_sans"`
	// DNSSANs are set on a Gateway's certificates, never on an SVID.
	DNSSANs []string `json:"dns_sans,omitempty"`
	// Serial is the serial number in hexadecimal.
	Serial    string    `json:"serial"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// ExpiresInSeconds is negative once the certificate has expired.
	ExpiresInSeconds int64 `json:"expires_in_seconds"`
}

// RootInfo describes one root of the trust bundle.
type RootInfo struct {
	Subject  string    `json:"subject"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"not_after"`
}

// describe builds Certs from an SVID and the bundle of td.
func describe(source string, svid *x509svid.SVID, bundles x509bundle.Source, td spiffeid.TrustDomain, now time.Time) (*Certs, error) {
	if svid == nil {
		return nil, fmt.Errorf("no X.509 SVID yet")
	}
	c := &Certs{
		Source:      source,
		SPIFFEID:    svid.ID.String(),
		Chain:       make([]CertInfo, 0, len(svid.Certificates)),
		TrustDomain: td.Name(),
	}
	for _, cert := range svid.Certificates {
		c.Chain = append(c.Chain, DescribeCert(cert, now))
	}
	bundle, err := bundles.GetX509BundleForTrustDomain(td)
	if err != nil {
		return nil, fmt.Errorf("trust bundle: %w", err)
	}
	for _, root := range bundle.X509Authorities() {
		c.Roots = append(c.Roots, RootInfo{
			Subject:  root.Subject.String(),
			Serial:   root.SerialNumber.Text(16),
			NotAfter: root.NotAfter.UTC(),
		})
	}
	return c, nil
}

// DescribeCert describes cert as /certs shows it, its expiry counted from
// now.
func DescribeCert(cert *x509.Certificate, now time.Time) CertInfo {
	uris := make([]string, 0, len(cert.URIs))
	for _, u := range cert.URIs {
		uris = append(uris, u.String())
	}
	return CertInfo{
		Subject:          cert.Subject.String(),
		URISANs:          uris,
		DNSSANs:          cert.DNSNames,
		Serial:           cert.SerialNumber.Text(16),
		Issuer:           cert.Issuer.String(),
		NotBefore:        cert.NotBefore.UTC(),
		NotAfter:         cert.NotAfter.UTC(),
		ExpiresInSeconds: int64(cert.NotAfter.Sub(now) / time.Second),
	}
}
