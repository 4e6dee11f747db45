package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	grpcxds "google.golang.org/grpc/xds"

	"github.com/weftmesh/weft/controlplane"
	"github.com/weftmesh/weft/controlplane/xds"
	"github.com/weftmesh/weft/proxy/identity"
)

// backendHeader is the response header each proxyless test backend sets
// to its name, so that the client sees who answered.
const backendHeader = "x-backend"

// startGRPCBackend serves the gRPC health service on a loopback port of
// its own and names itself in every response's headers. It returns the
// port.
func startGRPCBackend(t *testing.T, name string) int {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if err := grpc.SetHeader(ctx, metadata.Pairs(backendHeader, name)); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return ln.Addr().(*net.TCPAddr).Port
}

// proxylessYAML is the mesh of TestProxylessGRPC: Service echo (grpc)
// over echo-1 and echo-2 (track v1) and echo-3 (v2), Services echo-v1 and
// echo-v2 over one track each, and the proxyless client-1. The backends
// are Workloads without sidecars: each serves plaintext gRPC on its own
// port of 127.0.0.1, which the Service's named targetPort finds.
func proxylessYAML(ports [3]int) string {
	var b strings.Builder
	for _, s := range []struct{ name, selector string }{
		{"echo", "{app: echo}"},
		{"echo-v1", "{app: echo, track: v1}"},
		{"echo-v2", "{app: echo, track: v2}"},
	} {
		fmt.Fprintf(&b, `apiVersion: v1
kind: Service
metadata: {name: %s, namespace: rpc}
spec:
  selector: %s
  ports:
  - {name: grpc, port: 50051, targetPort: grpc, appProtocol: grpc}
---
`, s.name, s.selector)
	}
	for i, track := range []string{"v1", "v1", "v2"} {
		fmt.Fprintf(&b, `apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: echo-%d, namespace: rpc, labels: {app: echo, track: %s}}
spec:
  serviceAccount: echo
  address: 127.0.0.1
  localAddress: 127.0.0.2
  ports:
  - {name: grpc, port: %d}
---
`, i+1, track, ports[i])
	}
	fmt.Fprintf(&b, `apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: client-1, namespace: rpc, labels: {app: client}}
spec:
  serviceAccount: client
  address: 127.0.0.1
  proxyless: true
  bootstrapTokenSHA256: %s
`, tokenDigest("client-token"))
	return b.String()
}

// splitRoute is a GRPCRoute on echo:50051 sending every call to echo-v1
// and echo-v2 with the given weights.
func splitRoute(v1, v2 int) string {
	return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: echo-split, namespace: rpc}
spec:
  parentRefs:
  - {group: "", kind: Service, name: echo, port: 50051}
  rules:
  - backendRefs:
    - {name: echo-v1, port: 50051, weight: %d}
    - {name: echo-v2, port: 50051, weight: %d}
`, v1, v2)
}

// TestProxylessGRPC: a real grpc-go client with the xds:/// resolver,
// bootstrapped against a standalone control plane over TLS with an SVID
// the control plane's CA issued for its proxyless Workload, resolves the
// Service by name, spreads calls over all its endpoints, and follows a
// GRPCRoute's weights as they change in the config directory.
func TestProxylessGRPC(t *testing.T) {
	dir := t.TempDir()
	meshDir, stateDir := filepath.Join(dir, "mesh"), filepath.Join(dir, "state")
	for _, d := range []string{meshDir, stateDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var ports [3]int
	for i := range ports {
		ports[i] = startGRPCBackend(t, fmt.Sprintf("echo-%d", i+1))
	}
	writeFile(t, filepath.Join(meshDir, "mesh.yaml"), proxylessYAML(ports))

	cfg := controlplane.Default()
	cfg.ConfigDir, cfg.StateDir = meshDir, stateDir
	// grpc-go's xDS client checks the server's name against the DNS names
	// of its certificate: the client dials "localhost".
	cfg.XDSAddress, cfg.MonitorAddress = "127.0.0.1:0", "127.0.0.1:0"
	cfg.ServingDNSNames = append(cfg.ServingDNSNames, "localhost")
	cp := controlplane.New(cfg, testLogger(t, "controlplane"))
	if err := cp.Start(t.Context()); err != nil {
		t.Fatalf("starting control plane: %v", err)
	}
	t.Cleanup(func() { _ = cp.Close() })
	_, xdsPort, err := net.SplitHostPort(cp.XDSAddr().String())
	if err != nil {
		t.Fatal(err)
	}

	bootstrap := proxylessBootstrap(t, cp.XDSAddr().String(), dir, "localhost:"+xdsPort)
	resolver, err := grpcxds.NewXDSResolverWithConfigForTesting(bootstrap)
	if err != nil {
		t.Fatalf("xDS resolver: %v", err)
	}
	conn, err := grpc.NewClient("xds:///echo.rpc.svc.cluster.local:50051",
		grpc.WithResolvers(resolver),
		// Proxyless clients talk plaintext to their backends (docs/kubernetes.md).
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := healthpb.NewHealthClient(conn)
	call := func() (string, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		var md metadata.MD
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&md)); err != nil {
			return "", err
		}
		if v := md.Get(backendHeader); len(v) == 1 {
			return v[0], nil
		}
		return "", fmt.Errorf("response without %s header", backendHeader)
	}

	// Resolved by name and balanced over every endpoint.
	seen := map[string]bool{}
	var lastErr error
	waitFor(t, "calls to reach echo-1, echo-2 and echo-3", func() bool {
		name, err := call()
		if err != nil {
			lastErr = err
			return false
		}
		seen[name] = true
		return len(seen) == 3
	})
	if lastErr != nil {
		t.Logf("calls failed before the client had its configuration: %v", lastErr)
	}

	// A GRPCRoute weight change moves all calls.
	for _, step := range []struct {
		v1, v2 int
		want   map[string]bool
	}{
		{100, 0, map[string]bool{"echo-1": true, "echo-2": true}},
		{0, 100, map[string]bool{"echo-3": true}},
	} {
		writeFile(t, filepath.Join(meshDir, "route.yaml"), splitRoute(step.v1, step.v2))
		got := map[string]bool{}
		waitFor(t, fmt.Sprintf("weights %d/%d: 30 calls in a row to %v", step.v1, step.v2, step.want), func() bool {
			clear(got)
			for range 30 {
				name, err := call()
				if err != nil {
					t.Logf("call: %v", err)
					return false
				}
				if !step.want[name] {
					return false
				}
				got[name] = true
			}
			return true
		})
		if len(got) != len(step.want) {
			t.Errorf("weights %d/%d: 30 calls reached %v, want every one of %v", step.v1, step.v2, got, step.want)
		}
	}

	// The control plane saw grpc-go accept every type it sent, as the
	// client's own identity.
	var st *xds.ProxyStatus
	for _, s := range cp.XDS().Status() {
		if s.Node == "client-1.rpc" {
			st = &s
		}
	}
	if st == nil {
		t.Fatal("the control plane lists no stream of node client-1.rpc")
	}
	switch {
	case st.Identity != "spiffe://cluster.local/ns/rpc/sa/client":
		t.Errorf("stream identity %s", st.Identity)
	case len(st.Nacked) != 0:
		t.Errorf("grpc-go refused resources: %v", st.Nacked)
	}
	for _, typ := range []string{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType} {
		if st.Acked[typ] == "" {
			t.Errorf("grpc-go never acknowledged %s", typ)
		}
	}
}

// proxylessBootstrap obtains the client's SVID from the control plane's CA
// (as its sidecar would, with its bootstrap token), writes it next to the
// CA's root, and returns a grpc-go xDS bootstrap that dials serverURI
// with TLS channel credentials made of them, as node client-1.rpc.
func proxylessBootstrap(t *testing.T, caAddr, dir, serverURI string) []byte {
	t.Helper()
	rootFile := filepath.Join(dir, "state", "root-cert.pem")
	rootPEM, err := os.ReadFile(rootFile)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := parsePEMCerts(rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	m := identity.New(identity.Config{
		CAAddress:      caAddr,
		TrustDomain:    spiffeid.RequireTrustDomainFromString("cluster.local"),
		Namespace:      "rpc",
		ServiceAccount: "client",
		Token:          func(context.Context) (string, error) { return "client-token", nil },
		RootCAs:        roots,
		Logger:         testLogger(t, "identity"),
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatalf("obtaining the client's SVID: %v", err)
	}
	svid, err := m.GetX509SVID()
	_ = m.Close() // the test outlives no certificate: one is enough
	if err != nil {
		t.Fatal(err)
	}
	if want := "spiffe://cluster.local/ns/rpc/sa/client"; svid.ID.String() != want {
		t.Fatalf("SVID for %s, want %s", svid.ID, want)
	}
	certPEM, keyPEM, err := svid.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "client-cert.pem"), filepath.Join(dir, "client-key.pem")
	writeFile(t, certFile, string(certPEM))
	writeFile(t, keyFile, string(keyPEM))
	return fmt.Appendf(nil, `{
  "xds_servers": [{
    "server_uri": %q,
    "channel_creds": [{"type": "tls", "config": {
      "ca_certificate_file": %q,
      "certificate_file": %q,
      "private_key_file": %q
    }}],
    "server_features": ["xds_v3"]
  }],
  "node": {"id": "client-1.rpc"}
}`, serverURI, rootFile, certFile, keyFile)
}
