package xds

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.uber.org/goleak"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/weftmesh/weft/controlplane/model"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var td = spiffeid.RequireTrustDomainFromString("cluster.local")

func testMesh(backendAddr string) *model.Mesh {
	m := &model.Mesh{
		TrustDomain: td,
		Services: []model.Service{{
			Name: "backend", Namespace: "shop", Selector: map[string]string{"app": "backend"},
			Ports: []model.ServicePort{{Name: "tcp", Port: 9000, TargetPort: 9000}},
		}},
		Workloads: []model.Workload{
			{
				Name: "backend-1", Namespace: "shop", ServiceAccount: "backend", Labels: map[string]string{"app": "backend"},
				Address: netip.MustParseAddr(backendAddr), LocalAddress: netip.MustParseAddr("127.0.0.1"),
				Ports: []model.WorkloadPort{{Name: "tcp", Port: 9000, TargetPort: 19000}},
			},
			{
				Name: "frontend-1", Namespace: "shop", ServiceAccount: "frontend", Labels: map[string]string{"app": "frontend"},
				Address: netip.MustParseAddr("192.0.2.2"), LocalAddress: netip.MustParseAddr("127.0.0.1"),
				Outbound: []model.Outbound{{Service: model.NamespacedName{Namespace: "shop", Name: "backend"}, Port: 9000, LocalPort: 9000}},
			},
		},
	}
	m.Sort()
	return m
}

func version(t *testing.T, s *Server, node string) string {
	t.Helper()
	snap, err := s.cache.GetSnapshot(node)
	if err != nil {
		return ""
	}
	return snap.GetVersion(resourcev3.ListenerType)
}

func TestUpdateVersionsFollowContent(t *testing.T) {
	s := New(Config{AllWorkloads: true}) // reads snapshots without streams
	ctx := t.Context()
	if err := s.Update(ctx, testMesh("192.0.2.3")); err != nil {
		t.Fatal(err)
	}
	front, back := version(t, s, "frontend-1.shop"), version(t, s, "backend-1.shop")
	if front == "" || back == "" || front == back {
		t.Fatalf("versions after first update: frontend %q, backend %q", front, back)
	}

	if err := s.Update(ctx, testMesh("192.0.2.3")); err != nil {
		t.Fatal(err)
	}
	if got := version(t, s, "frontend-1.shop"); got != front {
		t.Errorf("an identical mesh changed the frontend's version: %q -> %q", front, got)
	}

	// Moving the backend changes the frontend's endpoints, hence its version.
	if err := s.Update(ctx, testMesh("192.0.2.4")); err != nil {
		t.Fatal(err)
	}
	if got := version(t, s, "frontend-1.shop"); got == front {
		t.Error("a moved backend did not change the frontend's version")
	}

	m := testMesh("192.0.2.4")
	m.Workloads = m.Workloads[1:] // frontend only
	if err := s.Update(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got := version(t, s, "backend-1.shop"); got != "" {
		t.Errorf("a removed workload kept its snapshot, version %q", got)
	}
}

// testCA issues the server and client certificates of the stream tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test root"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

func (ca *testCA) issue(t *testing.T, id string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(id)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), URIs: []*url.URL{u},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serve runs s behind TLS that asks for (but does not require) a client
// certificate, as the control plane does.
func serve(t *testing.T, s *Server, ca *testCA) string {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	serverCert := ca.issue(t, "spiffe://cluster.local/ns/weft-system/sa/weft-controlplane")
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{serverCert},
		ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool,
	})))
	s.Register(t.Context(), g)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(ln) }()
	t.Cleanup(func() { g.Stop(); <-done })
	return ln.Addr().String()
}

func dial(t *testing.T, addr string, ca *testCA, cert *tls.Certificate) discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "127.0.0.1"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

func TestStreamsAreAuthorizedBySPIFFEID(t *testing.T) {
	ca := newTestCA(t)
	s := New(Config{})
	if err := s.Update(t.Context(), testMesh("192.0.2.3")); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s, ca)
	frontendCert := ca.issue(t, "spiffe://cluster.local/ns/shop/sa/frontend")

	tests := []struct {
		name     string
		cert     *tls.Certificate
		node     string
		wantCode codes.Code
		wantMsg  string
	}{
		{"own node", &frontendCert, "frontend-1.shop", codes.OK, ""},
		{"another workload's node", &frontendCert, "backend-1.shop", codes.PermissionDenied, "belongs to spiffe://cluster.local/ns/shop/sa/backend"},
		{"unknown node", &frontendCert, "ghost-1.shop", codes.NotFound, "no workload shop/ghost-1"},
		{"malformed node", &frontendCert, "frontend", codes.InvalidArgument, "<name>.<namespace>"},
		{"no client certificate", nil, "frontend-1.shop", codes.Unauthenticated, "client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := dial(t, addr, ca, tt.cert)
			err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: tt.node}, TypeUrl: resourcev3.ClusterType})
			if err == nil {
				var resp *discoveryv3.DiscoveryResponse
				resp, err = stream.Recv()
				if err == nil && len(resp.GetResources()) == 0 {
					t.Fatalf("response without resources: %v", resp)
				}
			}
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code %v (%v), want %v", got, err, tt.wantCode)
			}
			if tt.wantMsg != "" && !strings.Contains(status.Convert(err).Message(), tt.wantMsg) {
				t.Errorf("message %q lacks %q", status.Convert(err).Message(), tt.wantMsg)
			}
		})
	}
}

func TestNACKIsRecorded(t *testing.T) {
	ca := newTestCA(t)
	s := New(Config{})
	if err := s.Update(t.Context(), testMesh("192.0.2.3")); err != nil {
		t.Fatal(err)
	}
	cert := ca.issue(t, "spiffe://cluster.local/ns/shop/sa/frontend")
	stream := dial(t, serve(t, s, ca), ca, &cert)
	node := &corev3.Node{Id: "frontend-1.shop"}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{
		TypeUrl: resourcev3.ClusterType, ResponseNonce: resp.GetNonce(),
		ErrorDetail: &statuspb.Status{Code: int32(codes.InvalidArgument), Message: `cluster "x": lb_policy: unsupported`},
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.Status()
		if len(st) == 1 && st[0].Nacked[resourcev3.ClusterType] != "" {
			if st[0].Node != "frontend-1.shop" || st[0].Identity != "spiffe://cluster.local/ns/shop/sa/frontend" {
				t.Errorf("status names %q / %q", st[0].Node, st[0].Identity)
			}
			if !strings.Contains(st[0].Nacked[resourcev3.ClusterType], "lb_policy") {
				t.Errorf("NACK detail lost: %q", st[0].Nacked[resourcev3.ClusterType])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("NACK not recorded: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
