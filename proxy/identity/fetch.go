package identity

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	cav1 "github.com/weftmesh/weft/api/ca/v1"
)

// fetch generates a key, has the CA sign a CSR for it, and checks the answer:
// the chain must verify against the returned bundle, name m.id, and hold the
// key just generated.
func (m *Manager) fetch(ctx context.Context) (*state, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		URIs: []*url.URL{m.id.URL()},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	token, err := m.cfg.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("read CA token: %w", err)
	}

	req := &cav1.CreateCertificateRequest{Csr: csr}
	if m.cfg.TTL > 0 {
		req.Ttl = durationpb.New(m.cfg.TTL)
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	resp, err := m.client.CreateCertificate(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("CA request: %w", err)
	}

	bundle, err := parseBundle(m.cfg.TrustDomain, resp.GetTrustBundle())
	if err != nil {
		return nil, err
	}
	svid, err := parseSVID(resp.GetCertChain(), key)
	if err != nil {
		return nil, err
	}
	id, _, err := x509svid.Verify(svid.Certificates, bundle)
	if err != nil {
		return nil, fmt.Errorf("CA's certificate does not verify against its trust bundle: %w", err)
	}
	if id != m.id {
		return nil, fmt.Errorf("CA issued a certificate for %s, want %s", id, m.id)
	}
	return &state{svid: svid, bundle: bundle}, nil
}

func parseBundle(td spiffeid.TrustDomain, ders [][]byte) (*x509bundle.Bundle, error) {
	if len(ders) == 0 {
		return nil, errors.New("CA sent an empty trust bundle")
	}
	roots := make([]*x509.Certificate, 0, len(ders))
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("CA trust bundle entry %d: %w", i, err)
		}
		roots = append(roots, c)
	}
	return x509bundle.FromX509Authorities(td, roots), nil
}

// parseSVID checks the chain's shape (SPIFFE leaf first, CA certificates
// after) and that the leaf holds key.
func parseSVID(chain [][]byte, key *ecdsa.PrivateKey) (*x509svid.SVID, error) {
	if len(chain) == 0 {
		return nil, errors.New("CA sent an empty certificate chain")
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	svid, err := x509svid.ParseRaw(bytes.Join(chain, nil), keyDER)
	if err != nil {
		return nil, fmt.Errorf("CA's certificate chain: %w", err)
	}
	return svid, nil
}
