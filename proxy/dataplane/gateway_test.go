package dataplane_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/pires/go-proxyproto"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/proxy/dataplane"
)

// applyGateway applies clusters, secrets and listeners, in that order.
func applyGateway(t *testing.T, dp *dataplane.Dataplane, clusters []*clusterv3.Cluster, secrets []*tlsv3.Secret, listeners ...*listenerv3.Listener) {
	t.Helper()
	if err := dp.OnClusters(t.Context(), clusters); err != nil {
		t.Fatal(err)
	}
	if secrets != nil {
		if err := dp.OnSecrets(t.Context(), secrets); err != nil {
			t.Fatal(err)
		}
	}
	if err := dp.OnListeners(t.Context(), listeners); err != nil {
		t.Fatal(err)
	}
}

// handshakeSerial dials addr with TLS and SNI, and returns the serial
// number of the certificate served and the connection.
func handshakeSerial(t *testing.T, addr, sni string) (int64, *tls.Conn) {
	t.Helper()
	d := tls.Dialer{Config: &tls.Config{ServerName: sni, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}} // the test reads which certificate is served
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatalf("SNI %q: %v", sni, err)
	}
	tc := c.(*tls.Conn)
	t.Cleanup(func() { tc.Close() })
	return tc.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), tc
}

func TestGatewaySNIPicksCertificate(t *testing.T) {
	ca := newWebCA(t)
	app := startBackend(t, "app")
	var secrets []*tlsv3.Secret
	for _, s := range []struct {
		name   string
		serial int64
		hosts  []string
	}{
		{"kubernetes://shop/a", 10, []string{"a.example.com"}},
		{"kubernetes://shop/wild", 20, []string{"*.example.com"}},
		{"kubernetes://shop/fallback", 30, []string{"fallback.test"}},
		{"kubernetes://shop/b", 40, []string{"b.example.org"}},
	} {
		c, k := ca.issue(t, s.serial, s.hosts...)
		secrets = append(secrets, secret(s.name, c, k))
	}
	dp, _ := newPlainDataplane(t)
	applyGateway(t, dp, []*clusterv3.Cluster{staticCluster(t, "app", app.addr())}, secrets,
		gatewayListener(t, "gateway|443", []*listenerv3.ListenerFilter{tlsInspector(t)},
			sniChain(t, []string{"a.example.com"}, edgeTLS(t, nil, "kubernetes://shop/a"), tcpProxyFilter(t, "app")),
			sniChain(t, []string{"*.example.com"}, edgeTLS(t, nil, "kubernetes://shop/wild"), tcpProxyFilter(t, "app")),
			sniChain(t, nil, edgeTLS(t, nil, "kubernetes://shop/fallback", "kubernetes://shop/b"), tcpProxyFilter(t, "app")),
		))
	addr := listenerAddr(t, dp, "gateway|443")

	for _, tc := range []struct {
		sni  string
		want int64
	}{
		{"a.example.com", 10},         // exact chain
		{"A.Example.com", 10},         // names are case-insensitive
		{"x.example.com", 20},         // wildcard chain
		{"deep.x.example.com", 20},    // Envoy's wildcards match any depth
		{"b.example.org", 40},         // the chain without names picks by SNI among its secrets
		{"elsewhere.example.net", 30}, // then its first secret
		{"", 30},                      // no SNI: the chain without names, its first secret
	} {
		name := tc.sni
		if name == "" {
			name = "no SNI"
		}
		t.Run(name, func(t *testing.T) {
			got, c := handshakeSerial(t, addr, tc.sni)
			if got != tc.want {
				t.Errorf("SNI %q was served certificate %d, want %d", tc.sni, got, tc.want)
			}
			exchange(t, c, "hi", "app:hi") // terminated, then proxied
		})
	}

	t.Run("verified by a client", func(t *testing.T) {
		d := tls.Dialer{Config: &tls.Config{ServerName: "a.example.com", RootCAs: ca.pool, MinVersion: tls.VersionTLS12}}
		c, err := d.DialContext(t.Context(), "tcp", addr)
		if err != nil {
			t.Fatalf("a client verifying a.example.com refused the gateway: %v", err)
		}
		c.Close()
	})
}

func TestGatewayHandshakeWaitsForSecret(t *testing.T) {
	ca := newWebCA(t)
	app := startBackend(t, "app")
	dp, _ := newPlainDataplane(t)
	applyGateway(t, dp, []*clusterv3.Cluster{staticCluster(t, "app", app.addr())}, nil,
		gatewayListener(t, "gateway|443", []*listenerv3.ListenerFilter{tlsInspector(t)},
			sniChain(t, []string{"late.example.com"}, edgeTLS(t, nil, "kubernetes://shop/late"), tcpProxyFilter(t, "app"))))
	addr := listenerAddr(t, dp, "gateway|443")

	type result struct {
		serial int64
		err    error
	}
	done := make(chan result, 1)
	go func() {
		d := tls.Dialer{Config: &tls.Config{ServerName: "late.example.com", RootCAs: ca.pool, MinVersion: tls.VersionTLS12}}
		c, err := d.DialContext(t.Context(), "tcp", addr)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		done <- result{serial: c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.Int64()}
	}()
	select {
	case r := <-done:
		t.Fatalf("handshake ended before its secret arrived: %+v", r)
	case <-time.After(200 * time.Millisecond):
	}
	c, k := ca.issue(t, 7, "late.example.com")
	if err := dp.OnSecrets(t.Context(), []*tlsv3.Secret{secret("kubernetes://shop/late", c, k)}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.serial != 7 {
		t.Fatalf("handshake waiting for its secret: serial %d, error %v; want serial 7", r.serial, r.err)
	}
}

// startTLSBackend serves TLS with cert on loopback and writes name to
// every client after the handshake.
func startTLSBackend(t *testing.T, name string, cert tls.Certificate) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := tln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_, _ = io.WriteString(c, name)
			})
		}
	})
	t.Cleanup(func() {
		tln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

func TestGatewayTLSPassthrough(t *testing.T) {
	ca := newWebCA(t)
	p := startTLSBackend(t, "p", ca.tlsCert(t, 50, "p.example.com"))
	q := startTLSBackend(t, "q", ca.tlsCert(t, 60, "q.example.com"))
	dp, reg := newPlainDataplane(t)
	applyGateway(t, dp, []*clusterv3.Cluster{staticCluster(t, "p", p), staticCluster(t, "q", q)}, nil,
		gatewayListener(t, "gateway|8443", []*listenerv3.ListenerFilter{tlsInspector(t)},
			sniChain(t, []string{"p.example.com"}, nil, tcpProxyFilter(t, "p")),
			sniChain(t, []string{"q.example.com"}, nil, tcpProxyFilter(t, "q"))))
	addr := listenerAddr(t, dp, "gateway|8443")

	for _, tc := range []struct{ sni, want string }{{"p.example.com", "p"}, {"q.example.com", "q"}} {
		t.Run(tc.sni, func(t *testing.T) {
			// The client verifies the backend's own certificate: the
			// gateway forwarded the stream untouched, ClientHello included.
			d := tls.Dialer{Config: &tls.Config{ServerName: tc.sni, RootCAs: ca.pool, MinVersion: tls.VersionTLS12}}
			c, err := d.DialContext(t.Context(), "tcp", addr)
			if err != nil {
				t.Fatalf("passthrough to %s: %v", tc.sni, err)
			}
			defer c.Close()
			got, err := io.ReadAll(c)
			if err != nil || string(got) != tc.want {
				t.Fatalf("read %q, %v; want %q from the backend chosen by SNI", got, err, tc.want)
			}
		})
	}
	t.Run("unknown name is closed", func(t *testing.T) {
		d := tls.Dialer{Config: &tls.Config{ServerName: "r.example.com", RootCAs: ca.pool, MinVersion: tls.VersionTLS12}}
		c, err := d.DialContext(t.Context(), "tcp", addr)
		if err == nil {
			c.Close()
			t.Fatal("a name no chain matches was served")
		}
		if n := metric(t, reg, "weft_proxy_connections_total", connections("gateway|8443", "inbound", "", "no_filter_chain")); n != 1 {
			t.Errorf("no_filter_chain connections = %v, want 1", n)
		}
	})
}

// getHeaders sends GET / through client and returns the headers the app
// saw, the served certificate's serial (0 for plaintext) and whether the
// connection was reused.
func getHeaders(t *testing.T, client *http.Client, url string, h http.Header) (http.Header, int64, bool) {
	t.Helper()
	var reused bool
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { reused = ci.Reused }})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vv := range h {
		req.Header[k] = vv
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	var got http.Header
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	var serial int64
	if resp.TLS != nil {
		serial = resp.TLS.PeerCertificates[0].SerialNumber.Int64()
	}
	return got, serial, reused
}

func httpsClient(t *testing.T, ca *webCA, sni string) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: sni, RootCAs: ca.pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestGatewaySecretRotation(t *testing.T) {
	ca := newWebCA(t)
	app := startHeaderApp(t, nil)
	const name = "kubernetes://shop/shop-example-com"
	c1, k1 := ca.issue(t, 1, "shop.example.com")
	dp, _ := newPlainDataplane(t)
	applyGateway(t, dp, []*clusterv3.Cluster{staticCluster(t, "app", app)}, []*tlsv3.Secret{secret(name, c1, k1)},
		gatewayListener(t, "gateway|443", []*listenerv3.ListenerFilter{tlsInspector(t)},
			sniChain(t, []string{"shop.example.com"}, edgeTLS(t, []string{"h2", "http/1.1"}, name), edgeHCM(t, "app", 0))))
	url := "https://" + listenerAddr(t, dp, "gateway|443") + "/"

	old := httpsClient(t, ca, "shop.example.com")
	got, serial, _ := getHeaders(t, old, url, nil)
	if serial != 1 {
		t.Fatalf("served certificate %d, want 1", serial)
	}
	if p := got.Get("X-Forwarded-Proto"); p != "https" {
		t.Errorf("X-Forwarded-Proto = %q over TLS, want https", p)
	}

	c2, k2 := ca.issue(t, 2, "shop.example.com")
	if err := dp.OnSecrets(t.Context(), []*tlsv3.Secret{secret(name, c2, k2)}); err != nil {
		t.Fatal(err)
	}
	if _, serial, reused := getHeaders(t, old, url, nil); !reused || serial != 1 {
		t.Errorf("established connection after the rotation: reused %v, certificate %d; want it kept, with certificate 1", reused, serial)
	}
	if _, serial, _ := getHeaders(t, httpsClient(t, ca, "shop.example.com"), url, nil); serial != 2 {
		t.Errorf("new handshake after the rotation served certificate %d, want 2", serial)
	}

	t.Run("bad secret is refused by name and the good one kept", func(t *testing.T) {
		err := dp.OnSecrets(t.Context(), []*tlsv3.Secret{secret(name, c2, k1)}) // key of another certificate
		if err == nil || !strings.Contains(err.Error(), `secret "`+name+`"`) {
			t.Fatalf("OnSecrets with a mismatched key: %v, want an error naming secret %q", err, name)
		}
		if _, serial, _ := getHeaders(t, httpsClient(t, ca, "shop.example.com"), url, nil); serial != 2 {
			t.Errorf("after a refused secret, served certificate %d, want 2", serial)
		}
	})
}

func TestGatewayEdgeHeaders(t *testing.T) {
	app := startHeaderApp(t, nil)
	forged := http.Header{
		"X-Forwarded-For":         {"192.0.2.10, 198.18.0.5"},
		"X-Forwarded-Client-Cert": {"By=spiffe://cluster.local/ns/prod/sa/admin"},
		"X-Weft-Source-Workload":  {"admin"},
		"X-Weft-Anything":         {"forged"},
		"X-Forwarded-Proto":       {"https"},
		"X-Request-Id":            {"client-chosen-id"},
	}
	for _, tc := range []struct {
		hops      uint32
		wantXFF   string
		keepReqID bool
	}{
		{0, "127.0.0.1", false},
		{1, "198.18.0.5, 127.0.0.1", true},
		{2, "192.0.2.10, 198.18.0.5, 127.0.0.1", true},
	} {
		t.Run("trusted hops "+itoa(int(tc.hops)), func(t *testing.T) {
			dp, _ := newPlainDataplane(t)
			applyGateway(t, dp, []*clusterv3.Cluster{staticCluster(t, "app", app)}, nil,
				gatewayListener(t, "gateway|80", nil, &listenerv3.FilterChain{Filters: []*listenerv3.Filter{edgeHCM(t, "app", tc.hops)}}))
			tr := &http.Transport{}
			t.Cleanup(tr.CloseIdleConnections)
			got, _, _ := getHeaders(t, &http.Client{Transport: tr}, "http://"+listenerAddr(t, dp, "gateway|80")+"/", forged)
			if xff := got.Get("X-Forwarded-For"); xff != tc.wantXFF {
				t.Errorf("upstream saw X-Forwarded-For %q, want %q", xff, tc.wantXFF)
			}
			if p := got.Get("X-Forwarded-Proto"); p != "http" {
				t.Errorf("upstream saw X-Forwarded-Proto %q on a plaintext listener, want http", p)
			}
			for k := range got {
				if k == "X-Forwarded-Client-Cert" || strings.HasPrefix(k, "X-Weft-") {
					t.Errorf("upstream saw the client's %s: %q", k, got[k])
				}
			}
			id := got.Get("X-Request-Id")
			if tc.keepReqID != (id == "client-chosen-id") || id == "" {
				t.Errorf("upstream saw X-Request-Id %q; client's kept: %v", id, tc.keepReqID)
			}
		})
	}
}

func TestGatewayProxyProtocol(t *testing.T) {
	app := startHeaderApp(t, nil)
	dp, reg := newPlainDataplane(t)
	applyGateway(t, dp, []*clusterv3.Cluster{staticCluster(t, "app", app)}, nil,
		gatewayListener(t, "gateway|80", []*listenerv3.ListenerFilter{proxyProtocolFilter(t)},
			&listenerv3.FilterChain{Filters: []*listenerv3.Filter{edgeHCM(t, "app", 0)}}))
	addr := listenerAddr(t, dp, "gateway|80")
	const request = "GET / HTTP/1.1\r\nHost: shop.example.com\r\nX-Forwarded-For: 198.18.0.9\r\nConnection: close\r\n\r\n"

	for _, version := range []byte{1, 2} {
		t.Run("v"+itoa(int(version)), func(t *testing.T) {
			c := dial(t, addr)
			if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			src := net.TCPAddrFromAddrPort(netip.MustParseAddrPort("192.0.2.7:40000"))
			h := proxyproto.HeaderProxyFromAddrs(version, src, c.RemoteAddr())
			if _, err := h.WriteTo(c); err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(c, request); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("response after a PROXY v%d header: %v", version, err)
			}
			defer resp.Body.Close()
			var got http.Header
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if xff := got.Get("X-Forwarded-For"); xff != "192.0.2.7" {
				t.Errorf("upstream saw X-Forwarded-For %q, want the PROXY header's source 192.0.2.7", xff)
			}
		})
	}
	t.Run("missing header closes", func(t *testing.T) {
		c := dial(t, addr)
		if _, err := io.WriteString(c, request); err != nil {
			t.Fatal(err)
		}
		refused(t, c)
		if n := metric(t, reg, "weft_proxy_connections_total", connections("gateway|80", "inbound", "", "proxy_protocol_failed")); n != 1 {
			t.Errorf("proxy_protocol_failed connections = %v, want 1", n)
		}
	})
}

func weightedTCP(t *testing.T, weights map[string]uint32) *listenerv3.Filter {
	t.Helper()
	wc := &tcpproxyv3.TcpProxy_WeightedCluster{}
	for _, name := range []string{"a", "b"} {
		wc.Clusters = append(wc.Clusters, &tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{Name: name, Weight: weights[name]})
	}
	return &listenerv3.Filter{
		Name: "envoy.filters.network.tcp_proxy",
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, &tcpproxyv3.TcpProxy{
			StatPrefix:       "weighted",
			ClusterSpecifier: &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: wc},
		})},
	}
}

func TestGatewayWeightedTCPProxy(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	for _, tc := range []struct {
		name    string
		weights map[string]uint32
		wantA   bool // a gets some connections
		wantB   bool
	}{
		{"even split", map[string]uint32{"a": 1, "b": 1}, true, true},
		{"zero weight never picked", map[string]uint32{"a": 0, "b": 5}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dp, _ := newPlainDataplane(t)
			applyGateway(t, dp, []*clusterv3.Cluster{staticCluster(t, "a", a.addr()), staticCluster(t, "b", b.addr())}, nil,
				gatewayListener(t, "gateway|9000", nil, &listenerv3.FilterChain{Filters: []*listenerv3.Filter{weightedTCP(t, tc.weights)}}))
			addr := listenerAddr(t, dp, "gateway|9000")
			seen := map[string]int{}
			for range 40 {
				got, err := roundTrip(t, addr, "x")
				if err != nil {
					t.Fatal(err)
				}
				seen[strings.TrimSuffix(got, ":x")]++
			}
			if (seen["a"] > 0) != tc.wantA || (seen["b"] > 0) != tc.wantB || seen["a"]+seen["b"] != 40 {
				t.Errorf("connections per backend: %v", seen)
			}
		})
	}
}

func TestGatewayResourcesRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, l *listenerv3.Listener)
		want string
	}{
		{"server names without the TLS inspector", func(t *testing.T, l *listenerv3.Listener) {
			l.ListenerFilters = nil
		}, "server_names: needs the TLS inspector listener filter"},
		{"client certificate required with gateway secrets", func(t *testing.T, l *listenerv3.Listener) {
			ts := edgeTLS(t, nil, "kubernetes://shop/a")
			var dtc tlsv3.DownstreamTlsContext
			if err := ts.GetTypedConfig().UnmarshalTo(&dtc); err != nil {
				t.Fatal(err)
			}
			dtc.RequireClientCertificate = wrapperspb.Bool(true)
			l.FilterChains[0].TransportSocket.GetTypedConfig().Value = mustAny(t, &dtc).GetValue()
		}, `tls_certificate_sds_secret_configs[0].name: unknown secret "kubernetes://shop/a", want "default"`},
		{"wildcard in the middle", func(t *testing.T, l *listenerv3.Listener) {
			l.FilterChains[0].FilterChainMatch.ServerNames = []string{"a.*.example.com"}
		}, `"a.*.example.com" is not a host name`},
		{"forward_client_cert_details other than SANITIZE", func(t *testing.T, l *listenerv3.Listener) {
			h := hcm(t, "gateway", "", routeTo("gw", "gw", "app"))
			h.UseRemoteAddress = wrapperspb.Bool(true)
			h.ForwardClientCertDetails = hcmv3.HttpConnectionManager_APPEND_FORWARD
			l.FilterChains[0].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, h)}
		}, "forward_client_cert_details: unsupported APPEND_FORWARD, want SANITIZE"},
		{"trusted hops without use_remote_address", func(t *testing.T, l *listenerv3.Listener) {
			h := hcm(t, "gateway", "", routeTo("gw", "gw", "app"))
			h.XffNumTrustedHops = 1
			l.FilterChains[0].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, h)}
		}, "xff_num_trusted_hops: needs use_remote_address"},
		{"proxy_protocol not first", func(t *testing.T, l *listenerv3.Listener) {
			l.ListenerFilters = append(l.ListenerFilters, proxyProtocolFilter(t))
		}, "envoy.filters.listener.proxy_protocol must come first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dp, _ := newPlainDataplane(t)
			l := gatewayListener(t, "gateway|443", []*listenerv3.ListenerFilter{tlsInspector(t)},
				sniChain(t, []string{"a.example.com"}, edgeTLS(t, nil, "kubernetes://shop/a"), edgeHCM(t, "app", 0)))
			tc.edit(t, l)
			err := dp.OnListeners(t.Context(), []*listenerv3.Listener{l})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("OnListeners: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestGatewayServedCertificates: what a gateway serves is listed for the
// admin port and its expiry exported beside the proxy's own certificate
// (one metric family, certificate="workload" registered by the identity);
// a secret no longer sent leaves both.
func TestGatewayServedCertificates(t *testing.T) {
	reg := prometheus.NewRegistry()
	workload := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "weft_certificate_expiry_timestamp_seconds",
		Help: "NotAfter of a certificate in use, in seconds since the Unix epoch.",
	}, []string{"certificate"})
	reg.MustRegister(workload) // as proxy/identity does, first
	workload.WithLabelValues("workload").Set(1)
	dp := dataplane.New(dataplane.Config{TrustDomain: trustDomain, DrainTimeout: time.Second, Registerer: reg})
	t.Cleanup(dp.Close)

	ca := newWebCA(t)
	const a, b = "kubernetes://shop/a-cert", "kubernetes://shop/b-cert"
	ca1, ka1 := ca.issue(t, 1, "a.example.com")
	cb2, kb2 := ca.issue(t, 2, "b.example.com")
	if err := dp.OnSecrets(t.Context(), []*tlsv3.Secret{secret(b, cb2, kb2), secret(a, ca1, ka1)}); err != nil {
		t.Fatal(err)
	}
	served := dp.ServedCertificates()
	if len(served) != 2 || served[0].Name != a || served[1].Name != b ||
		served[0].Chain[0].SerialNumber.Int64() != 1 || served[1].Chain[0].DNSNames[0] != "b.example.com" {
		t.Fatalf("ServedCertificates = %+v, want a-cert (serial 1) then b-cert", served)
	}
	want := `
# HELP weft_certificate_expiry_timestamp_seconds NotAfter of a certificate in use, in seconds since the Unix epoch.
# TYPE weft_certificate_expiry_timestamp_seconds gauge
weft_certificate_expiry_timestamp_seconds{certificate="kubernetes://shop/a-cert"} %d
weft_certificate_expiry_timestamp_seconds{certificate="kubernetes://shop/b-cert"} %d
weft_certificate_expiry_timestamp_seconds{certificate="workload"} 1
`
	aLeaf, bLeaf := served[0].Chain[0], served[1].Chain[0]
	if err := testutil.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(want, aLeaf.NotAfter.Unix(), bLeaf.NotAfter.Unix())),
		"weft_certificate_expiry_timestamp_seconds"); err != nil {
		t.Error(err)
	}

	if err := dp.OnSecrets(t.Context(), []*tlsv3.Secret{secret(a, ca1, ka1)}); err != nil {
		t.Fatal(err)
	}
	if served := dp.ServedCertificates(); len(served) != 1 || served[0].Name != a {
		t.Errorf("after b-cert is no longer sent: %+v, want a-cert alone", served)
	}
	want = `
# HELP weft_certificate_expiry_timestamp_seconds NotAfter of a certificate in use, in seconds since the Unix epoch.
# TYPE weft_certificate_expiry_timestamp_seconds gauge
weft_certificate_expiry_timestamp_seconds{certificate="kubernetes://shop/a-cert"} %d
weft_certificate_expiry_timestamp_seconds{certificate="workload"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(want, aLeaf.NotAfter.Unix())),
		"weft_certificate_expiry_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}
