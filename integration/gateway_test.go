package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/weftmesh/weft/proxy"
	"github.com/weftmesh/weft/proxy/identity"
)

// The gateway fixture's ports: the Gateway's listeners on the gateway
// workload's address, and the Services behind it.
const (
	gwHTTPPort    = 18080
	gwHTTPSPort   = 18443
	gwTLSPort     = 18444
	svcHTTPPort   = 8080
	svcSecurePort = 8443
	appHTTPPort   = 19080
	gatewayID     = "spiffe://cluster.local/ns/shop/sa/public-weft"
	gatewaySubnet = 60
)

// gatewayFixture is the base mesh plus an ingress gateway (workload
// gateway-1, Gateway shop/public) in front of four meshed services: api
// and web (HTTP apps that echo the headers they got), grpc (a gRPC health
// server) and secure (an app that serves TLS itself, for passthrough).
type gatewayFixture struct {
	*meshFixture
	ca *externalCA
	// certs are the Secrets' certificates by host: a.example.com and
	// b.example.com in shop, c.example.com in other.
	certs   map[string]issued
	grant   bool // a ReferenceGrant lets shop's Gateway use other's Secret
	gateway *proxy.Proxy
	// backends are the sidecars of api, web, grpc and secure.
	backends []*proxy.Proxy
}

func newGatewayFixture(t *testing.T) *gatewayFixture {
	t.Helper()
	g := &gatewayFixture{ca: newExternalCA(t), certs: map[string]issued{}}
	for _, h := range []string{"a.example.com", "b.example.com", "c.example.com"} {
		g.certs[h] = g.ca.issue(h)
	}
	secure := g.ca.issue("secure.example.com")
	g.meshFixture = newMeshWith(t, gatewaySubnet, g.yaml, func(t *testing.T, addr string) { startEcho(t, addr) })
	f := g.meshFixture

	startHeaderApp(t, fmt.Sprintf("%s20:%d", f.net, appHTTPPort), "api")
	startHeaderApp(t, fmt.Sprintf("%s21:%d", f.net, appHTTPPort), "web")
	startHealthApp(t, fmt.Sprintf("%s22:%d", f.net, appHTTPPort))
	startTLSEcho(t, fmt.Sprintf("%s23:%d", f.net, appHTTPPort), secure.tlsCertificate(t))

	var ps []*proxy.Proxy
	for i, sa := range []string{"api", "web", "grpc", "secure"} {
		writeFile(t, filepath.Join(f.dir, sa+"-token"), sa+"-token\n")
		ps = append(ps, f.startProxy(sa+"-1", sa, fmt.Sprintf("%s%d", f.net, 20+i)))
	}
	g.backends = ps
	writeFile(t, filepath.Join(f.dir, "public-weft-token"), "public-weft-token\n")
	g.gateway = g.startGateway()
	ps = append(ps[:len(ps):len(ps)], g.gateway)
	waitFor(t, "the gateway and the backends' sidecars ready", func() bool {
		for _, p := range ps {
			if !p.Ready() {
				return false
			}
		}
		return true
	})
	return g
}

func (g *gatewayFixture) startGateway() *proxy.Proxy {
	f := g.meshFixture
	f.t.Helper()
	cfg := proxy.Default()
	cfg.Mode = proxy.ModeGateway
	cfg.ControlPlaneAddress = f.cp.XDSAddr().String()
	cfg.CARootFile = filepath.Join(f.dir, "state", "root-cert.pem")
	cfg.Name, cfg.Namespace, cfg.ServiceAccount = "gateway-1", "shop", "public-weft"
	cfg.TokenFile = filepath.Join(f.dir, "public-weft-token")
	cfg.AdminAddress = f.net + "10:0"
	cfg.StatusAddress = f.net + "10:0"
	p := proxy.New(cfg, testLogger(f.t, "gateway-1"))
	ctx, cancel := context.WithTimeout(f.t.Context(), 30*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		f.t.Fatalf("starting the gateway proxy: %v", err)
	}
	f.t.Cleanup(func() { _ = p.Close() })
	return p
}

// yaml is the base mesh plus the gateway's objects, from g's current
// certificates and grant.
func (g *gatewayFixture) yaml(p string) string {
	var b strings.Builder
	b.WriteString(meshYAML(p))
	for i, name := range []string{"api", "web", "grpc", "secure"} {
		port, protocol := svcHTTPPort, "http"
		switch name {
		case "grpc":
			protocol = "grpc"
		case "secure":
			port, protocol = svcSecurePort, "tcp"
		}
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: shop}
spec:
  selector: {app: %[1]s}
  ports:
  - {name: main, port: %[2]d, appProtocol: %[3]s}
---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: %[1]s-1, namespace: shop, labels: {app: %[1]s}}
spec:
  serviceAccount: %[1]s
  address: %[4]s%[5]d
  localAddress: %[4]s%[5]d
  ports:
  - {name: main, port: %[2]d, targetPort: %[6]d}
  bootstrapTokenSHA256: %[7]s
`, name, port, protocol, p, 20+i, appHTTPPort, tokenDigest(name+"-token"))
	}
	fmt.Fprintf(&b, `---
apiVersion: mesh.weft.dev/v1alpha1
kind: Workload
metadata: {name: gateway-1, namespace: shop}
spec:
  serviceAccount: public-weft
  address: %[1]s10
  gateway: public
  bootstrapTokenSHA256: %[2]s
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: shop}
spec:
  gatewayClassName: weft
  listeners:
  - {name: http, protocol: HTTP, port: %[3]d}
  - name: https-a
    protocol: HTTPS
    port: %[4]d
    hostname: a.example.com
    tls: {mode: Terminate, certificateRefs: [{name: a-cert}]}
  - name: https-b
    protocol: HTTPS
    port: %[4]d
    hostname: b.example.com
    tls: {mode: Terminate, certificateRefs: [{name: b-cert}]}
  - name: https-c
    protocol: HTTPS
    port: %[4]d
    hostname: c.example.com
    tls: {mode: Terminate, certificateRefs: [{name: c-cert, namespace: other}]}
  - name: passthrough
    protocol: TLS
    port: %[5]d
    hostname: secure.example.com
    tls: {mode: Passthrough}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: storefront, namespace: shop}
spec:
  parentRefs:
  - {name: public, sectionName: http}
  - {name: public, sectionName: https-a}
  - {name: public, sectionName: https-c}
  hostnames: [a.example.com, c.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: api, port: %[6]d}]
  - backendRefs: [{name: web, port: %[6]d}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: health, namespace: shop}
spec:
  parentRefs: [{name: public, sectionName: https-b}]
  hostnames: [b.example.com]
  rules:
  - backendRefs: [{name: grpc, port: %[6]d}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: secure, namespace: shop}
spec:
  parentRefs: [{name: public, sectionName: passthrough}]
  hostnames: [secure.example.com]
  rules:
  - backendRefs: [{name: secure, port: %[7]d}]
`, p, tokenDigest("public-weft-token"), gwHTTPPort, gwHTTPSPort, gwTLSPort, svcHTTPPort, svcSecurePort)
	b.WriteString("---\n" + g.certs["a.example.com"].secretYAML("shop", "a-cert"))
	b.WriteString("---\n" + g.certs["b.example.com"].secretYAML("shop", "b-cert"))
	b.WriteString("---\n" + g.certs["c.example.com"].secretYAML("other", "c-cert"))
	if g.grant {
		b.WriteString(`---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: shop-gateways, namespace: other}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: shop}]
  to: [{group: "", kind: Secret}]
`)
	}
	return b.String()
}

// rewrite writes the mesh directory again from g's current state.
func (g *gatewayFixture) rewrite() {
	g.t.Helper()
	path := filepath.Join(g.dir, "mesh", "mesh.yaml")
	tmp := path + ".tmp"
	writeFile(g.t, tmp, g.yaml(g.net))
	if err := os.Rename(tmp, path); err != nil {
		g.t.Fatal(err)
	}
}

// gatewayAddr is the gateway's address for one of its listener ports.
func (g *gatewayFixture) gatewayAddr(port int) string { return fmt.Sprintf("%s10:%d", g.net, port) }

// client is an external client: it trusts the external CA and connects
// to the gateway whatever the URL's host, as DNS would send it there.
func (g *gatewayFixture) client(port int) *http.Client {
	addr := g.gatewayAddr(port)
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: g.ca.pool, MinVersion: tls.VersionTLS12},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
			ForceAttemptHTTP2: true,
		},
	}
}

// handshake returns the certificate the gateway serves for sni, or the
// handshake's error.
func (g *gatewayFixture) handshake(sni string) (*tls.ConnectionState, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{RootCAs: g.ca.pool, ServerName: sni, MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(g.t.Context(), "tcp", g.gatewayAddr(gwHTTPSPort))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	state := conn.(*tls.Conn).ConnectionState()
	return &state, nil
}

func get(t *testing.T, c *http.Client, url string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// TestGatewayRoutesHTTPSByHostAndPath: an external client reaches two
// meshed services through the gateway over HTTPS, each host with its own
// certificate chosen by SNI, routed by path; the services' sidecars
// verified the gateway's SPIFFE ID; gRPC works through the gateway; TLS
// passthrough hands the client's TLS to the backend untouched.
func TestGatewayRoutesHTTPSByHostAndPath(t *testing.T) {
	g := newGatewayFixture(t)

	for _, host := range []string{"a.example.com", "b.example.com"} {
		state, err := g.handshake(host)
		if err != nil {
			t.Fatalf("TLS handshake for %s: %v", host, err)
		}
		if got := state.PeerCertificates[0].SerialNumber.Int64(); got != g.certs[host].serial {
			t.Errorf("SNI %s: the gateway served certificate %d (%v), want %d", host, got, state.PeerCertificates[0].DNSNames, g.certs[host].serial)
		}
	}

	c := g.client(gwHTTPSPort)
	for path, want := range map[string]string{"/api/items": "api", "/": "web", "/web/page": "web"} {
		code, body := get(t, c, fmt.Sprintf("https://a.example.com:%d%s", gwHTTPSPort, path), nil)
		if code != http.StatusOK || !strings.HasPrefix(body, want+"\n") {
			t.Errorf("GET https://a.example.com%s = %d %q, want 200 from %s", path, code, body, want)
		}
	}
	// A host no route names gets 404 from the gateway, not a backend.
	if code, body := get(t, g.client(gwHTTPPort), fmt.Sprintf("http://unknown.example.com:%d/api", gwHTTPPort), nil); code != http.StatusNotFound {
		t.Errorf("GET http://unknown.example.com/api = %d %q, want 404", code, body)
	}

	for i, sa := range []string{"api", "web"} {
		page := metrics(t, g.backends[i])
		if !hasSeries(page, "weft_proxy_connections_total", `direction="inbound"`, `peer_id="`+gatewayID+`"`) {
			t.Errorf("the %s sidecar did not verify the gateway's SPIFFE ID:\n%s", sa, grepLines(page, "weft_proxy_connections_total"))
		}
	}

	t.Run("gRPC", func(t *testing.T) {
		conn, err := grpc.NewClient(fmt.Sprintf("passthrough:///b.example.com:%d", gwHTTPSPort),
			grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: g.ca.pool, ServerName: "b.example.com", MinVersion: tls.VersionTLS12})),
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", g.gatewayAddr(gwHTTPSPort))
			}))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "shop"})
		if err != nil {
			t.Fatalf("gRPC health check through the gateway: %v", err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health = %v, want SERVING", resp.GetStatus())
		}
	})

	t.Run("TLS passthrough", func(t *testing.T) {
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{RootCAs: g.ca.pool, ServerName: "secure.example.com", MinVersion: tls.VersionTLS12}}
		conn, err := d.DialContext(t.Context(), "tcp", g.gatewayAddr(gwTLSPort))
		if err != nil {
			t.Fatalf("TLS to secure.example.com through the gateway: %v", err)
		}
		defer conn.Close()
		if names := conn.(*tls.Conn).ConnectionState().PeerCertificates[0].DNSNames; len(names) != 1 || names[0] != "secure.example.com" {
			t.Errorf("passthrough: the client saw a certificate for %v, want the backend app's own (secure.example.com)", names)
		}
		got, err := roundTrip(conn, bufio.NewReader(conn), "hello")
		if err != nil || got != "secure: hello" {
			t.Errorf("passthrough round trip = %q, %v; want \"secure: hello\"", got, err)
		}
	})
}

// TestGatewayDoesNotTrustClientHeaders: what a client says about itself
// in forwarding headers, a client certificate header or the mesh's own
// x-weft-* headers never reaches a backend; the backend sees the address
// that connected to the gateway, the scheme of the listener and a request
// ID of the gateway's.
func TestGatewayDoesNotTrustClientHeaders(t *testing.T) {
	g := newGatewayFixture(t)
	forged := http.Header{
		"X-Forwarded-For":         {"198.18.0.66"},
		"X-Forwarded-Proto":       {"https"},
		"X-Forwarded-Client-Cert": {"By=spiffe://cluster.local/ns/shop/sa/api;URI=spiffe://cluster.local/ns/shop/sa/admin"},
		"X-Weft-Source-Workload":  {"forged-admin"},
		"X-Weft-Source-Namespace": {"forged-system"},
		"X-Request-Id":            {"forged-request-id"},
	}
	for _, tc := range []struct {
		name, url, proto string
		client           *http.Client
	}{
		{"http", fmt.Sprintf("http://a.example.com:%d/api/whoami", gwHTTPPort), "http", g.client(gwHTTPPort)},
		{"https", fmt.Sprintf("https://a.example.com:%d/api/whoami", gwHTTPSPort), "https", g.client(gwHTTPSPort)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, tc.client, tc.url, forged)
			if code != http.StatusOK {
				t.Fatalf("GET %s = %d %q", tc.url, code, body)
			}
			seen := parseHeaderEcho(body)
			if got := seen["x-forwarded-for"]; got != "127.0.0.1" {
				t.Errorf("the backend saw X-Forwarded-For %q, want only the client's address 127.0.0.1", got)
			}
			if got := seen["x-forwarded-proto"]; got != tc.proto {
				t.Errorf("the backend saw X-Forwarded-Proto %q, want %q", got, tc.proto)
			}
			if got := seen["x-request-id"]; got == "" || got == "forged-request-id" {
				t.Errorf("the backend saw X-Request-Id %q, want one the gateway made", got)
			}
			for k, v := range seen {
				if strings.Contains(v, "forged") || strings.Contains(v, "sa/admin") {
					t.Errorf("the backend saw the client's forged %s: %q", k, v)
				}
			}
			if v, ok := seen["x-forwarded-client-cert"]; ok {
				t.Errorf("the backend saw x-forwarded-client-cert %q from outside", v)
			}
		})
	}
}

// TestGatewayCertificates: a rotated Secret is served from the next
// handshake on while a connection opened before keeps working; a Secret
// of another namespace is refused until a ReferenceGrant allows it, and
// the control plane says why.
func TestGatewayCertificates(t *testing.T) {
	g := newGatewayFixture(t)

	t.Run("rotation", func(t *testing.T) {
		conn, err := tls.Dial("tcp", g.gatewayAddr(gwHTTPSPort), &tls.Config{RootCAs: g.ca.pool, ServerName: "a.example.com", MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		keepAliveGet(t, conn, r, "before rotation")
		old := g.certs["a.example.com"].serial

		g.certs["a.example.com"] = g.ca.issue("a.example.com")
		g.rewrite()
		want := g.certs["a.example.com"].serial
		waitFor(t, "the gateway to serve the rotated certificate", func() bool {
			state, err := g.handshake("a.example.com")
			return err == nil && state.PeerCertificates[0].SerialNumber.Int64() == want
		})
		keepAliveGet(t, conn, r, "after rotation, same connection")
		if got := conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); got != old {
			t.Errorf("the old connection's certificate changed to %d", got)
		}

		// The admin port shows what is served now, and the expiry metric
		// follows it, for operators to alert on.
		admin := "http://" + g.gateway.AdminAddr().String()
		_, body := get(t, http.DefaultClient, admin+"/certs", nil)
		var certs identity.Certs
		if err := json.Unmarshal([]byte(body), &certs); err != nil {
			t.Fatalf("/certs: %v: %.300s", err, body)
		}
		var served *identity.ServedCert
		for i := range certs.Served {
			if certs.Served[i].Name == "kubernetes://shop/a-cert" {
				served = &certs.Served[i]
			}
		}
		if served == nil || len(served.Chain) == 0 || served.Chain[0].Serial != strconv.FormatInt(want, 16) ||
			!slices.Contains(served.Chain[0].DNSSANs, "a.example.com") {
			t.Errorf("/certs does not show kubernetes://shop/a-cert with serial %x and DNS SAN a.example.com: %+v", want, certs.Served)
		}
		if strings.Contains(body, "PRIVATE KEY") {
			t.Errorf("/certs shows a private key: %.300s", body)
		}
		_, metrics := get(t, http.DefaultClient, admin+"/metrics", nil)
		if !strings.Contains(metrics, `weft_certificate_expiry_timestamp_seconds{certificate="kubernetes://shop/a-cert"}`) ||
			!strings.Contains(metrics, `weft_certificate_expiry_timestamp_seconds{certificate="workload"}`) {
			t.Errorf("/metrics lacks the expiry of the served certificate or of the workload's")
		}
	})

	t.Run("cross-namespace Secret needs a ReferenceGrant", func(t *testing.T) {
		if state, err := g.handshake("c.example.com"); err == nil && state.PeerCertificates[0].SerialNumber.Int64() == g.certs["c.example.com"].serial {
			t.Fatal("the gateway served other/c-cert without a ReferenceGrant")
		}
		problems := g.debugPolicies()
		if !strings.Contains(problems, "RefNotPermitted") || !strings.Contains(problems, "c-cert") {
			t.Errorf("/debug/policies does not say why other/c-cert is refused:\n%s", problems)
		}

		g.grant = true
		g.rewrite()
		waitFor(t, "the granted certificate to be served", func() bool {
			state, err := g.handshake("c.example.com")
			return err == nil && state.PeerCertificates[0].SerialNumber.Int64() == g.certs["c.example.com"].serial
		})
		if code, body := get(t, g.client(gwHTTPSPort), fmt.Sprintf("https://c.example.com:%d/", gwHTTPSPort), nil); code != http.StatusOK || !strings.HasPrefix(body, "web\n") {
			t.Errorf("GET https://c.example.com/ = %d %q, want 200 from web", code, body)
		}
	})
}

func (g *gatewayFixture) debugPolicies() string {
	resp, err := http.Get("http://" + g.cp.MonitorAddr().String() + "/debug/policies")
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatal(err)
	}
	return string(b)
}

// keepAliveGet sends one HTTP/1.1 request on conn and checks the answer
// comes from the web app and keeps the connection open.
func keepAliveGet(t *testing.T, conn net.Conn, r *bufio.Reader, what string) {
	t.Helper()
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n"); err != nil {
		t.Fatalf("%s: writing: %v", what, err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("%s: reading the response: %v", what, err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "web\n") || resp.Close {
		t.Fatalf("%s: %d %q (close %v, %v), want 200 from web on a kept-alive connection", what, resp.StatusCode, body, resp.Close, err)
	}
}

// startHeaderApp answers every request with its name, then one
// "name: value" line per header the request came with, lower-cased.
func startHeaderApp(t *testing.T, addr, name string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		b.WriteString(name + "\n")
		for k, vs := range r.Header {
			fmt.Fprintf(&b, "%s: %s\n", strings.ToLower(k), strings.Join(vs, ", "))
		}
		_, _ = io.WriteString(w, b.String())
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
}

// parseHeaderEcho reads startHeaderApp's answer back into a map.
func parseHeaderEcho(body string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(body, "\n")[1:] {
		if k, v, ok := strings.Cut(line, ": "); ok {
			out[k] = v
		}
	}
	return out
}

// startHealthApp serves the gRPC health service, plaintext HTTP/2, with
// service "shop" SERVING.
func startHealthApp(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("shop", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
}

// startTLSEcho serves TLS with cert and answers each line with
// "secure: <line>".
func startTLSEcho(t *testing.T, addr string, cert tls.Certificate) {
	t.Helper()
	ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				s := bufio.NewScanner(conn)
				for s.Scan() {
					if _, err := fmt.Fprintf(conn, "secure: %s\n", s.Text()); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
}
