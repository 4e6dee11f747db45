package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// certValidity is long enough for any run; the PKI dies with the state dir.
const certValidity = 24 * time.Hour

// identity is one client certificate the cluster issues: a user (CN) and
// groups (O), and the kubeconfig that carries it, if any.
type identity struct {
	file       string // <pki>/<file>.crt and .key
	cn         string
	orgs       []string
	kubeconfig string // <state>/<kubeconfig>.kubeconfig, "" for none
}

// identities are the control plane's clients of the API server (and the
// API server's own client of the kubelet), with the users and groups
// RBAC's bootstrap policy binds.
func identities() []identity {
	return []identity{
		{file: "admin", cn: "weft-e2e-admin", orgs: []string{"system:masters"}, kubeconfig: "admin"},
		{file: "controller-manager", cn: "system:kube-controller-manager", kubeconfig: "controller-manager"},
		{file: "scheduler", cn: "system:kube-scheduler", kubeconfig: "scheduler"},
		{file: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}},
	}
}

// nodeIdentities are a node's clients: its kubelet (the Node authorizer
// knows it by its name) and its kube-proxy.
func nodeIdentities(n node) []identity {
	return []identity{
		{file: "kube-proxy", cn: "system:kube-proxy", kubeconfig: "kube-proxy"},
		{file: "kubelet-client", cn: "system:node:" + n.name, orgs: []string{"system:nodes"}, kubeconfig: "kubelet"},
	}
}

// ca is the cluster's one certificate authority.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// writePKI makes the CA, the serving and client certificates, the
// service-account key and the kubeconfigs under the state directory, and
// each node's (with a copy of the CA certificate) under its directory.
func writePKI(l layout, nodes []node) error {
	if err := os.MkdirAll(l.pki(), 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	authority, err := newCA()
	if err != nil {
		return err
	}
	if err := writePEM(l.pkiFile("ca.crt"), "CERTIFICATE", authority.cert.Raw); err != nil {
		return err
	}
	apiserver := leafTemplate("kube-apiserver", nil, x509.ExtKeyUsageServerAuth)
	apiserver.DNSNames = []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"}
	apiserver.IPAddresses = []net.IP{net.ParseIP(APIServerServiceIP), net.ParseIP(NodeIP), net.ParseIP("127.0.0.1")}
	if err := authority.issue(l, "apiserver", apiserver); err != nil {
		return err
	}
	for _, id := range identities() {
		if err := authority.issue(l, id.file, leafTemplate(id.cn, id.orgs, x509.ExtKeyUsageClientAuth)); err != nil {
			return err
		}
		if id.kubeconfig == "" {
			continue
		}
		if err := writeKubeconfig(l, id); err != nil {
			return err
		}
	}
	for _, n := range nodes {
		if err := authority.writeNodePKI(n); err != nil {
			return err
		}
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: service-account key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return fmt.Errorf("pki: service-account key: %w", err)
	}
	return writePEM(l.pkiFile("sa.key"), "EC PRIVATE KEY", der)
}

// writeNodePKI writes the kubelet's serving certificate (the API server
// checks it against the node's address), the node's client certificates
// and kubeconfigs, and the CA certificate into the node's directory.
func (a *ca) writeNodePKI(n node) error {
	l := n.l
	if err := writePEM(l.pkiFile("ca.crt"), "CERTIFICATE", a.cert.Raw); err != nil {
		return err
	}
	tmpl := leafTemplate(n.name, nil, x509.ExtKeyUsageServerAuth)
	tmpl.DNSNames = []string{n.name, "localhost"}
	tmpl.IPAddresses = []net.IP{net.ParseIP(n.ip), net.ParseIP("127.0.0.1")}
	if err := a.issue(l, "kubelet", tmpl); err != nil {
		return err
	}
	for _, id := range nodeIdentities(n) {
		if err := a.issue(l, id.file, leafTemplate(id.cn, id.orgs, x509.ExtKeyUsageClientAuth)); err != nil {
			return err
		}
		if err := writeKubeconfig(l, id); err != nil {
			return err
		}
	}
	return nil
}

func newCA() (*ca, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "weft-e2e-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	return &ca{cert: cert, key: key}, nil
}

func leafTemplate(cn string, orgs []string, usage x509.ExtKeyUsage) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
}

// issue signs tmpl with a new key and writes <pki>/<file>.crt and .key.
func (a *ca) issue(l layout, file string, tmpl *x509.Certificate) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: %s key: %w", file, err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return fmt.Errorf("pki: %s certificate: %w", file, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: %s key: %w", file, err)
	}
	if err := writePEM(l.pkiFile(file+".crt"), "CERTIFICATE", der); err != nil {
		return err
	}
	return writePEM(l.pkiFile(file+".key"), "EC PRIVATE KEY", keyDER)
}

func writeKubeconfig(l layout, id identity) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[namePrefix] = &clientcmdapi.Cluster{
		Server:               l.apiServerURL(),
		CertificateAuthority: l.pkiFile("ca.crt"),
	}
	cfg.AuthInfos[id.cn] = &clientcmdapi.AuthInfo{
		ClientCertificate: l.pkiFile(id.file + ".crt"),
		ClientKey:         l.pkiFile(id.file + ".key"),
	}
	cfg.Contexts[namePrefix] = &clientcmdapi.Context{Cluster: namePrefix, AuthInfo: id.cn}
	cfg.CurrentContext = namePrefix
	if err := clientcmd.WriteToFile(*cfg, l.kubeconfig(id.kubeconfig)); err != nil {
		return fmt.Errorf("pki: kubeconfig %s: %w", id.kubeconfig, err)
	}
	return nil
}

func writePEM(path, kind string, der []byte) error {
	data := pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		// crypto/rand does not fail on Linux; a constant serial would
		// still give a working (if odd) PKI.
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}
