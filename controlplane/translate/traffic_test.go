package translate

import (
	"bytes"
	"slices"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// These tests check the "Traffic policies and routes" section of
// docs/xds.md directly, so that a golden file regenerated with -update
// cannot quietly break it.

var productpage = model.NamespacedName{Namespace: "store", Name: "productpage"}

func storeCluster(name string, port uint32) string {
	return OutboundClusterName(model.NamespacedName{Namespace: "store", Name: name}, port)
}

func storeRoutes(name string, port uint32) string {
	return OutboundListenerName(model.NamespacedName{Namespace: "store", Name: name}, port)
}

func TestTrafficPolicyClusters(t *testing.T) {
	res := translateIn(t, trafficMesh, productpage)
	for _, tc := range []struct {
		cluster string
		policy  cluster.Cluster_LbPolicy
		check   func(t *testing.T, c *cluster.Cluster)
	}{
		{storeCluster("reviews", 80), cluster.Cluster_ROUND_ROBIN, func(t *testing.T, c *cluster.Cluster) {
			if c.GetLbConfig() != nil || c.GetCircuitBreakers() != nil || c.GetOutlierDetection() != nil {
				t.Errorf("a policy with only routing settings changed the cluster: %v", c)
			}
		}},
		{storeCluster("reviews-v1", 80), cluster.Cluster_LEAST_REQUEST, func(t *testing.T, c *cluster.Cluster) {
			if got := c.GetLeastRequestLbConfig().GetChoiceCount().GetValue(); got != 2 {
				t.Errorf("choice_count %d, want 2", got)
			}
			od := c.GetOutlierDetection()
			if od.GetConsecutiveGatewayFailure().GetValue() != 3 || od.GetEnforcingConsecutiveGatewayFailure().GetValue() != 100 {
				t.Errorf("outlier detection %v: gateway errors would not eject (Envoy enforces them at 0%% by default)", od)
			}
			if od.GetEnforcingConsecutive_5Xx() == nil || od.GetEnforcingConsecutive_5Xx().GetValue() != 0 {
				t.Errorf("outlier detection %v: the 5xx detector the policy did not ask for runs", od)
			}
		}},
		{storeCluster("reviews-v2", 80), cluster.Cluster_RANDOM, nil},
		{storeCluster("ratings", 80), cluster.Cluster_RING_HASH, func(t *testing.T, c *cluster.Cluster) {
			rh := c.GetRingHashLbConfig()
			if rh.GetHashFunction() != cluster.Cluster_RingHashLbConfig_XX_HASH || rh.GetMinimumRingSize().GetValue() != 1024 {
				t.Errorf("ring_hash_lb_config %v", rh)
			}
			ths := c.GetCircuitBreakers().GetThresholds()
			if len(ths) != 1 {
				t.Fatalf("thresholds %v, want one", ths)
			}
			th := ths[0]
			if th.GetPriority() != core.RoutingPriority_DEFAULT || th.GetMaxConnections().GetValue() != 100 ||
				th.GetMaxPendingRequests().GetValue() != 10 || th.GetMaxRequests().GetValue() != 200 || th.GetMaxRetries().GetValue() != 5 {
				t.Errorf("thresholds %v", th)
			}
			if got := c.GetConnectTimeout().AsDuration(); got != time.Second {
				t.Errorf("connect timeout %v, want 1s", got)
			}
			od := c.GetOutlierDetection()
			if od.GetConsecutive_5Xx().GetValue() != 5 || od.GetInterval().AsDuration() != 10*time.Second ||
				od.GetBaseEjectionTime().AsDuration() != 30*time.Second || od.GetMaxEjectionPercent().GetValue() != 50 {
				t.Errorf("outlier detection %v", od)
			}
		}},
		{storeCluster("db", 5432), cluster.Cluster_MAGLEV, func(t *testing.T, c *cluster.Cluster) {
			if got := c.GetMaglevLbConfig().GetTableSize().GetValue(); got != 65537 {
				t.Errorf("maglev table size %d, want 65537", got)
			}
		}},
		{storeCluster("cache", 6379), cluster.Cluster_RING_HASH, nil},
		{storeCluster("greeter", 50051), cluster.Cluster_ROUND_ROBIN, nil},
	} {
		t.Run(tc.cluster, func(t *testing.T) {
			c := find[*cluster.Cluster](t, res[resource.ClusterType], tc.cluster)
			if c.GetLbPolicy() != tc.policy {
				t.Errorf("lb_policy %v, want %v", c.GetLbPolicy(), tc.policy)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestTrafficPolicyTCPHash(t *testing.T) {
	res := translateIn(t, trafficMesh, productpage)
	for _, tc := range []struct {
		listener, cluster string
		hash              bool
	}{
		{storeRoutes("db", 5432), storeCluster("db", 5432), true},       // MAGLEV on the source IP
		{storeRoutes("cache", 6379), storeCluster("cache", 6379), true}, // sniffed: the TCP chain
		{storeRoutes("greeter", 50051), "", false},
	} {
		t.Run(tc.listener, func(t *testing.T) {
			l := find[*listener.Listener](t, res[resource.ListenerType], tc.listener)
			found := false
			for _, fc := range l.GetFilterChains() {
				for _, f := range fc.GetFilters() {
					if f.GetName() != "envoy.filters.network.tcp_proxy" {
						continue
					}
					found = true
					hp := unpack[*tcpproxy.TcpProxy](t, f.GetTypedConfig()).GetHashPolicy()
					if tc.hash && (len(hp) != 1 || hp[0].GetSourceIp() == nil) {
						t.Errorf("tcp_proxy hash_policy %v, want one source_ip", hp)
					}
				}
			}
			if found != tc.hash {
				t.Errorf("tcp_proxy present %v, want %v", found, tc.hash)
			}
		})
	}
}

func TestTrafficPolicyRouteDefaults(t *testing.T) {
	res := translateIn(t, trafficMesh, productpage)
	// ratings: no HTTPRoute; its one route carries the policy's timeout,
	// retries and header hash.
	rs := find[*route.RouteConfiguration](t, res[resource.RouteType], storeRoutes("ratings", 80)).GetVirtualHosts()[0].GetRoutes()
	if len(rs) != 1 {
		t.Fatalf("%d routes, want 1", len(rs))
	}
	ra := rs[0].GetRoute()
	if ra.GetTimeout().AsDuration() != 3*time.Second {
		t.Errorf("timeout %v, want 3s", ra.GetTimeout().AsDuration())
	}
	rp := ra.GetRetryPolicy()
	if rp.GetRetryOn() != "5xx,reset" || rp.GetNumRetries().GetValue() != 2 || rp.GetPerTryTimeout().AsDuration() != time.Second {
		t.Errorf("retry policy %v, want 5xx,reset x2 per try 1s", rp)
	}
	if hp := ra.GetHashPolicy(); len(hp) != 1 || hp[0].GetHeader().GetHeaderName() != "x-user" {
		t.Errorf("hash policy %v, want header x-user", hp)
	}

	// reviews: the policy's timeout and default retry_on on every
	// forwarding route, except where the rule sets its own.
	for _, r := range find[*route.RouteConfiguration](t, res[resource.RouteType], storeRoutes("reviews", 80)).GetVirtualHosts()[0].GetRoutes() {
		ra := r.GetRoute()
		if ra == nil {
			continue
		}
		wantTimeout, wantRetryOn := 15*time.Second, "connect-failure,gateway-error,reset"
		if r.GetName() == "HTTPRoute/store/reviews-split/rules[2]/matches[0]" {
			wantTimeout, wantRetryOn = 10*time.Second, "retriable-status-codes,connect-failure,reset"
			if got := ra.GetRetryPolicy().GetPerTryTimeout().AsDuration(); got != 2*time.Second {
				t.Errorf("%s: per_try_timeout %v, want timeouts.backendRequest 2s", r.GetName(), got)
			}
		}
		if got := ra.GetTimeout().AsDuration(); got != wantTimeout {
			t.Errorf("%q: timeout %v, want %v", r.GetName(), got, wantTimeout)
		}
		if got := ra.GetRetryPolicy().GetRetryOn(); got != wantRetryOn {
			t.Errorf("%q: retry_on %q, want %q", r.GetName(), got, wantRetryOn)
		}
	}
}

// TestRouteBackendClusters checks that a client gets the cluster and
// assignment of every route backend once, shaped as a declared outbound.
func TestRouteBackendClusters(t *testing.T) {
	res := translateIn(t, trafficMesh, productpage)
	clusters := names(res[resource.ClusterType])
	want := []string{
		storeCluster("greeter-v2", 50051), storeCluster("greeter", 50051), storeCluster("db", 5432),
		storeCluster("cache", 6379), storeCluster("ratings", 80), storeCluster("reviews-v1", 80),
		storeCluster("reviews-v2", 80), storeCluster("reviews", 80),
	}
	if !slices.Equal(clusters, want) {
		t.Errorf("clusters %q, want %q (reviews-v1 declared and a backend: once)", clusters, want)
	}
	if got := names(res[resource.EndpointType]); !slices.Equal(got, want) {
		t.Errorf("assignments %q, want %q", got, want)
	}
	c := find[*cluster.Cluster](t, res[resource.ClusterType], storeCluster("reviews-v2", 80))
	utc := unpack[*tlsv3.UpstreamTlsContext](t, c.GetTransportSocket().GetTypedConfig())
	sans := wantCommonTLS(t, utc.GetCommonTlsContext())
	if len(sans) != 1 || sans[0].GetMatcher().GetExact() != "spiffe://cluster.local/ns/store/sa/reviews-2" {
		t.Errorf("reviews-v2 SANs %v, want reviews-2's identity only", sans)
	}
	wantHTTP2Upstream(t, c, true)
	cla := find[*endpoint.ClusterLoadAssignment](t, res[resource.EndpointType], storeCluster("reviews-v2", 80))
	if got := lbAddrs(cla); !slices.Equal(got, []string{"192.0.2.12:9080"}) {
		t.Errorf("reviews-v2 endpoints %q", got)
	}
	if c.GetLbPolicy() != cluster.Cluster_RANDOM {
		t.Errorf("backend cluster lb_policy %v: its own TrafficPolicy was not applied", c.GetLbPolicy())
	}
}

// TestConsumerRoute checks GAMMA's consumer routes: qa's route on
// store/reviews steers qa's clients only, and replaces the producer's.
func TestConsumerRoute(t *testing.T) {
	res := translateIn(t, trafficMesh, model.NamespacedName{Namespace: "qa", Name: "tester"})
	rs := find[*route.RouteConfiguration](t, res[resource.RouteType], storeRoutes("reviews", 80)).GetVirtualHosts()[0].GetRoutes()
	var got []string
	for _, r := range rs {
		got = append(got, r.GetName()+" -> "+r.GetRoute().GetCluster())
	}
	const qaRoute = "HTTPRoute/qa/qa-reviews/rules[0]/matches[0]"
	want := []string{
		qaRoute + " -> " + storeCluster("reviews-v2", 80),
		" -> " + storeCluster("reviews", 80),
	}
	if !slices.Equal(got, want) {
		t.Errorf("tester's routes %q, want %q", got, want)
	}
	if got, want := names(res[resource.ClusterType]), []string{storeCluster("reviews-v2", 80), storeCluster("reviews", 80)}; !slices.Equal(got, want) {
		t.Errorf("clusters %q, want %q", got, want)
	}

	producer := translateIn(t, trafficMesh, productpage)
	for _, r := range find[*route.RouteConfiguration](t, producer[resource.RouteType], storeRoutes("reviews", 80)).GetVirtualHosts()[0].GetRoutes() {
		if r.GetName() == qaRoute {
			t.Errorf("productpage (store) follows qa's consumer route")
		}
	}
}

// TestMeshWithoutTrafficObjectsIsUnchanged checks that without
// TrafficPolicies and routes every outbound resource keeps its plain
// shape, and that objects about other Services change nothing for a
// client: byte-identical output.
func TestMeshWithoutTrafficObjectsIsUnchanged(t *testing.T) {
	bare := func() *model.Mesh {
		m := trafficMesh()
		m.Policies = model.Policies{}
		return m
	}
	res := translateIn(t, bare, productpage)
	for _, r := range res[resource.RouteType] {
		rc := r.(*route.RouteConfiguration)
		vh := rc.GetVirtualHosts()[0]
		wantOneRoute(t, rc, rc.GetName(), vh.GetName(), vh.GetRoutes()[0].GetRoute().GetCluster())
		if ra := vh.GetRoutes()[0].GetRoute(); ra.GetRetryPolicy() != nil || ra.GetHashPolicy() != nil {
			t.Errorf("%s: route %v", rc.GetName(), ra)
		}
	}
	if n := len(res[resource.ClusterType]); n != 6 {
		t.Errorf("%d clusters, want the 6 declared ones", n)
	}
	for _, r := range res[resource.ClusterType] {
		c := r.(*cluster.Cluster)
		if c.GetLbPolicy() != cluster.Cluster_ROUND_ROBIN || c.GetLbConfig() != nil || c.GetCircuitBreakers() != nil ||
			c.GetOutlierDetection() != nil || c.GetConnectTimeout().AsDuration() != 5*time.Second {
			t.Errorf("cluster %s changed without a policy: %v", c.GetName(), c)
		}
	}
	for _, r := range res[resource.ListenerType] {
		for _, fc := range r.(*listener.Listener).GetFilterChains() {
			for _, f := range fc.GetFilters() {
				if f.GetName() == "envoy.filters.network.tcp_proxy" && len(unpack[*tcpproxy.TcpProxy](t, f.GetTypedConfig()).GetHashPolicy()) != 0 {
					t.Errorf("%s: tcp_proxy hashes without a policy", r.(*listener.Listener).GetName())
				}
			}
		}
	}

	// webMesh's client calls web and greeter; objects about site only.
	client := model.NamespacedName{Namespace: "web", Name: "client"}
	plain := marshalAll(t, translateIn(t, webMesh, client))
	others := func() *model.Mesh {
		m := webMesh()
		m.Policies.TrafficPolicies = []v1alpha1.TrafficPolicy{{
			ObjectMeta: objectMeta("web", "site", epoch),
			Spec: v1alpha1.TrafficPolicySpec{
				TargetRef:    v1alpha1.ServiceReference{Name: "site"},
				LoadBalancer: &v1alpha1.LoadBalancer{Algorithm: v1alpha1.Random}, Timeout: durOf(time.Second),
			},
		}}
		m.Policies.HTTPRoutes = []gwv1.HTTPRoute{{
			ObjectMeta: objectMeta("web", "site", epoch),
			Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("site", 80)}},
				Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{backendTo("web", 80, 1)}}},
			},
		}}
		return m
	}
	if got := marshalAll(t, translateIn(t, others, client)); !bytes.Equal(got, plain) {
		t.Error("a TrafficPolicy and an HTTPRoute on a Service the client does not call changed its resources")
	}
	// And the same objects do change what browser, which calls site, gets.
	browser := model.NamespacedName{Namespace: "web", Name: "browser"}
	if bytes.Equal(marshalAll(t, translateIn(t, others, browser)), marshalAll(t, translateIn(t, webMesh, browser))) {
		t.Error("a TrafficPolicy and an HTTPRoute on site changed nothing for its client")
	}
}

func TestParseGatewayDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"10s", 10 * time.Second, true},
		{"1m", time.Minute, true},
		{"500ms", 500 * time.Millisecond, true},
		{"1h30m", 90 * time.Minute, true},
		{"0s", 0, true},
		{"1.5s", 0, false},
		{"-1s", 0, false},
		{"10", 0, false},
		{"1us", 0, false},
		{"123456s", 0, false},
		{"", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseGatewayDuration(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("parseGatewayDuration(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}
