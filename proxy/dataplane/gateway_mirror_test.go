package dataplane_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

// mirrored is what a shadow app received.
type mirrored struct {
	host, body string
}

// startShadowApp records the Host and body of every request on got and
// answers 500, which nobody may see.
func startShadowApp(t *testing.T, got chan<- mirrored) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			got <- mirrored{host: r.Host, body: string(b)}
			http.Error(w, "shadow", http.StatusInternalServerError)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("shadow app: %v", err)
		}
	})
	t.Cleanup(func() {
		_ = srv.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

func TestGatewayRequestMirroring(t *testing.T) {
	app := startHeaderApp(t, nil)
	got := make(chan mirrored, 10)
	shadow := startShadowApp(t, got)
	rc := routeTo("gw", "gw", "app")
	rc.VirtualHosts[0].Routes[0].GetRoute().RequestMirrorPolicies = []*routev3.RouteAction_RequestMirrorPolicy{{
		Cluster: "shadow",
		RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{
			Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED,
		}},
	}}
	h := hcm(t, "gateway", "", rc)
	dp, _ := newPlainDataplane(t)
	l := gatewayListener(t, "gateway|80", nil, &listenerv3.FilterChain{Filters: []*listenerv3.Filter{{
		Name:       "envoy.filters.network.http_connection_manager",
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, h)},
	}}})
	applyGateway(t, dp, []*clusterv3.Cluster{staticCluster(t, "app", app), staticCluster(t, "shadow", shadow)}, nil, l)
	url := "http://" + listenerAddr(t, dp, "gateway|80") + "/items"
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	for _, tc := range []struct {
		name     string
		body     string
		mirrored bool
	}{
		{"small body", "order=42", true},
		{"body over the bound", strings.Repeat("x", 64<<10+1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = "shop.example.com"
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("client got %s, want the app's 200 (the shadow's answer is discarded)", resp.Status)
			}
			select {
			case m := <-got:
				if !tc.mirrored {
					t.Fatalf("a body over 64 KiB was mirrored (%d bytes)", len(m.body))
				}
				if m.host != "shop.example.com-shadow" || m.body != tc.body {
					t.Errorf("shadow got Host %q body %q, want shop.example.com-shadow and %q", m.host, m.body, tc.body)
				}
			case <-time.After(time.Second):
				if tc.mirrored {
					t.Fatal("the shadow cluster got no copy")
				}
			}
		})
	}
}
