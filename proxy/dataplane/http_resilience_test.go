package dataplane_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// scriptedApp is an HTTP/1.1 app on loopback that counts its requests and
// answers the n-th (from 1) with answer(n, w, r).
type scriptedApp struct {
	addr string
	n    atomic.Int64
}

func startScriptedApp(t *testing.T, answer func(n int64, w http.ResponseWriter, r *http.Request)) *scriptedApp {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := &scriptedApp{addr: ln.Addr().String()}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			answer(app.n.Add(1), w, r)
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
	return app
}

// replyWith answers with code and body.
func replyWith(code int, body string) func(int64, http.ResponseWriter, *http.Request) {
	return func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

// hangUntilCancelled holds requests until the proxy gives up on them or the test ends.
func hangUntilCancelled(t *testing.T) func(w http.ResponseWriter, r *http.Request) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	return func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}
}

// resilientProxy is a plaintext HTTP listener routing everything to one
// STATIC cluster "app" of the given endpoints; editRoute and editCluster
// add the policies under test. It returns the listener's address.
func resilientProxy(t *testing.T, endpoints []string, editRoute func(*routev3.RouteAction), editCluster func(*clusterv3.Cluster)) string {
	t.Helper()
	dp, _ := newPlainDataplane(t)
	c := staticCluster(t, "app", endpoints...)
	if editCluster != nil {
		editCluster(c)
	}
	rc := routeTo("routes", "app", "app")
	if editRoute != nil {
		editRoute(rc.VirtualHosts[0].Routes[0].GetRoute())
	}
	l := outboundListener(t, "http", "127.0.0.1:0", "unused")
	setHCM(t, l, hcm(t, "http", "", rc))
	must(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{c}))
	must(t, dp.OnListeners(t.Context(), []*listenerv3.Listener{l}))
	return listenerAddr(t, dp, "http")
}

// seen is what a client saw.
type seen struct {
	status int
	flags  string
	body   string
}

func sendTo(t *testing.T, addr, method, body string) seen {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+addr+"/", rd)
	must(t, err)
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	return seen{resp.StatusCode, resp.Header.Get("X-Weft-Response-Flags"), string(b)}
}

func retryPolicy(on string, retries uint32) *routev3.RetryPolicy {
	return &routev3.RetryPolicy{
		RetryOn:      on,
		NumRetries:   wrapperspb.UInt32(retries),
		RetryBackOff: &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(time.Millisecond)},
	}
}

func TestRouteTimeout(t *testing.T) {
	app := startScriptedApp(t, func(_ int64, w http.ResponseWriter, r *http.Request) { hangUntilCancelled(t)(w, r) })
	addr := resilientProxy(t, []string{app.addr}, func(ra *routev3.RouteAction) {
		ra.Timeout = durationpb.New(100 * time.Millisecond)
	}, nil)
	if got := sendTo(t, addr, http.MethodGet, ""); got.status != http.StatusGatewayTimeout || got.flags != "UT" {
		t.Errorf("got %d %q, want 504 UT", got.status, got.flags)
	}
}

func TestRetries(t *testing.T) {
	first := func(code int) func(int64, http.ResponseWriter, *http.Request) {
		return func(n int64, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				replyWith(code, "failed")(n, w, r)
				return
			}
			replyWith(http.StatusOK, "ok")(n, w, r)
		}
	}
	tests := []struct {
		name   string
		policy *routev3.RetryPolicy
		answer func(int64, http.ResponseWriter, *http.Request)
		body   string
		want   seen
		calls  int64
	}{
		{
			name:   "5xx then success",
			policy: retryPolicy("5xx", 1),
			answer: first(http.StatusServiceUnavailable),
			want:   seen{status: 200, body: "ok"},
			calls:  2,
		},
		{
			name:   "gateway-error then success",
			policy: retryPolicy("gateway-error", 1),
			answer: first(http.StatusBadGateway),
			want:   seen{status: 200, body: "ok"},
			calls:  2,
		},
		{
			name:   "gateway-error does not retry 500",
			policy: retryPolicy("gateway-error", 1),
			answer: first(http.StatusInternalServerError),
			want:   seen{status: 500, body: "failed"},
			calls:  1,
		},
		{
			name: "retriable status code then success",
			policy: func() *routev3.RetryPolicy {
				p := retryPolicy("retriable-status-codes", 1)
				p.RetriableStatusCodes = []uint32{418}
				return p
			}(),
			answer: first(http.StatusTeapot),
			want:   seen{status: 200, body: "ok"},
			calls:  2,
		},
		{
			name:   "retries exhausted",
			policy: retryPolicy("5xx", 2),
			answer: replyWith(http.StatusServiceUnavailable, "nope"),
			want:   seen{status: 503, flags: "URX", body: "nope"},
			calls:  3,
		},
		{
			name:   "small body replayed",
			policy: retryPolicy("5xx", 1),
			answer: first(http.StatusServiceUnavailable),
			body:   strings.Repeat("x", 1000),
			want:   seen{status: 200, body: "ok"},
			calls:  2,
		},
		{
			name:   "large body not retried",
			policy: retryPolicy("5xx", 1),
			answer: first(http.StatusServiceUnavailable),
			body:   strings.Repeat("x", 100<<10),
			want:   seen{status: 503, body: "failed"},
			calls:  1,
		},
		{
			name: "per-try timeout then success",
			policy: func() *routev3.RetryPolicy {
				p := retryPolicy("5xx", 2)
				p.PerTryTimeout = durationpb.New(100 * time.Millisecond)
				return p
			}(),
			answer: func(n int64, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					hangUntilCancelled(t)(w, r)
					return
				}
				replyWith(http.StatusOK, "ok")(n, w, r)
			},
			want:  seen{status: 200, body: "ok"},
			calls: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := startScriptedApp(t, tt.answer)
			addr := resilientProxy(t, []string{app.addr}, func(ra *routev3.RouteAction) {
				ra.Timeout = durationpb.New(10 * time.Second)
				ra.RetryPolicy = tt.policy
			}, nil)
			method := http.MethodGet
			if tt.body != "" {
				method = http.MethodPost
			}
			if got := sendTo(t, addr, method, tt.body); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if n := app.n.Load(); n != tt.calls {
				t.Errorf("the app saw %d requests, want %d", n, tt.calls)
			}
		})
	}
}

// TestConnectFailureRetriedOnAnotherEndpoint has one dead endpoint of two,
// over HTTP/1.1 and h2c:
// every request succeeds, the ones sent to the dead one on their retry.
func TestConnectFailureRetriedOnAnotherEndpoint(t *testing.T) {
	for _, tc := range []struct {
		on  string
		h2c bool
	}{{"", false}, {"connect-failure", false}, {"connect-failure", true}} {
		on := tc.on
		t.Run("retry_on="+on+"/h2c="+strconv.FormatBool(tc.h2c), func(t *testing.T) {
			app := startScriptedApp(t, replyWith(http.StatusOK, "ok"))
			addr := resilientProxy(t, []string{deadAddress(t), app.addr}, func(ra *routev3.RouteAction) {
				if on != "" {
					ra.RetryPolicy = retryPolicy(on, 1)
				}
			}, func(c *clusterv3.Cluster) {
				if tc.h2c {
					c.TypedExtensionProtocolOptions = protocolOptions(t, true)
				}
			})
			failed := 0
			for range 4 {
				got := sendTo(t, addr, http.MethodGet, "")
				switch {
				case got.status == http.StatusOK:
				case got.status == http.StatusServiceUnavailable && strings.Contains(got.flags, "UF"):
					failed++
				default:
					t.Fatalf("got %+v", got)
				}
			}
			if on != "" && failed > 0 {
				t.Errorf("%d of 4 requests failed, want none", failed)
			}
			if on == "" && failed != 2 {
				t.Errorf("%d of 4 requests failed without retries, want 2 (round robin)", failed)
			}
		})
	}
}

func TestCircuitBreakerMaxRequests(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	app := startScriptedApp(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		replyWith(http.StatusOK, "slow")(n, w, r)
	})
	addr := resilientProxy(t, []string{app.addr}, nil, func(c *clusterv3.Cluster) {
		c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
			MaxRequests: wrapperspb.UInt32(1),
		}}}
	})
	slow := make(chan seen, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(slow) // a zero answer if sendTo fails
		slow <- sendTo(t, addr, http.MethodGet, "")
	})
	<-arrived
	got := sendTo(t, addr, http.MethodGet, "")
	close(release)
	wg.Wait()
	if got.status != http.StatusServiceUnavailable || got.flags != "UO" {
		t.Errorf("concurrent request: %+v, want 503 UO", got)
	}
	if got := <-slow; got.status != http.StatusOK || got.body != "slow" {
		t.Errorf("first request: %+v, want 200 slow", got)
	}
	if got := sendTo(t, addr, http.MethodGet, ""); got.status == http.StatusServiceUnavailable {
		t.Errorf("after the slow request: %+v, want it served", got)
	}
}

func TestOutlierDetection(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	bad := startScriptedApp(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			replyWith(http.StatusInternalServerError, "bad")(n, w, r)
			return
		}
		replyWith(http.StatusOK, "recovered")(n, w, r)
	})
	good := startScriptedApp(t, replyWith(http.StatusOK, "good"))
	addr := resilientProxy(t, []string{bad.addr, good.addr}, nil, func(c *clusterv3.Cluster) {
		c.OutlierDetection = &clusterv3.OutlierDetection{
			Consecutive_5Xx:    wrapperspb.UInt32(2),
			BaseEjectionTime:   durationpb.New(time.Second),
			MaxEjectionPercent: wrapperspb.UInt32(50),
		}
	})
	// Round robin: the bad endpoint gets every other request.
	for i := 0; bad.n.Load() < 2; i++ {
		if i > 10 {
			t.Fatalf("the bad endpoint got %d of %d requests", bad.n.Load(), i)
		}
		sendTo(t, addr, http.MethodGet, "")
	}
	failing.Store(false)
	for i := range 6 {
		if got := sendTo(t, addr, http.MethodGet, ""); got.body != "good" {
			t.Fatalf("request %d after the ejection: %+v, want the good endpoint", i, got)
		}
	}
	if n := bad.n.Load(); n != 2 {
		t.Fatalf("the ejected endpoint got %d requests, want 2", n)
	}
	eventually(t, func() string {
		if got := sendTo(t, addr, http.MethodGet, ""); got.body != "recovered" {
			return "the ejected endpoint never came back"
		}
		return ""
	})
}

func TestResilienceValidation(t *testing.T) {
	dp, _ := newPlainDataplane(t)
	c := staticCluster(t, "app", "127.0.0.1:1")
	c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
		MaxRequests:        wrapperspb.UInt32(0),
		MaxConnectionPools: wrapperspb.UInt32(1),
	}}}
	c.OutlierDetection = &clusterv3.OutlierDetection{
		SuccessRateMinimumHosts: wrapperspb.UInt32(1),
		MaxEjectionPercent:      wrapperspb.UInt32(101),
	}
	checkErrors(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{c}), []string{
		`cluster "app": circuit_breakers.thresholds[0].max_connection_pools: unsupported field`,
		`cluster "app": circuit_breakers.thresholds[0].max_requests: must be at least 1`,
		`cluster "app": outlier_detection.success_rate_minimum_hosts: unsupported field`,
		`cluster "app": outlier_detection.max_ejection_percent: must be at most 100`,
	})
}

// TestConnectFailuresExhaustRetries has no live endpoint: the answer is
// the local failure, marked as retried out.
func TestConnectFailuresExhaustRetries(t *testing.T) {
	addr := resilientProxy(t, []string{deadAddress(t)}, func(ra *routev3.RouteAction) {
		ra.RetryPolicy = retryPolicy("connect-failure", 2)
	}, nil)
	if got := sendTo(t, addr, http.MethodGet, ""); got.status != http.StatusServiceUnavailable || got.flags != "UF,URX" {
		t.Errorf("got %+v, want 503 UF,URX", got)
	}
}

// TestAllEjectedIsNoHealthyUpstream ejects the only endpoint.
func TestAllEjectedIsNoHealthyUpstream(t *testing.T) {
	app := startScriptedApp(t, replyWith(http.StatusInternalServerError, "bad"))
	addr := resilientProxy(t, []string{app.addr}, nil, func(c *clusterv3.Cluster) {
		c.OutlierDetection = &clusterv3.OutlierDetection{
			Consecutive_5Xx:    wrapperspb.UInt32(1),
			BaseEjectionTime:   durationpb.New(time.Minute),
			AlwaysEjectOneHost: wrapperspb.Bool(true),
		}
	})
	if got := sendTo(t, addr, http.MethodGet, ""); got.status != http.StatusInternalServerError {
		t.Fatalf("first request: %+v, want the app's 500", got)
	}
	if got := sendTo(t, addr, http.MethodGet, ""); got.status != http.StatusServiceUnavailable || got.flags != "UH" {
		t.Errorf("after the ejection: %+v, want 503 UH", got)
	}
	if n := app.n.Load(); n != 1 {
		t.Errorf("the ejected app saw %d requests, want 1", n)
	}
}

// TestRetryOverflow lets one retry be in flight (max_retries 1): a second
// request that would retry meanwhile gets its first answer.
func TestRetryOverflow(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	app := startScriptedApp(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n != 2 {
			replyWith(http.StatusServiceUnavailable, "first")(n, w, r)
			return
		}
		arrived <- struct{}{} // the first request's retry
		select {
		case <-release:
		case <-r.Context().Done():
		}
		replyWith(http.StatusOK, "retried")(n, w, r)
	})
	addr := resilientProxy(t, []string{app.addr}, func(ra *routev3.RouteAction) {
		ra.RetryPolicy = retryPolicy("5xx", 3)
	}, func(c *clusterv3.Cluster) {
		c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
			MaxRetries: wrapperspb.UInt32(1),
		}}}
	})
	first := make(chan seen, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(first) // a zero answer if sendTo fails
		first <- sendTo(t, addr, http.MethodGet, "")
	})
	<-arrived
	got := sendTo(t, addr, http.MethodGet, "")
	close(release)
	wg.Wait()
	if got.status != http.StatusServiceUnavailable || got.body != "first" || got.flags != "" {
		t.Errorf("second request: %+v, want the app's 503 unretried", got)
	}
	if got := <-first; got.status != http.StatusOK || got.body != "retried" {
		t.Errorf("first request: %+v, want 200 retried", got)
	}
	if n := app.n.Load(); n != 3 {
		t.Errorf("the app saw %d requests, want 3", n)
	}
}
