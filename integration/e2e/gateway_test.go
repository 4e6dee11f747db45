//go:build e2e

package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/install/e2e/metallb"
	"github.com/weftmesh/weft/integration/cluster"
)

// installMetalLB applies MetalLB (L2 mode) and its address pool
// 192.0.2.240-250 on the node network, and waits for the controller.
func installMetalLB(t *testing.T) {
	t.Helper()
	if err := applyYAML(t.Context(), metallb.Components()); err != nil {
		t.Fatalf("applying MetalLB: %v", err)
	}
	waitFor(t, 2*time.Minute, "MetalLB's pool to be accepted", func() (bool, string) {
		err := applyYAML(t.Context(), metallb.Pool())
		return err == nil, fmt.Sprint(err)
	})
}

// TestGatewayFromOutside: a Gateway and an HTTPRoute make the meshed
// service reachable over HTTPS from the external client's network
// namespace at the address MetalLB gave the gateway's Service; the
// backend's sidecar saw the gateway's SPIFFE ID, and with
// externalTrafficPolicy Local the backend sees the external client's
// own address in X-Forwarded-For.
func TestGatewayFromOutside(t *testing.T) {
	requireCluster(t)
	installMetalLB(t)
	namespace(t, "e2e-gw", true)
	// The backend runs on the worker, the gateway on the first node (the
	// worker's taint): gateway to sidecar crosses the node network.
	appDeployment(t, "e2e-gw", "web", "web", 1, cluster.OnWorker)

	certPEM, keyPEM, pool := selfSigned(t, "shop.example.com")
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-cert", Namespace: "e2e-gw"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM},
	}
	if err := env.client.Create(t.Context(), secret); err != nil {
		t.Fatal(err)
	}
	if err := applyYAML(t.Context(), []byte(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: e2e-gw}
spec:
  gatewayClassName: weft
  listeners:
  - name: https
    protocol: HTTPS
    port: 443
    hostname: shop.example.com
    tls: {mode: Terminate, certificateRefs: [{name: shop-cert}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: e2e-gw}
spec:
  parentRefs: [{name: public}]
  hostnames: [shop.example.com]
  rules:
  - backendRefs: [{name: web, port: 80}]
`)); err != nil {
		t.Fatalf("applying the Gateway: %v", err)
	}

	var address string
	waitFor(t, 3*time.Minute, "the Gateway to be programmed with an address", func() (bool, string) {
		var gw gwv1.Gateway
		if err := env.client.Get(t.Context(), key("e2e-gw", "public"), &gw); err != nil {
			return false, err.Error()
		}
		for _, c := range gw.Status.Conditions {
			if c.Type == string(gwv1.GatewayConditionProgrammed) && c.Status == metav1.ConditionTrue && len(gw.Status.Addresses) > 0 {
				address = gw.Status.Addresses[0].Value
				return true, ""
			}
		}
		return false, fmt.Sprintf("conditions %v, addresses %v", gw.Status.Conditions, gw.Status.Addresses)
	})
	var svc corev1.Service
	if err := env.client.Get(t.Context(), key("e2e-gw", "public-weft"), &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Errorf("gateway Service is %s with externalTrafficPolicy %q, want LoadBalancer and Local", svc.Spec.Type, svc.Spec.ExternalTrafficPolicy)
	}

	client := outsideClient(t, pool, address+":443")
	var answer struct {
		Hostname string              `json:"hostname"`
		Headers  map[string][]string `json:"headers"`
	}
	waitFor(t, time.Minute, "an HTTPS answer through the gateway", func() (bool, string) {
		resp, err := client.Get("https://shop.example.com/hello")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Sprintf("%d %s", resp.StatusCode, body)
		}
		return json.Unmarshal(body, &answer) == nil, string(body)
	})
	if xff := answer.Headers["X-Forwarded-For"]; len(xff) != 1 || xff[0] != clientAddress {
		t.Errorf("the backend saw X-Forwarded-For %v, want the external client's %s", xff, clientAddress)
	}
	gatewayID := "spiffe://cluster.local/ns/e2e-gw/sa/public-weft"
	if page := serverMetrics(t, "e2e-gw", "app=web"); !strings.Contains(page, gatewayID) {
		t.Errorf("the backend's sidecar never names the gateway's SPIFFE ID %s", gatewayID)
	}
}

// clientAddress is the external client's address on the node network
// (docs/e2e.md).
const clientAddress = "192.0.2.100"

// outsideClient is an HTTPS client whose connections are made in the
// external client's network namespace, to addr whatever the URL says.
func outsideClient(t *testing.T, roots *x509.CertPool, addr string) *http.Client {
	t.Helper()
	netns, err := ns.GetNS(filepath.Join("/var/run/netns", env.cluster.ClientNetns()))
	if err != nil {
		t.Fatalf("the client network namespace: %v", err)
	}
	t.Cleanup(func() { _ = netns.Close() })
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var conn net.Conn
		err := netns.Do(func(ns.NetNS) error {
			var d net.Dialer
			var err error
			conn, err = d.DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:     dial,
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}
}

// selfSigned makes a certificate for host and the pool that trusts it.
func selfSigned(t *testing.T, host string) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), pool
}
