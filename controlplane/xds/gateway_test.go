package xds

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/gateway"
)

// servingCert is a self-signed certificate for host and its key, PEM.
func servingCert(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

const (
	secretA = "kubernetes://shop/a-cert"
	secretB = "kubernetes://shop/b-cert"
)

// gatewaysMesh is testMesh with Gateways a and b of namespace shop, each
// with an HTTPS listener serving its own Secret, and their gateway
// workloads a-weft-1 and b-weft-1.
func gatewaysMesh(t *testing.T) *model.Mesh {
	t.Helper()
	m := testMesh("127.0.0.3")
	for _, name := range []string{"a", "b"} {
		cert, key := servingCert(t, name+".example.com")
		m.Ingress.Secrets = append(m.Ingress.Secrets, model.TLSSecret{Namespace: "shop", Name: name + "-cert", Cert: cert, PrivateKey: key})
		m.Ingress.Gateways = append(m.Ingress.Gateways, gwv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
			Spec: gwv1.GatewaySpec{GatewayClassName: gateway.ClassName, Listeners: []gwv1.Listener{{
				Name: "https", Protocol: gwv1.HTTPSProtocolType, Port: 8443,
				TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: gwv1.ObjectName(name + "-cert")}}},
			}}},
		})
		m.Workloads = append(m.Workloads, model.Workload{
			Name: name + "-weft-1", Namespace: "shop", ServiceAccount: name + "-weft",
			Address: netip.MustParseAddr("127.0.0.1"), Gateway: &model.NamespacedName{Namespace: "shop", Name: name},
		})
	}
	m.Sort()
	return m
}

func secretNames(resp *discoveryv3.DiscoveryResponse) []string {
	var out []string
	for _, r := range resp.GetResources() {
		var s tlsv3.Secret
		if err := r.UnmarshalTo(&s); err == nil {
			out = append(out, s.GetName())
		}
	}
	slices.Sort(out)
	return out
}

// TestSecretsOnlyToTheirGateway: over SotW and delta, a gateway proxy
// gets the Secrets of its own Gateway and no other, even when it asks for
// them by name; it cannot open another gateway's node; a sidecar gets no
// secret at all.
func TestSecretsOnlyToTheirGateway(t *testing.T) {
	ca := newTestCA(t)
	s := New(Config{})
	if err := s.Update(t.Context(), gatewaysMesh(t)); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s, ca)
	certA := ca.issue(t, "spiffe://cluster.local/ns/shop/sa/a-weft")

	t.Run("sotw: its own secret only", func(t *testing.T) {
		stream := dial(t, addr, ca, &certA)
		if err := stream.Send(&discoveryv3.DiscoveryRequest{
			Node: &corev3.Node{Id: "a-weft-1.shop"}, TypeUrl: resourcev3.SecretType, ResourceNames: []string{secretA, secretB},
		}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if got := secretNames(resp); !slices.Equal(got, []string{secretA}) {
			t.Errorf("gateway a got secrets %v, want only %s", got, secretA)
		}
	})

	t.Run("sotw: another gateway's node is refused", func(t *testing.T) {
		stream := dial(t, addr, ca, &certA)
		if err := stream.Send(&discoveryv3.DiscoveryRequest{
			Node: &corev3.Node{Id: "b-weft-1.shop"}, TypeUrl: resourcev3.SecretType, ResourceNames: []string{secretB},
		}); err != nil {
			t.Fatal(err)
		}
		_, err := stream.Recv()
		if code := status.Code(err); code != codes.PermissionDenied {
			t.Fatalf("asking for gateway b's node with a's certificate: %v, want PermissionDenied", err)
		}
	})

	t.Run("delta: its own secret only", func(t *testing.T) {
		stream := dialDelta(t, t.Context(), addr, ca, certA)
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{
			Node: &corev3.Node{Id: "a-weft-1.shop"}, TypeUrl: resourcev3.SecretType, ResourceNamesSubscribe: []string{secretA, secretB},
		}); err != nil {
			t.Fatal(err)
		}
		got := recvDelta(t, stream, 1)
		wantNames(t, "delta secrets of gateway a", got[resourcev3.SecretType], secretA)
	})

	t.Run("a sidecar gets no secret", func(t *testing.T) {
		cert := ca.issue(t, "spiffe://cluster.local/ns/shop/sa/frontend")
		stream := dial(t, addr, ca, &cert)
		node := &corev3.Node{Id: "frontend-1.shop"}
		// Secrets first, then clusters: the first answer must be the
		// clusters', as no secret exists for a sidecar.
		if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.SecretType, ResourceNames: []string{secretA, secretB}}); err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetTypeUrl() != resourcev3.ClusterType || len(secretNames(resp)) != 0 {
			t.Errorf("a sidecar's first answer is of type %s with secrets %v; want clusters and no secret", resp.GetTypeUrl(), secretNames(resp))
		}
	})
}

// TestSecretRotationIsPushed: a Secret that changes (and nothing else)
// reaches the connected gateway proxy: Update must not take the fast path
// of endpoint-only changes when the Ingress changes.
func TestSecretRotationIsPushed(t *testing.T) {
	ca := newTestCA(t)
	s := New(Config{})
	m := gatewaysMesh(t)
	if err := s.Update(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s, ca)
	certA := ca.issue(t, "spiffe://cluster.local/ns/shop/sa/a-weft")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	stream := dialDelta(t, ctx, addr, ca, certA)
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{
		Node: &corev3.Node{Id: "a-weft-1.shop"}, TypeUrl: resourcev3.SecretType, ResourceNamesSubscribe: []string{secretA},
	}); err != nil {
		t.Fatal(err)
	}
	first := recvDelta(t, stream, 1)[resourcev3.SecretType]
	wantNames(t, "initial secrets", first, secretA)

	// The same mesh with a's certificate rotated: the Workloads and
	// Services slices are shared, as after an informer event on a Secret.
	next := *m
	next.Ingress.Secrets = slices.Clone(m.Ingress.Secrets)
	cert, key := servingCert(t, "a.example.com")
	for i := range next.Ingress.Secrets {
		if next.Ingress.Secrets[i].Name == "a-cert" {
			next.Ingress.Secrets[i].Cert, next.Ingress.Secrets[i].PrivateKey = cert, key
		}
	}
	if err := s.Update(t.Context(), &next); err != nil {
		t.Fatal(err)
	}
	rotated := recvDelta(t, stream, 1)[resourcev3.SecretType]
	wantNames(t, "rotated secrets", rotated, secretA)
	var sec tlsv3.Secret
	if err := rotated.GetResources()[0].GetResource().UnmarshalTo(&sec); err != nil {
		t.Fatal(err)
	}
	if got := sec.GetTlsCertificate().GetCertificateChain().GetInlineBytes(); !slices.Equal(got, cert) {
		t.Error("the pushed secret is not the rotated certificate")
	}
}

// TestAffectedByIngress: a change to the Ingress alone translates every
// workload again, and an endpoint change reaches every gateway proxy.
func TestAffectedByIngress(t *testing.T) {
	prev := gatewaysMesh(t)
	next := *prev
	next.Ingress.Gateways = slices.Clone(prev.Ingress.Gateways)
	next.Ingress.Gateways[0].Annotations = map[string]string{gateway.TrustedHopsAnnotation: "1"}
	if _, fast := affectedBy(prev, &next); fast {
		t.Error("an Ingress change took the fast path: gateway proxies would keep their old configuration")
	}

	moved := *prev
	moved.Services = slices.Clone(prev.Services)
	moved.Services[0].Slices = []model.SliceEndpoint{{Address: netip.MustParseAddr("127.0.0.9"), Ready: true}}
	affected, fast := affectedBy(prev, &moved)
	if !fast {
		t.Fatal("an endpoint change did not take the fast path")
	}
	for i, w := range moved.Workloads {
		if w.Gateway != nil && !affected[i] {
			t.Errorf("gateway workload %s is not translated again after an endpoint change", w.Key())
		}
	}
}
