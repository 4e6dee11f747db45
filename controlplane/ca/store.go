package ca

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Names of the files LoadOrCreate keeps in its directory.
const (
	RootCertFile = "root-cert.pem"
	RootKeyFile  = "root-key.pem"
)

// LoadOrCreate returns the Authority whose root is kept in dir. On first use
// (neither file exists) it generates a root with GenerateRoot and writes
// RootCertFile (0644) and RootKeyFile (0600, PKCS#8), each atomically; later
// calls load them. It fails, naming the file, when only one of the two
// exists, when either does not parse, or when they do not form a valid root
// for td (see New). A nil now means time.Now.
//
// Two processes must not share dir: nothing here locks it.
func LoadOrCreate(dir string, td spiffeid.TrustDomain, now func() time.Time) (*Authority, error) {
	if now == nil {
		now = time.Now
	}
	certPath := filepath.Join(dir, RootCertFile)
	keyPath := filepath.Join(dir, RootKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	certMissing := errors.Is(certErr, fs.ErrNotExist)
	keyMissing := errors.Is(keyErr, fs.ErrNotExist)

	switch {
	case certMissing && keyMissing:
		return create(dir, td, now)
	case certErr != nil && !certMissing:
		return nil, fmt.Errorf("read CA root certificate: %w", certErr)
	case keyErr != nil && !keyMissing:
		return nil, fmt.Errorf("read CA root key: %w", keyErr)
	case certMissing:
		return nil, fmt.Errorf("CA directory %s holds %s but not %s: restore it, or remove both to create a new root", dir, RootKeyFile, RootCertFile)
	case keyMissing:
		return nil, fmt.Errorf("CA directory %s holds %s but not %s: restore it, or remove both to create a new root", dir, RootCertFile, RootKeyFile)
	}

	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	a, err := New(td, cert, key, now)
	if err != nil {
		return nil, fmt.Errorf("CA root in %s: %w", dir, err)
	}
	return a, nil
}

func create(dir string, td spiffeid.TrustDomain, now func() time.Time) (*Authority, error) {
	cert, key, err := GenerateRoot(td, now())
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode CA root key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create CA directory: %w", err)
	}
	// The key goes first: a crash between the two writes leaves a key
	// without a certificate, which the next start reports, rather than a
	// certificate whose key is lost.
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writeFileAtomic(dir, RootKeyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if err := writeFileAtomic(dir, RootCertFile, certPEM, 0o644); err != nil {
		return nil, err
	}
	return New(td, cert, key, now)
}

// writeFileAtomic writes data to dir/name through a temporary file in dir
// and a rename, so that readers see the old file or the whole new one.
func writeFileAtomic(dir, name string, data []byte, perm fs.FileMode) (err error) {
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	// Make the rename itself durable.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write %s: sync directory: %w", name, err)
	}
	return nil
}

func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM data found")
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("PEM block is %q, want CERTIFICATE", block.Type)
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("more than one PEM block; want exactly one root certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

func parseKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM data found")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block is %q, want PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", key)
	}
	return signer, nil
}
