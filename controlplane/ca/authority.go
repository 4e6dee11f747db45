package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// RootLifetime is the validity of a root that GenerateRoot creates.
const RootLifetime = 10 * 365 * 24 * time.Hour

// MaxTTL is the longest lifetime Sign grants a workload certificate. A
// Service may be configured with a lower ceiling, never a higher one.
const MaxTTL = 7 * 24 * time.Hour

// MinTTL is the shortest lifetime Sign grants: anything shorter would
// expire before a peer could use it.
const MinTTL = time.Second

// clockSkew backdates NotBefore so that peers whose clocks lag a little
// accept a certificate as soon as it is issued.
const clockSkew = time.Minute

// Authority signs workload certificates for one trust domain. What it signs
// with and what it trusts can be replaced at run time (Update), which is how
// a root is rotated. It is safe for concurrent use.
type Authority struct {
	td           spiffeid.TrustDomain
	now          func() time.Time
	minRemaining time.Duration
	cur          atomic.Pointer[signer]
}

// signer is what an Authority signs with and trusts at one time; Update
// replaces it whole.
type signer struct {
	cert *x509.Certificate // signs leaves: a root or an intermediate
	key  crypto.Signer
	// chain follows a leaf in the chains Sign returns: cert itself when it
	// is not a root, then the intermediates up to (excluding) a root.
	chain []*x509.Certificate
	// bundle is every trusted root; pool holds the same certificates.
	bundle []*x509.Certificate
	pool   *x509.CertPool
	// notAfter is the earliest expiry of cert and chain: no leaf outlives it.
	notAfter time.Time
}

// Options tune an Authority.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MinRemaining is the validity the signing certificate must have left
	// when it is accepted (by NewAuthority or Update); zero only requires
	// it to be valid now.
	MinRemaining time.Duration
}

// New returns an Authority that signs with a self-signed root certificate
// and its private key. Besides NewAuthority's checks, the root must name the
// trust domain (URI SAN spiffe://<td>), as the roots GenerateRoot creates
// do. A nil now means time.Now.
func New(td spiffeid.TrustDomain, root *x509.Certificate, key crypto.Signer, now func() time.Time) (*Authority, error) {
	if root == nil || key == nil {
		return nil, errors.New("root certificate and key are both required")
	}
	if err := root.CheckSignatureFrom(root); err != nil {
		return nil, fmt.Errorf("root certificate is not self-signed: %w", err)
	}
	want := td.ID().URL().String()
	if !td.IsZero() && !slices.ContainsFunc(root.URIs, func(u *url.URL) bool { return u.String() == want }) {
		return nil, fmt.Errorf("root certificate does not name trust domain %q (no URI SAN %s)", td, want)
	}
	return NewAuthority(td, Material{Cert: root, Key: key}, Options{Now: now})
}

// NewAuthority returns an Authority that signs with m. See Material for what
// is checked.
func NewAuthority(td spiffeid.TrustDomain, m Material, opts Options) (*Authority, error) {
	if td.IsZero() {
		return nil, errors.New("trust domain is empty")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &Authority{td: td, now: opts.Now, minRemaining: opts.MinRemaining}
	s, err := a.check(m)
	if err != nil {
		return nil, err
	}
	a.cur.Store(s)
	return a, nil
}

// Update makes m what the Authority signs with and trusts, from the next
// Sign on. Certificates already issued stay valid as long as their root is
// still in m's roots. It checks m as NewAuthority does and keeps the current
// material when m fails; it reports whether anything changed.
func (a *Authority) Update(m Material) (bool, error) {
	s, err := a.check(m)
	if err != nil {
		return false, err
	}
	old := a.cur.Load()
	if sameSigner(old, s) {
		return false, nil
	}
	a.cur.Store(s)
	return true, nil
}

func sameSigner(a, b *signer) bool {
	eq := func(x, y *x509.Certificate) bool { return x.Equal(y) }
	return a.cert.Equal(b.cert) &&
		slices.EqualFunc(a.chain, b.chain, eq) &&
		slices.EqualFunc(a.bundle, b.bundle, eq)
}

// GenerateRoot creates a self-signed root for the trust domain: ECDSA P-256,
// valid for RootLifetime, CA:true, key usage certificate sign and CRL sign,
// URI SAN spiffe://<td>, subject O=Weft.
func GenerateRoot(td spiffeid.TrustDomain, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	if td.IsZero() {
		return nil, nil, errors.New("trust domain is empty")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate root key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Weft"}, CommonName: "Weft root CA " + td.Name()},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(RootLifetime),
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		URIs:                  []*url.URL{td.ID().URL()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("create root certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse new root certificate: %w", err)
	}
	return cert, key, nil
}

// newSerial returns a random, positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// TrustDomain returns the trust domain the Authority signs for.
func (a *Authority) TrustDomain() spiffeid.TrustDomain { return a.td }

// Bundle returns the trusted roots: those the signing certificate chains to
// and any others Material named (a root being rotated in or out). They
// verify every chain Sign returns. The slice is a copy; the certificates are
// shared and must not be modified.
func (a *Authority) Bundle() []*x509.Certificate { return slices.Clone(a.cur.Load().bundle) }

// BundlePool returns Bundle as a pool, e.g. for tls.Config.ClientCAs. It is
// shared and must not be modified.
func (a *Authority) BundlePool() *x509.CertPool { return a.cur.Load().pool }

// SigningCertificate returns the certificate that signs leaves now.
func (a *Authority) SigningCertificate() *x509.Certificate { return a.cur.Load().cert }
