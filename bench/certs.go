package bench

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/ca"
)

// The certificates' names and identities.
const (
	trustDomain = "cluster.local"
	serverName  = "server.bench"
	// clientID is the load generator's identity when it opens mTLS
	// connections itself (the new-connection run); nginx and HAProxy's
	// client side present the same certificate.
	clientID = "spiffe://cluster.local/ns/bench/sa/loadgen"
)

// pki is the run's CA and the leaves the peers and the load generator use,
// written as PEM files in dir.
type pki struct {
	dir    string
	root   *x509.Certificate
	key    crypto.Signer
	client tls.Certificate
	pool   *x509.CertPool
}

func (p *pki) caCert() string       { return filepath.Join(p.dir, "ca.pem") }
func (p *pki) caKey() string        { return filepath.Join(p.dir, "ca.key") }
func (p *pki) serverCert() string   { return filepath.Join(p.dir, "server.pem") }
func (p *pki) serverKey() string    { return filepath.Join(p.dir, "server.key") }
func (p *pki) clientCert() string   { return filepath.Join(p.dir, "client.pem") }
func (p *pki) clientKey() string    { return filepath.Join(p.dir, "client.key") }
func (p *pki) serverBundle() string { return filepath.Join(p.dir, "server-bundle.pem") } // HAProxy: cert then key
func (p *pki) clientBundle() string { return filepath.Join(p.dir, "client-bundle.pem") }

// newPKI creates a root in the shape Weft generates its own (ECDSA P-256,
// URI SAN spiffe://cluster.local), a server certificate for serverName and
// ips, and a client certificate for clientID, and writes them to dir.
func newPKI(dir string, ips []net.IP) (*pki, error) {
	td, err := spiffeid.TrustDomainFromString(trustDomain)
	if err != nil {
		return nil, err
	}
	root, key, err := ca.GenerateRoot(td, time.Now())
	if err != nil {
		return nil, err
	}
	p := &pki{dir: dir, root: root, key: key, pool: x509.NewCertPool()}
	p.pool.AddCert(root)
	if err := writeCertKey(p.caCert(), p.caKey(), "", root.Raw, key); err != nil {
		return nil, err
	}
	id, err := url.Parse(clientID)
	if err != nil {
		return nil, err
	}
	leaves := []struct {
		cert, key, bundle string
		tmpl              x509.Certificate
	}{
		{p.serverCert(), p.serverKey(), p.serverBundle(), x509.Certificate{
			Subject:     pkix.Name{CommonName: serverName},
			DNSNames:    []string{serverName},
			IPAddresses: ips,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}},
		{p.clientCert(), p.clientKey(), p.clientBundle(), x509.Certificate{
			Subject:     pkix.Name{CommonName: "loadgen"},
			URIs:        []*url.URL{id},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}},
	}
	for _, l := range leaves {
		der, leafKey, err := p.sign(l.tmpl)
		if err != nil {
			return nil, err
		}
		if err := writeCertKey(l.cert, l.key, l.bundle, der, leafKey); err != nil {
			return nil, err
		}
	}
	p.client, err = tls.LoadX509KeyPair(p.clientCert(), p.clientKey())
	if err != nil {
		return nil, fmt.Errorf("loading the client certificate: %w", err)
	}
	return p, nil
}

func (p *pki) sign(tmpl x509.Certificate) ([]byte, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Minute)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, p.root, key.Public(), p.key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing %s: %w", tmpl.Subject.CommonName, err)
	}
	return der, key, nil
}

func writeCertKey(certPath, keyPath, bundlePath string, der []byte, key crypto.Signer) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	errs := []error{
		os.WriteFile(certPath, certPEM, 0o600),
		os.WriteFile(keyPath, keyPEM, 0o600),
	}
	if bundlePath != "" {
		errs = append(errs, os.WriteFile(bundlePath, append(append([]byte{}, certPEM...), keyPEM...), 0o600))
	}
	return errors.Join(errs...)
}

// clientTLS is the load generator's mTLS configuration toward a
// server-side proxy: TLS 1.3, the client certificate, the run's root, no
// session resumption. Names are not checked (Weft's sidecars present a
// SPIFFE ID, the peers serverName); the chain is.
func (p *pki) clientTLS() *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{p.client},
		InsecureSkipVerify:     true, //nolint:gosec // the chain is verified below; names differ per set-up
		SessionTicketsDisabled: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			certs := make([]*x509.Certificate, 0, len(raw))
			for _, r := range raw {
				c, err := x509.ParseCertificate(r)
				if err != nil {
					return err
				}
				certs = append(certs, c)
			}
			if len(certs) == 0 {
				return errors.New("no server certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range certs[1:] {
				inter.AddCert(c)
			}
			_, err := certs[0].Verify(x509.VerifyOptions{Roots: p.pool, Intermediates: inter})
			return err
		},
	}
}

// serverTLS is the direct set-up's mTLS server configuration, as the peers
// have it: TLS 1.3, client certificates required, no resumption.
func (p *pki) serverTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(p.serverCert(), p.serverKey())
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{cert},
		ClientAuth:             tls.RequireAndVerifyClientCert,
		ClientCAs:              p.pool,
		SessionTicketsDisabled: true,
	}, nil
}
