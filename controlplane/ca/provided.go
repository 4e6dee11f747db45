package ca

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Names of the files of cert-manager's layout (a kubernetes.io/tls Secret
// with ca.crt, as its CA issuer writes it).
const (
	CertManagerCert  = "tls.crt"
	CertManagerKey   = "tls.key"
	CertManagerRoots = "ca.crt"
)

// Files names the PEM files an Authority's Material is read from: a CA that
// Weft is given, or the root it created in its state directory.
type Files struct {
	// CertFile holds the signing certificate, optionally followed by the
	// intermediates up to a root (cert-manager's tls.crt). Required.
	CertFile string
	// KeyFile holds CertFile's private key: PKCS#8, SEC 1 or PKCS#1.
	// Required.
	KeyFile string
	// RootsFile holds the roots CertFile chains to (cert-manager's ca.crt).
	// Optional when CertFile is a self-signed root.
	RootsFile string
	// TrustBundleFile holds more roots to trust, e.g. the other root while
	// one is rotated. Optional; when named it must exist, and may be empty.
	TrustBundleFile string
}

// CertManagerFiles names the files of cert-manager's layout in dir.
func CertManagerFiles(dir string) Files {
	return Files{
		CertFile:  filepath.Join(dir, CertManagerCert),
		KeyFile:   filepath.Join(dir, CertManagerKey),
		RootsFile: filepath.Join(dir, CertManagerRoots),
	}
}

// StateDirFiles names the root that LoadOrCreate keeps in dir.
func StateDirFiles(dir string) Files {
	return Files{CertFile: filepath.Join(dir, RootCertFile), KeyFile: filepath.Join(dir, RootKeyFile)}
}

// Load reads the files and checks what they hold as NewAuthority would for
// td and opts (so that Update cannot fail on it but for the clock). Errors
// name the file at fault. A missing RootsFile is treated as empty, since
// cert-manager writes ca.crt only when it knows the root.
func (f Files) Load(td spiffeid.TrustDomain, opts Options) (Material, error) {
	read := func(path string, optional bool) ([]byte, error) {
		if path == "" {
			return nil, nil
		}
		data, err := os.ReadFile(path)
		if optional && errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		return data, nil
	}
	if f.CertFile == "" || f.KeyFile == "" {
		return Material{}, errors.New("CA files: a certificate file and a key file are both required")
	}
	certPEM, err := read(f.CertFile, false)
	if err != nil {
		return Material{}, err
	}
	keyPEM, err := read(f.KeyFile, false)
	if err != nil {
		return Material{}, err
	}
	rootsPEM, err := read(f.RootsFile, true)
	if err != nil {
		return Material{}, err
	}
	trustPEM, err := read(f.TrustBundleFile, false)
	if err != nil {
		return Material{}, err
	}

	var m Material
	certs, err := parseCertsPEM(certPEM)
	if err != nil {
		return Material{}, fmt.Errorf("%s: %w", f.CertFile, err)
	}
	m.Cert, m.Intermediates = certs[0], certs[1:]
	if m.Key, err = parseKeyPEM(keyPEM); err != nil {
		return Material{}, fmt.Errorf("%s: %w", f.KeyFile, err)
	}
	if len(rootsPEM) > 0 {
		if m.Roots, err = parseCertsPEM(rootsPEM); err != nil {
			return Material{}, fmt.Errorf("%s: %w", f.RootsFile, err)
		}
	}
	// An empty trust bundle file trusts nothing more: the file can stay
	// configured between rotations.
	if len(bytes.TrimSpace(trustPEM)) > 0 {
		extra, err := parseCertsPEM(trustPEM)
		if err != nil {
			return Material{}, fmt.Errorf("%s: %w", f.TrustBundleFile, err)
		}
		m.Roots = append(m.Roots, extra...)
	}
	// A chain file may end with its root; roots are not sent after leaves.
	m.Intermediates = dropCerts(m.Intermediates, m.Roots)

	probe := &Authority{td: td, now: opts.Now, minRemaining: opts.MinRemaining}
	if probe.now == nil {
		probe.now = time.Now
	}
	if _, err := probe.check(m); err != nil {
		return Material{}, f.blame(err)
	}
	return m, nil
}

// blame prefixes a check's error with the file(s) the faulty part came from.
func (f Files) blame(err error) error {
	var me *MaterialError
	if !errors.As(err, &me) {
		return err
	}
	var where string
	switch me.Part {
	case PartCert, PartIntermediates:
		where = f.CertFile
	case PartKey:
		where = f.KeyFile
	case PartRoots:
		where = f.RootsFile
		if where == "" {
			where = f.CertFile
		}
		if f.TrustBundleFile != "" {
			where += " + " + f.TrustBundleFile
		}
	}
	return fmt.Errorf("%s: %w", where, err)
}

func dropCerts(certs, drop []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range certs {
		if !containsCert(drop, c) {
			out = append(out, c)
		}
	}
	return out
}

// parseCertsPEM parses one or more CERTIFICATE blocks; anything else in the
// data is an error.
func parseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			if bytes.Contains(data, []byte("-----BEGIN")) {
				return nil, fmt.Errorf("PEM block %d does not decode (bad base64, or no END line)", n)
			}
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is %q, want CERTIFICATE", n, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}
