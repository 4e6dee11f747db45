package dataplane_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftmesh/weft/proxy/dataplane"
)

// outboundVhost is the virtual host of the outbound route configuration.
const outboundVhost = "echo.default.svc.cluster.local:9000"

// httpMesh is app client → outbound HCM listener → HTTP/2 over mTLS →
// inbound HCM listener → app server, configured as docs/xds.md says.
type httpMesh struct {
	ca                        *testCA
	client, server            *dataplane.Dataplane
	clientMetrics, srvMetrics *prometheus.Registry
	outbound                  string // address of the outbound listener
	inbound                   string // address of the inbound listener
}

// newHTTPMesh builds the mesh in front of the app at appAddr; h2c says
// whether the inbound cluster speaks h2c to the app (grpc, http2 ports).
func newHTTPMesh(t *testing.T, appAddr string, h2c bool) *httpMesh {
	t.Helper()
	ca := newCA(t, "cluster.local")
	m := &httpMesh{ca: ca}
	m.server, m.srvMetrics = newDataplane(t, ca, serverID)
	m.client, m.clientMetrics = newDataplane(t, ca, clientID)
	ctx := t.Context()
	must(t, m.server.OnClusters(ctx, []*clusterv3.Cluster{httpInboundCluster(t, inboundName, appAddr, h2c)}))
	must(t, m.server.OnListeners(ctx, []*listenerv3.Listener{httpInboundListener(t, inboundName, "127.0.0.1:0")}))
	inbound := listenerAddr(t, m.server, inboundName)
	m.inbound = inbound
	must(t, m.client.OnClusters(ctx, []*clusterv3.Cluster{httpOutboundCluster(t, outboundCluster, outboundSNI, serverID)}))
	must(t, m.client.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, inbound)}))
	must(t, m.client.OnListeners(ctx, []*listenerv3.Listener{httpOutboundListener(t, outboundName, "127.0.0.1:0")}))
	must(t, m.client.OnRoutes(ctx, []*routev3.RouteConfiguration{routeTo(outboundName, outboundVhost, outboundCluster)}))
	m.outbound = listenerAddr(t, m.client, outboundName)
	return m
}

// hopHeaders are connection-specific fields a client may send; none may
// reach the app.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Upgrade", "X-Hop"}

// startHTTPApp serves an echo app over HTTP/1.1 and h2c on loopback. It
// answers "<proto> <method> <path>|<body>", reports in X-App-Hop the
// connection-specific fields it received, and sends trailer X-Sum.
func startHTTPApp(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			var hop []string
			for _, h := range hopHeaders {
				if _, ok := r.Header[h]; ok {
					hop = append(hop, h)
				}
			}
			w.Header().Set("Trailer", "X-Sum")
			w.Header().Set("X-App-Hop", strings.Join(hop, ","))
			w.Header().Set("X-App-Authority", r.Host)
			_, _ = io.WriteString(w, r.Proto+" "+r.Method+" "+r.URL.RequestURI()+"|"+string(body))
			w.Header().Set("X-Sum", "len="+itoa(len(body)))
		}),
		ReadHeaderTimeout: 10 * time.Second,
		Protocols:         new(http.Protocols),
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("app: %v", err)
		}
	})
	t.Cleanup(func() {
		_ = srv.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestHTTP1KeepAliveThroughMesh(t *testing.T) {
	m := newHTTPMesh(t, startHTTPApp(t), false)
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	const n = 5
	big := strings.Repeat("0123456789", 20_000)
	for i := range n {
		body := "request " + itoa(i)
		if i == n-1 {
			body = big
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+m.outbound+"/echo/"+itoa(i)+"?q=1", strings.NewReader(body))
		must(t, err)
		req.Host = outboundVhost
		req.Header.Set("Connection", "X-Hop")
		req.Header.Set("X-Hop", "secret")
		req.Header.Set("Keep-Alive", "timeout=5")
		resp, err := client.Do(req)
		must(t, err)
		got, err := io.ReadAll(resp.Body)
		must(t, err)
		resp.Body.Close()
		if want := "HTTP/1.1 POST /echo/" + itoa(i) + "?q=1|" + body; resp.StatusCode != http.StatusOK || string(got) != want {
			t.Fatalf("request %d: %d %.80q, want 200 %.80q", i, resp.StatusCode, got, want)
		}
		if hop := resp.Header.Get("X-App-Hop"); hop != "" {
			t.Errorf("request %d: the app received connection-specific fields %s", i, hop)
		}
		if a := resp.Header.Get("X-App-Authority"); a != outboundVhost {
			t.Errorf("request %d: the app saw authority %q, want %q", i, a, outboundVhost)
		}
		if s := resp.Trailer.Get("X-Sum"); s != "len="+itoa(len(body)) {
			t.Errorf("request %d: trailer X-Sum %q, want len=%d", i, s, len(body))
		}
	}

	eventually(t, func() string {
		// One downstream connection for all requests, one mTLS
		// connection between the proxies.
		if v := metric(t, m.clientMetrics, "weft_proxy_connections_total", connections(outboundName, "outbound", "", "ok")); v != 1 {
			return "client proxy accepted " + ftoa(v) + " connections, want 1 (keep-alive)"
		}
		if v := metric(t, m.srvMetrics, "weft_proxy_connections_total", connections(inboundName, "inbound", clientID, "ok")); v != 1 {
			return "server proxy accepted " + ftoa(v) + " connections from the client proxy, want 1 (multiplexed)"
		}
		if v := metric(t, m.clientMetrics, "weft_proxy_http_requests_total", requests(outboundName, "outbound", "2xx", serverID)); v != n {
			return "client proxy counted " + ftoa(v) + " 2xx requests to " + serverID
		}
		if v := metric(t, m.srvMetrics, "weft_proxy_http_requests_total", requests(inboundName, "inbound", "2xx", clientID)); v != n {
			return "server proxy counted " + ftoa(v) + " 2xx requests from " + clientID
		}
		return ""
	})
}

func TestH2CFromAppThroughMesh(t *testing.T) {
	for _, h2cToApp := range []bool{false, true} {
		name := "http1 to app"
		wantProto := "HTTP/1.1"
		if h2cToApp {
			name, wantProto = "h2c to app", "HTTP/2.0"
		}
		t.Run(name, func(t *testing.T) {
			m := newHTTPMesh(t, startHTTPApp(t), h2cToApp)
			tr := h2cTransport()
			t.Cleanup(tr.CloseIdleConnections)
			for i := range 3 {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, "http://"+m.outbound+"/h2c", strings.NewReader("payload"))
				must(t, err)
				resp, err := (&http.Client{Transport: tr}).Do(req)
				must(t, err)
				got, err := io.ReadAll(resp.Body)
				must(t, err)
				resp.Body.Close()
				if resp.ProtoMajor != 2 {
					t.Errorf("response over %s, want HTTP/2", resp.Proto)
				}
				if want := wantProto + " PUT /h2c|payload"; string(got) != want {
					t.Errorf("request %d: got %q, want %q", i, got, want)
				}
				if s := resp.Trailer.Get("X-Sum"); s != "len=7" {
					t.Errorf("request %d: trailer X-Sum %q, want len=7", i, s)
				}
			}
			if v := metric(t, m.clientMetrics, "weft_proxy_connections_total", connections(outboundName, "outbound", "", "ok")); v != 1 {
				t.Errorf("client proxy accepted %v connections, want 1", v)
			}
		})
	}
}

func TestNoRouteAndMissingRouteConfiguration(t *testing.T) {
	m := newHTTPMesh(t, startHTTPApp(t), false)
	get := func(path string) (answer, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+m.outbound+path, nil)
		must(t, err)
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Do(req)
		must(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		must(t, err)
		return answer{StatusCode: resp.StatusCode, Header: resp.Header}, string(body)
	}

	// Routes for /api only.
	rc := routeTo(outboundName, outboundVhost, outboundCluster)
	rc.VirtualHosts[0].Routes[0].Match.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: "/api"}
	must(t, m.client.OnRoutes(t.Context(), []*routev3.RouteConfiguration{rc}))
	if resp, _ := get("/other"); resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Weft-Response-Flags") != "NR" {
		t.Errorf("no route: %d flags %q, want 404 NR", resp.StatusCode, resp.Header.Get("X-Weft-Response-Flags"))
	}
	if resp, body := get("/api/x"); resp.StatusCode != http.StatusOK || body != "HTTP/1.1 GET /api/x|" {
		t.Errorf("routed: %d %q, want 200", resp.StatusCode, body)
	}

	// The listener's route configuration goes away: 503 NR.
	must(t, m.client.OnRoutes(t.Context(), nil))
	if resp, _ := get("/api/x"); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("X-Weft-Response-Flags") != "NR" {
		t.Errorf("without routes: %d flags %q, want 503 NR", resp.StatusCode, resp.Header.Get("X-Weft-Response-Flags"))
	}

	// A route to a cluster that does not exist: 503 NC; to one without
	// endpoints: 503 UH.
	rc = routeTo(outboundName, outboundVhost, "nowhere")
	must(t, m.client.OnRoutes(t.Context(), []*routev3.RouteConfiguration{rc}))
	if resp, _ := get("/"); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("X-Weft-Response-Flags") != "NC" {
		t.Errorf("unknown cluster: %d flags %q, want 503 NC", resp.StatusCode, resp.Header.Get("X-Weft-Response-Flags"))
	}
	must(t, m.client.OnRoutes(t.Context(), []*routev3.RouteConfiguration{routeTo(outboundName, outboundVhost, outboundCluster)}))
	must(t, m.client.OnEndpoints(t.Context(), []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster)}))
	if resp, _ := get("/"); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("X-Weft-Response-Flags") != "UH" {
		t.Errorf("no endpoints: %d flags %q, want 503 UH", resp.StatusCode, resp.Header.Get("X-Weft-Response-Flags"))
	}
	// An endpoint that refuses connections: 503 UF.
	must(t, m.client.OnEndpoints(t.Context(), []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, deadAddress(t))}))
	if resp, _ := get("/"); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("X-Weft-Response-Flags") != "UF" {
		t.Errorf("dead endpoint: %d flags %q, want 503 UF", resp.StatusCode, resp.Header.Get("X-Weft-Response-Flags"))
	}
	if v := metric(t, m.clientMetrics, "weft_proxy_http_requests_total", requests(outboundName, "outbound", "4xx", "")); v != 1 {
		t.Errorf("%v 4xx requests counted, want 1", v)
	}
}

// answer is the status and header of a response.
type answer struct {
	StatusCode int
	Header     http.Header
}

func requests(listener, direction, class, peer string) map[string]string {
	return map[string]string{"listener": listener, "direction": direction, "code_class": class, "peer_id": peer}
}

func ftoa(v float64) string { return itoa(int(v)) }
