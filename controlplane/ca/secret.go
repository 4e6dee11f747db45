package ca

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Where the CA keeps its root in Kubernetes mode.
const (
	SecretNamespace = "weft-system"
	SecretName      = "weft-ca"
)

// SecretRef names a Secret.
type SecretRef struct {
	Namespace, Name string
}

// DefaultSecretRef is the Secret the CA keeps its root in: weft-system/weft-ca.
func DefaultSecretRef() SecretRef { return SecretRef{Namespace: SecretNamespace, Name: SecretName} }

func (r SecretRef) String() string { return r.Namespace + "/" + r.Name }

// LoadOrCreateSecret returns the Authority whose root is kept in the Secret
// ref, in cert-manager's layout (type kubernetes.io/tls; tls.crt, tls.key,
// ca.crt; an Opaque Secret with these keys is read too, and tls.crt may be
// an intermediate followed by its chain, as cert-manager writes it). On
// first start (no such Secret) it generates a root with
// GenerateRoot and creates the Secret; if another replica created it in the
// meantime, it discards its own root and loads theirs, so replicas that
// start together agree on one root. Later starts load the Secret; a Secret
// whose data is missing, does not parse or does not form a valid CA for td
// is an error naming the Secret and the key at fault, and is never
// overwritten. A nil now means time.Now.
//
// The control plane's ServiceAccount needs RBAC permission to get and create
// Secrets in ref.Namespace, which must exist.
func LoadOrCreateSecret(ctx context.Context, client kubernetes.Interface, ref SecretRef, td spiffeid.TrustDomain, now func() time.Time) (*Authority, error) {
	if now == nil {
		now = time.Now
	}
	secrets := client.CoreV1().Secrets(ref.Namespace)
	s, err := secrets.Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case err == nil:
		return authorityFromSecret(s, ref, td, now)
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("read CA Secret %s: %w", ref, err)
	}

	cert, key, err := GenerateRoot(td, now())
	if err != nil {
		return nil, err
	}
	want, err := rootSecret(ref, cert, key)
	if err != nil {
		return nil, err
	}
	created, err := secrets.Create(ctx, want, metav1.CreateOptions{})
	switch {
	case err == nil:
		return authorityFromSecret(created, ref, td, now)
	case apierrors.IsAlreadyExists(err):
		// Another replica won the race: its root is the trust domain's.
		s, err := secrets.Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read CA Secret %s created by another replica: %w", ref, err)
		}
		return authorityFromSecret(s, ref, td, now)
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("create CA Secret %s: namespace %q does not exist: %w", ref, ref.Namespace, err)
	default:
		return nil, fmt.Errorf("create CA Secret %s: %w", ref, err)
	}
}

// rootSecret is the Secret that holds a root created by LoadOrCreateSecret.
func rootSecret(ref SecretRef, cert *x509.Certificate, key any) (*corev1.Secret, error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode CA root key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ref.Namespace,
			Name:      ref.Name,
			Labels:    map[string]string{"app.kubernetes.io/managed-by": "weft"},
		},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       certPEM,
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
			CertManagerRoots:        certPEM,
		},
	}, nil
}

// authorityFromSecret reads a CA in cert-manager's layout: tls.crt is the
// signing certificate, optionally followed by intermediates; tls.key its
// key; ca.crt the roots (optional when tls.crt is a self-signed root).
func authorityFromSecret(s *corev1.Secret, ref SecretRef, td spiffeid.TrustDomain, now func() time.Time) (*Authority, error) {
	fail := func(key string, err error) error {
		if key == "" {
			return fmt.Errorf("CA Secret %s: %w", ref, err)
		}
		return fmt.Errorf("CA Secret %s, key %s: %w", ref, key, err)
	}
	if s.Type != corev1.SecretTypeTLS && s.Type != corev1.SecretTypeOpaque {
		return nil, fail("", fmt.Errorf("type is %q, want %q", s.Type, corev1.SecretTypeTLS))
	}
	for _, k := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
		if len(s.Data[k]) == 0 {
			return nil, fail(k, errors.New("missing or empty: restore the Secret, or delete it to have a new root created (every workload certificate issued from the old root stops being trusted)"))
		}
	}
	certs, err := parseCertsPEM(s.Data[corev1.TLSCertKey])
	if err != nil {
		return nil, fail(corev1.TLSCertKey, err)
	}
	m := Material{Cert: certs[0], Intermediates: certs[1:]}
	if m.Key, err = parseKeyPEM(s.Data[corev1.TLSPrivateKeyKey]); err != nil {
		return nil, fail(corev1.TLSPrivateKeyKey, err)
	}
	if roots := s.Data[CertManagerRoots]; len(roots) > 0 {
		if m.Roots, err = parseCertsPEM(roots); err != nil {
			return nil, fail(CertManagerRoots, err)
		}
	}
	m.Intermediates = dropCerts(m.Intermediates, m.Roots)
	a, err := NewAuthority(td, m, Options{Now: now})
	if err != nil {
		var me *MaterialError
		if errors.As(err, &me) {
			switch me.Part {
			case PartKey:
				return nil, fail(corev1.TLSPrivateKeyKey, err)
			case PartRoots:
				return nil, fail(CertManagerRoots, err)
			default:
				return nil, fail(corev1.TLSCertKey, err)
			}
		}
		return nil, fail("", err)
	}
	return a, nil
}
