package configdir

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"slices"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/weftmesh/weft/controlplane/model"
)

// Standalone mode reads Secrets for one purpose, the certificates a
// Gateway's listeners serve, so it takes only kubernetes.io/tls Secrets,
// and checks what the API server does not: that tls.crt is a PEM
// certificate chain and tls.key the PEM private key of its first
// certificate. A broken Secret is reported like any other problem, and
// the last good configuration (with the previous certificate) stays in
// force until it is fixed.

func defaultSecret(s *corev1.Secret) {
	defaultObject(s)
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	// The API server writes stringData over data and keeps only data;
	// validation still needs to know where each key was written.
}

func validateSecret(doc document, _ spiffeid.TrustDomain, s *corev1.Secret) []Problem {
	c := &checker{doc: doc}
	c.metadata(s, validation.IsDNS1123Subdomain)
	if s.Type != corev1.SecretTypeTLS {
		c.add("type", "%q is not supported: standalone mode reads only %s Secrets (a Gateway's certificates)",
			s.Type, corev1.SecretTypeTLS)
		return c.problems
	}
	for _, k := range slices.Sorted(maps.Keys(s.Data)) {
		c.check(fieldPath("data").key(k), validation.IsConfigMapKey(k))
	}
	for _, k := range slices.Sorted(maps.Keys(s.StringData)) {
		c.check(fieldPath("stringData").key(k), validation.IsConfigMapKey(k))
	}
	certPath, cert, certOK := secretKey(s, corev1.TLSCertKey)
	keyPath, key, keyOK := secretKey(s, corev1.TLSPrivateKeyKey)
	if !certOK {
		c.add(certPath, "is required in a %s Secret: the PEM certificate chain", corev1.SecretTypeTLS)
	}
	if !keyOK {
		c.add(keyPath, "is required in a %s Secret: the PEM private key", corev1.SecretTypeTLS)
	}
	if !certOK || !keyOK {
		return c.problems
	}
	leaf, err := parseCertChain(cert)
	if err != nil {
		c.add(certPath, "%v", err)
	}
	priv, err := parsePrivateKey(key)
	if err != nil {
		c.add(keyPath, "%v", err)
	}
	if leaf != nil && priv != nil {
		pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(priv.Public()) {
			c.add(keyPath, "does not match the certificate in %s (the first certificate of the chain)", corev1.TLSCertKey)
		}
	}
	return c.problems
}

// secretKey returns a Secret's key as the API server would store it
// (stringData wins over data) and the field it was written in.
func secretKey(s *corev1.Secret, key string) (fieldPath, []byte, bool) {
	if v, ok := s.StringData[key]; ok {
		return fieldPath("stringData").key(key), []byte(v), true
	}
	v, ok := s.Data[key]
	return fieldPath("data").key(key), v, ok && len(v) > 0
}

// parseCertChain returns the first certificate of a PEM chain, which must
// hold only CERTIFICATE blocks, at least one.
func parseCertChain(data []byte) (*x509.Certificate, error) {
	var leaf *x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE: %s holds only the certificate chain",
				n, block.Type, corev1.TLSCertKey)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d is not an X.509 certificate: %w", n, err)
		}
		if leaf == nil {
			leaf = cert
		}
	}
	if leaf == nil {
		return nil, fmt.Errorf("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
	}
	return leaf, nil
}

// parsePrivateKey parses the first PEM block as a PKCS #8, PKCS #1 (RSA)
// or SEC 1 (EC) private key.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("holds no PEM private key (-----BEGIN PRIVATE KEY-----)")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("holds a PEM %q block, not a private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("the PEM %q block does not parse: %w", block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("holds a %T, which cannot sign a TLS handshake", key)
	}
	return signer, nil
}

func addSecret(m *model.Mesh, s *corev1.Secret) {
	_, cert, _ := secretKey(s, corev1.TLSCertKey)
	_, key, _ := secretKey(s, corev1.TLSPrivateKeyKey)
	m.Ingress.Secrets = append(m.Ingress.Secrets, model.TLSSecret{
		Namespace:  s.Namespace,
		Name:       s.Name,
		Cert:       cert,
		PrivateKey: key,
	})
}

// pruneSecrets keeps only the Secrets some Gateway's certificateRefs
// name (model.Ingress.Secrets): a Secret nothing uses neither reaches
// the translator nor makes a change worth pushing.
func pruneSecrets(m *model.Mesh) {
	used := make(map[model.NamespacedName]bool)
	for i := range m.Ingress.Gateways {
		g := &m.Ingress.Gateways[i]
		for _, l := range g.Spec.Listeners {
			if l.TLS == nil {
				continue
			}
			for _, ref := range l.TLS.CertificateRefs {
				ns := g.Namespace
				if ref.Namespace != nil {
					ns = string(*ref.Namespace)
				}
				used[model.NamespacedName{Namespace: ns, Name: string(ref.Name)}] = true
			}
		}
	}
	m.Ingress.Secrets = slices.DeleteFunc(m.Ingress.Secrets, func(s model.TLSSecret) bool { return !used[s.Ref()] })
}
