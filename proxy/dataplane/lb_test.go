package dataplane_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// namedApps starts n HTTP apps answering with their index and returns
// their addresses.
func namedApps(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range n {
		name := itoa(i)
		addrs[i] = startScriptedApp(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, name)
		}).addr
	}
	return addrs
}

// getWith sends GET / with header x-user: user (none when empty) over tr
// and returns the body.
func getWith(t *testing.T, tr *http.Transport, addr, user string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/", nil)
	must(t, err)
	if user != "" {
		req.Header.Set("X-User", user)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, body %q", resp.StatusCode, b)
	}
	return string(b)
}

func TestHTTPSessionAffinity(t *testing.T) {
	for _, policy := range []clusterv3.Cluster_LbPolicy{clusterv3.Cluster_RING_HASH, clusterv3.Cluster_MAGLEV} {
		t.Run(policy.String(), func(t *testing.T) {
			apps := namedApps(t, 4)
			addr := resilientProxy(t, apps, func(ra *routev3.RouteAction) {
				ra.HashPolicy = []*routev3.RouteAction_HashPolicy{{
					PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: "x-user"}},
				}}
			}, func(c *clusterv3.Cluster) { c.LbPolicy = policy })
			tr := &http.Transport{}
			t.Cleanup(tr.CloseIdleConnections)

			endpointOf := map[string]string{}
			spread := map[string]bool{}
			for round := range 5 {
				for u := range 32 {
					user := "user-" + itoa(u)
					got := getWith(t, tr, addr, user)
					if round == 0 {
						endpointOf[user] = got
						spread[got] = true
					} else if got != endpointOf[user] {
						t.Fatalf("%s went to endpoint %s, then %s", user, endpointOf[user], got)
					}
				}
			}
			// 32 users on 4 endpoints all landing on one or two is
			// vanishingly unlikely with a working hash.
			if len(spread) < 3 {
				t.Errorf("32 users used endpoints %v, want at least 3 of 4", spread)
			}
			// Without a hash, both policies pick at random.
			random := map[string]bool{}
			for range 64 {
				random[getWith(t, tr, addr, "")] = true
			}
			if len(random) < 3 {
				t.Errorf("requests without a hash used endpoints %v, want at least 3 of 4", random)
			}
		})
	}
}

// weighted sets the load_balancing_weight of the cluster's endpoints.
func weighted(c *clusterv3.Cluster, weights ...uint32) {
	for i, lbe := range c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints() {
		lbe.LoadBalancingWeight = wrapperspb.UInt32(weights[i])
	}
}

func TestHTTPEndpointWeights(t *testing.T) {
	for _, policy := range []clusterv3.Cluster_LbPolicy{clusterv3.Cluster_ROUND_ROBIN, clusterv3.Cluster_LEAST_REQUEST, clusterv3.Cluster_RANDOM} {
		t.Run(policy.String(), func(t *testing.T) {
			apps := namedApps(t, 2)
			addr := resilientProxy(t, apps, nil, func(c *clusterv3.Cluster) {
				c.LbPolicy = policy
				weighted(c, 3, 1)
			})
			tr := &http.Transport{}
			t.Cleanup(tr.CloseIdleConnections)
			counts := map[string]int{}
			const n = 800
			for range n {
				counts[getWith(t, tr, addr, "")]++
			}
			// 3:1 means 600 of 800; RANDOM's standard deviation is about
			// 12, so ±80 is far beyond chance.
			if c := counts["0"]; c < 520 || c > 680 {
				t.Errorf("endpoint of weight 3 got %d of %d requests (%v), want about 600", c, n, counts)
			}
		})
	}
}

// tcpHashListener is a plaintext TCP listener to cluster hashing on the
// source IP.
func tcpHashListener(t *testing.T, cluster string) *listenerv3.Listener {
	t.Helper()
	l := outboundListener(t, "tcp", "127.0.0.1:0", cluster)
	setTCPProxy(t, l, &tcpproxyv3.TcpProxy{
		StatPrefix:       cluster,
		ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster},
		HashPolicy:       []*typev3.HashPolicy{{PolicySpecifier: &typev3.HashPolicy_SourceIp_{SourceIp: &typev3.HashPolicy_SourceIp{}}}},
	})
	return l
}

// roundTripFrom is roundTrip from the local IP src, returning the
// backend's name.
func roundTripFrom(t *testing.T, src, addr string) string {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.DialContext(t.Context(), "tcp", addr)
	must(t, err)
	defer c.Close()
	must(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = c.Write([]byte("x"))
	must(t, err)
	must(t, c.(*net.TCPConn).CloseWrite())
	got, err := io.ReadAll(c)
	must(t, err)
	name, _, _ := strings.Cut(string(got), ":")
	return name
}

func TestTCPSourceIPAffinity(t *testing.T) {
	for _, policy := range []clusterv3.Cluster_LbPolicy{clusterv3.Cluster_RING_HASH, clusterv3.Cluster_MAGLEV} {
		t.Run(policy.String(), func(t *testing.T) {
			var addrs []string
			for i := range 4 {
				addrs = append(addrs, startBackend(t, "b"+itoa(i)).addr())
			}
			dp, _ := newPlainDataplane(t)
			c := staticCluster(t, "app", addrs...)
			c.LbPolicy = policy
			must(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{c}))
			must(t, dp.OnListeners(t.Context(), []*listenerv3.Listener{tcpHashListener(t, "app")}))
			addr := listenerAddr(t, dp, "tcp")

			first := map[string]string{}
			spread := map[string]bool{}
			for round := range 3 {
				for i := range 16 {
					src := "127.0.0." + itoa(10+i)
					got := roundTripFrom(t, src, addr)
					if round == 0 {
						first[src] = got
						spread[got] = true
					} else if got != first[src] {
						t.Fatalf("connections from %s went to %s, then %s", src, first[src], got)
					}
				}
			}
			if len(spread) < 2 {
				t.Errorf("16 source IPs used backends %v, want several", spread)
			}
		})
	}
}

func TestTCPRoundRobinSkipsFailedEndpoint(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	must(t, err)
	dead := ln.Addr().String()
	must(t, ln.Close()) // connections to it are refused
	live := []string{startBackend(t, "a").addr(), startBackend(t, "b").addr()}

	dp, reg := newPlainDataplane(t)
	must(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{staticCluster(t, "app", dead, live[0], dead, live[1])}))
	must(t, dp.OnListeners(t.Context(), []*listenerv3.Listener{outboundListener(t, "tcp", "127.0.0.1:0", "app")}))
	addr := listenerAddr(t, dp, "tcp")
	seen := map[string]int{}
	for range 20 {
		got, err := roundTrip(t, addr, "hi")
		must(t, err)
		name, _, _ := strings.Cut(got, ":")
		seen[name]++
	}
	if seen["a"] == 0 || seen["b"] == 0 || seen["a"]+seen["b"] != 20 {
		t.Errorf("backends saw %v connections, want all 20 on a and b, both used", seen)
	}
	if got := metric(t, reg, "weft_proxy_connections_total", connections("tcp", "outbound", "", "ok")); got != 20 {
		t.Errorf("%v connections proxied, want 20", got)
	}
}

func TestLBValidation(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *clusterv3.Cluster)
		want string
	}{
		{"ring sizes", func(c *clusterv3.Cluster) {
			c.LbPolicy = clusterv3.Cluster_RING_HASH
			c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{
				MinimumRingSize: wrapperspb.UInt64(4096), MaximumRingSize: wrapperspb.UInt64(1024),
			}}
		}, `cluster "app": ring_hash_lb_config: invalid load balancer configuration: min_ring_size 4096 is above max_ring_size 1024`},
		{"ring hash function", func(c *clusterv3.Cluster) {
			c.LbPolicy = clusterv3.Cluster_RING_HASH
			c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{
				HashFunction: clusterv3.Cluster_RingHashLbConfig_MURMUR_HASH_2,
			}}
		}, `cluster "app": ring_hash_lb_config.hash_function: unsupported hash function MURMUR_HASH_2`},
		{"maglev table", func(c *clusterv3.Cluster) {
			c.LbPolicy = clusterv3.Cluster_MAGLEV
			c.LbConfig = &clusterv3.Cluster_MaglevLbConfig_{MaglevLbConfig: &clusterv3.Cluster_MaglevLbConfig{TableSize: wrapperspb.UInt64(1000)}}
		}, `cluster "app": maglev_lb_config.table_size: invalid load balancer configuration: maglev table_size 1000 is not prime`},
		{"choice count", func(c *clusterv3.Cluster) {
			c.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
			c.LbConfig = &clusterv3.Cluster_LeastRequestLbConfig_{LeastRequestLbConfig: &clusterv3.Cluster_LeastRequestLbConfig{ChoiceCount: wrapperspb.UInt32(1)}}
		}, `cluster "app": least_request_lb_config: invalid load balancer configuration: choice_count 1 is below 2`},
		{"zero weight", func(c *clusterv3.Cluster) { weighted(c, 0) },
			`cluster "app": load_assignment.endpoints[0].lb_endpoints[0].load_balancing_weight: must be at least 1`},
		{"policy", func(c *clusterv3.Cluster) { c.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED },
			`cluster "app": lb_policy: unsupported policy CLUSTER_PROVIDED`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp, _ := newPlainDataplane(t)
			c := staticCluster(t, "app", "127.0.0.1:1")
			tt.edit(c)
			checkErrors(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{c}), []string{tt.want})
		})
	}
}

func TestTCPHashPolicyValidation(t *testing.T) {
	dp, _ := newPlainDataplane(t)
	l := outboundListener(t, "tcp", "127.0.0.1:0", "app")
	setTCPProxy(t, l, &tcpproxyv3.TcpProxy{
		StatPrefix:       "app",
		ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "app"},
		HashPolicy:       []*typev3.HashPolicy{{PolicySpecifier: &typev3.HashPolicy_FilterState_{FilterState: &typev3.HashPolicy_FilterState{Key: "k"}}}},
	})
	err := dp.OnListeners(t.Context(), []*listenerv3.Listener{l})
	if err == nil || !strings.Contains(err.Error(), "typed_config.hash_policy[0]: only source_ip is supported") {
		t.Fatalf("error %v, want hash_policy[0] refused", err)
	}
}
