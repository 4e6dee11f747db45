package translate

import (
	"net/netip"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// trafficMesh is the mesh of the TrafficPolicy and GAMMA route cases, in
// namespace "store" (and "qa" for a consumer route). Built afresh for
// every call.
//
//   - Services reviews:80 (http, both versions), reviews-v1:80 and
//     reviews-v2:80 (http, one version each), ratings:80 (http),
//     greeter:50051 (grpc) with greeter-v2:50051, db:5432 (tcp) and
//     cache:6379 (no protocol: sniffed).
//   - TrafficPolicies: one per algorithm (reviews ROUND_ROBIN with a
//     timeout and retries, reviews-v1 LEAST_REQUEST with gateway-error
//     outlier detection, reviews-v2 RANDOM, ratings RING_HASH on a header
//     with every limit, db MAGLEV on the source IP, cache RING_HASH on the
//     source IP); ghost targets no Service, ratings-late loses to ratings.
//   - HTTPRoute reviews-split on reviews:80: a header match, an exact path
//     with a method and both header modifiers, a prefix with a query
//     parameter, a rewrite, timeouts and retry, a redirect, a 90/10 split
//     (the catch-all rule), and three rules the proxy cannot run.
//   - GRPCRoute greeter on greeter:50051; HTTPRoute db-route on the TCP
//     port db:5432 (not applied).
//   - productpage calls every service; qa/tester calls reviews:80 and
//     follows qa's consumer route instead of the producer's.
func trafficMesh() *model.Mesh {
	local := netip.MustParseAddr("127.0.0.1")
	svc := func(name string, sel map[string]string, port model.ServicePort) model.Service {
		return model.Service{Name: name, Namespace: "store", Selector: sel, Ports: []model.ServicePort{port}}
	}
	http := func(port uint32) model.ServicePort {
		return model.ServicePort{Name: "http", Port: port, TargetPort: 9080, AppProtocol: "http"}
	}
	workload := func(name, ns string, labels map[string]string, addr string, ports []model.WorkloadPort, out ...model.Outbound) model.Workload {
		return model.Workload{
			Name: name, Namespace: ns, ServiceAccount: name, Labels: labels,
			Address: netip.MustParseAddr(addr), LocalAddress: local,
			Ports: ports, Outbound: out,
		}
	}
	call := func(name string, port, local uint32) model.Outbound {
		return model.Outbound{Service: model.NamespacedName{Namespace: "store", Name: name}, Port: port, LocalPort: local}
	}
	web := []model.WorkloadPort{{Port: 9080}}
	m := &model.Mesh{
		TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local"),
		Services: []model.Service{
			svc("reviews", map[string]string{"app": "reviews"}, http(80)),
			svc("reviews-v1", map[string]string{"app": "reviews", "version": "v1"}, http(80)),
			svc("reviews-v2", map[string]string{"app": "reviews", "version": "v2"}, http(80)),
			svc("ratings", map[string]string{"app": "ratings"}, http(80)),
			svc("greeter", map[string]string{"app": "greeter"}, model.ServicePort{Name: "grpc", Port: 50051, TargetPort: 50051, AppProtocol: "grpc"}),
			svc("greeter-v2", map[string]string{"app": "greeter", "version": "v2"}, model.ServicePort{Name: "grpc", Port: 50051, TargetPort: 50051, AppProtocol: "grpc"}),
			svc("db", map[string]string{"app": "db"}, model.ServicePort{Name: "tcp", Port: 5432, TargetPort: 5432}),
			svc("cache", map[string]string{"app": "cache"}, model.ServicePort{Name: "cache", Port: 6379, TargetPort: 6379}),
		},
		Workloads: []model.Workload{
			workload("reviews-1", "store", map[string]string{"app": "reviews", "version": "v1"}, "192.0.2.11", web),
			workload("reviews-2", "store", map[string]string{"app": "reviews", "version": "v2"}, "192.0.2.12", web),
			workload("ratings-1", "store", map[string]string{"app": "ratings"}, "192.0.2.21", web),
			workload("ratings-2", "store", map[string]string{"app": "ratings"}, "192.0.2.22", web),
			workload("greeter-1", "store", map[string]string{"app": "greeter", "version": "v1"}, "192.0.2.31", []model.WorkloadPort{{Port: 50051}}),
			workload("greeter-2", "store", map[string]string{"app": "greeter", "version": "v2"}, "192.0.2.32", []model.WorkloadPort{{Port: 50051}}),
			workload("db-1", "store", map[string]string{"app": "db"}, "192.0.2.41", []model.WorkloadPort{{Port: 5432}}),
			workload("cache-1", "store", map[string]string{"app": "cache"}, "192.0.2.51", []model.WorkloadPort{{Port: 6379}}),
			workload("productpage", "store", map[string]string{"app": "productpage"}, "192.0.2.2", nil,
				call("reviews", 80, 8080), call("reviews-v1", 80, 8081), call("ratings", 80, 8082),
				call("greeter", 50051, 50051), call("db", 5432, 5432), call("cache", 6379, 6379)),
			workload("tester", "qa", map[string]string{"app": "tester"}, "192.0.2.3", nil, call("reviews", 80, 8080)),
		},
		Policies: model.Policies{
			TrafficPolicies: trafficPolicies(),
			HTTPRoutes:      []gwv1.HTTPRoute{reviewsRoute(), consumerRoute(), dbRoute()},
			GRPCRoutes:      []gwv1.GRPCRoute{greeterRoute()},
		},
	}
	m.Sort()
	return m
}

func ptrTo[T any](v T) *T { return &v }

func durOf(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func trafficPolicy(name, target string, spec v1alpha1.TrafficPolicySpec) v1alpha1.TrafficPolicy {
	spec.TargetRef = v1alpha1.ServiceReference{Kind: "Service", Name: target}
	return v1alpha1.TrafficPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "store", Name: name}, Spec: spec}
}

func trafficPolicies() []v1alpha1.TrafficPolicy {
	return []v1alpha1.TrafficPolicy{
		trafficPolicy("reviews", "reviews", v1alpha1.TrafficPolicySpec{
			LoadBalancer: &v1alpha1.LoadBalancer{Algorithm: v1alpha1.RoundRobin},
			Timeout:      durOf(15 * time.Second),
			Retries:      &v1alpha1.Retries{Attempts: 1},
		}),
		trafficPolicy("reviews-v1", "reviews-v1", v1alpha1.TrafficPolicySpec{
			LoadBalancer:     &v1alpha1.LoadBalancer{Algorithm: v1alpha1.LeastRequest},
			OutlierDetection: &v1alpha1.OutlierDetection{ConsecutiveGatewayErrors: ptrTo[int32](3)},
		}),
		trafficPolicy("reviews-v2", "reviews-v2", v1alpha1.TrafficPolicySpec{
			LoadBalancer: &v1alpha1.LoadBalancer{Algorithm: v1alpha1.Random},
		}),
		trafficPolicy("ratings", "ratings", v1alpha1.TrafficPolicySpec{
			LoadBalancer: &v1alpha1.LoadBalancer{Algorithm: v1alpha1.RingHash, HashOn: &v1alpha1.HashOn{Header: "X-User"}},
			ConnectionPool: &v1alpha1.ConnectionPool{
				MaxConnections: ptrTo[int32](100), MaxPendingRequests: ptrTo[int32](10),
				MaxRequests: ptrTo[int32](200), MaxRetries: ptrTo[int32](5), ConnectTimeout: durOf(time.Second),
			},
			OutlierDetection: &v1alpha1.OutlierDetection{
				Consecutive5xxErrors: ptrTo[int32](5), ConsecutiveGatewayErrors: ptrTo[int32](2),
				Interval: durOf(10 * time.Second), BaseEjectionTime: durOf(30 * time.Second), MaxEjectionPercent: ptrTo[int32](50),
			},
			Timeout: durOf(3 * time.Second),
			Retries: &v1alpha1.Retries{Attempts: 2, PerTryTimeout: durOf(time.Second), RetryOn: []v1alpha1.RetryOn{"5xx", "reset"}},
		}),
		trafficPolicy("ratings-late", "ratings", v1alpha1.TrafficPolicySpec{
			LoadBalancer: &v1alpha1.LoadBalancer{Algorithm: v1alpha1.Random},
		}),
		trafficPolicy("db", "db", v1alpha1.TrafficPolicySpec{
			LoadBalancer: &v1alpha1.LoadBalancer{Algorithm: v1alpha1.Maglev, HashOn: &v1alpha1.HashOn{SourceIP: true}},
		}),
		trafficPolicy("cache", "cache", v1alpha1.TrafficPolicySpec{
			LoadBalancer:   &v1alpha1.LoadBalancer{Algorithm: v1alpha1.RingHash, HashOn: &v1alpha1.HashOn{SourceIP: true}},
			ConnectionPool: &v1alpha1.ConnectionPool{MaxConnections: ptrTo[int32](50)},
		}),
		trafficPolicy("ghost", "ghost", v1alpha1.TrafficPolicySpec{
			LoadBalancer: &v1alpha1.LoadBalancer{Algorithm: v1alpha1.Random},
		}),
	}
}

// serviceParent is a parentRef to a Service port.
func serviceParent(name string, port int32) gwv1.ParentReference {
	return gwv1.ParentReference{
		Group: ptrTo(gwv1.Group("")), Kind: ptrTo(gwv1.Kind("Service")),
		Name: gwv1.ObjectName(name), Port: ptrTo(port),
	}
}

// backendTo is an HTTP backendRef to a Service port with a weight.
func backendTo(name string, port int32, weight int32) gwv1.HTTPBackendRef {
	return gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{
		BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(name), Port: ptrTo(port)},
		Weight:                 ptrTo(weight),
	}}
}

func pathMatch(typ gwv1.PathMatchType, value string) *gwv1.HTTPPathMatch {
	return &gwv1.HTTPPathMatch{Type: ptrTo(typ), Value: ptrTo(value)}
}

func objectMeta(ns, name string, created time.Time) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(created)}
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func reviewsRoute() gwv1.HTTPRoute {
	v1 := []gwv1.HTTPBackendRef{backendTo("reviews-v1", 80, 1)}
	return gwv1.HTTPRoute{
		ObjectMeta: objectMeta("store", "reviews-split", epoch),
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("reviews", 80)}},
			Rules: []gwv1.HTTPRouteRule{
				{ // 0: canary header to v2
					Matches:     []gwv1.HTTPRouteMatch{{Headers: []gwv1.HTTPHeaderMatch{{Name: "X-Canary", Value: "true"}}}},
					BackendRefs: []gwv1.HTTPBackendRef{backendTo("reviews-v2", 80, 1)},
				},
				{ // 1: exact path and method, header modifiers
					Matches: []gwv1.HTTPRouteMatch{{
						Path: pathMatch(gwv1.PathMatchExact, "/reviews/admin"), Method: ptrTo(gwv1.HTTPMethodPost),
					}},
					Filters: []gwv1.HTTPRouteFilter{
						{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: &gwv1.HTTPHeaderFilter{
							Set: []gwv1.HTTPHeader{{Name: "X-Admin", Value: "100%"}}, Add: []gwv1.HTTPHeader{{Name: "X-Via", Value: "mesh"}},
							Remove: []string{"X-Debug"},
						}},
						{Type: gwv1.HTTPRouteFilterResponseHeaderModifier, ResponseHeaderModifier: &gwv1.HTTPHeaderFilter{
							Set: []gwv1.HTTPHeader{{Name: "Cache-Control", Value: "no-store"}}, Remove: []string{"Server"},
						}},
					},
					BackendRefs: v1,
				},
				{ // 2: prefix and query parameter, rewrite, timeouts, retry
					Matches: []gwv1.HTTPRouteMatch{{
						Path:        pathMatch(gwv1.PathMatchPathPrefix, "/api/v1/"),
						QueryParams: []gwv1.HTTPQueryParamMatch{{Name: "debug", Value: "1"}},
					}},
					Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterURLRewrite, URLRewrite: &gwv1.HTTPURLRewriteFilter{
						Hostname: ptrTo(gwv1.PreciseHostname("reviews.internal")),
						Path:     &gwv1.HTTPPathModifier{Type: gwv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: ptrTo("/v1")},
					}}},
					Timeouts: &gwv1.HTTPRouteTimeouts{Request: ptrTo(gwv1.Duration("10s")), BackendRequest: ptrTo(gwv1.Duration("2s"))},
					Retry: &gwv1.HTTPRouteRetry{
						Codes: []gwv1.HTTPRouteRetryStatusCode{503}, Attempts: ptrTo(3), Backoff: ptrTo(gwv1.Duration("100ms")),
					},
					BackendRefs: v1,
				},
				{ // 3: redirect
					Matches: []gwv1.HTTPRouteMatch{{Path: pathMatch(gwv1.PathMatchPathPrefix, "/old")}},
					Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestRedirect, RequestRedirect: &gwv1.HTTPRequestRedirectFilter{
						Scheme: ptrTo("https"), Hostname: ptrTo(gwv1.PreciseHostname("reviews.example.com")), StatusCode: ptrTo(301),
						Path: &gwv1.HTTPPathModifier{Type: gwv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: ptrTo("/new")},
					}}},
				},
				{ // 4: the catch-all 90/10 split
					BackendRefs: []gwv1.HTTPBackendRef{backendTo("reviews-v1", 80, 90), backendTo("reviews-v2", 80, 10)},
				},
				{ // 5: a filter the proxy does not run
					Matches: []gwv1.HTTPRouteMatch{{Path: pathMatch(gwv1.PathMatchRegularExpression, "/items/[0-9]+")}},
					Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterExtensionRef, ExtensionRef: &gwv1.LocalObjectReference{
						Group: "example.com", Kind: "Shadow", Name: "reviews-v2",
					}}},
					BackendRefs: v1,
				},
				{ // 6: a backend that is not a Service
					Matches: []gwv1.HTTPRouteMatch{{Path: pathMatch(gwv1.PathMatchPathPrefix, "/ext")}},
					BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{
						Kind: ptrTo(gwv1.Kind("ConfigMap")), Name: "ext",
					}}}},
				},
				{ // 7: a Service that does not exist
					Matches:     []gwv1.HTTPRouteMatch{{Path: pathMatch(gwv1.PathMatchExact, "/missing")}},
					BackendRefs: []gwv1.HTTPBackendRef{backendTo("nope", 80, 1)},
				},
				{ // 8: a header regular expression and a full-path rewrite
					Matches: []gwv1.HTTPRouteMatch{{Headers: []gwv1.HTTPHeaderMatch{{
						Type: ptrTo(gwv1.HeaderMatchRegularExpression), Name: "X-User", Value: "u[0-9]+",
					}}}},
					Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterURLRewrite, URLRewrite: &gwv1.HTTPURLRewriteFilter{
						Path: &gwv1.HTTPPathModifier{Type: gwv1.FullPathHTTPPathModifier, ReplaceFullPath: ptrTo("/user")},
					}}},
					BackendRefs: v1,
				},
			},
		},
	}
}

// consumerRoute is qa's own view of store/reviews: everything to v2.
func consumerRoute() gwv1.HTTPRoute {
	parent := serviceParent("reviews", 80)
	parent.Namespace = ptrTo(gwv1.Namespace("store"))
	v2 := backendTo("reviews-v2", 80, 1)
	v2.Namespace = ptrTo(gwv1.Namespace("store"))
	return gwv1.HTTPRoute{
		ObjectMeta: objectMeta("qa", "qa-reviews", epoch.Add(time.Hour)),
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{parent}},
			Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{v2}}},
		},
	}
}

// dbRoute attaches to a TCP port: reported, not applied.
func dbRoute() gwv1.HTTPRoute {
	return gwv1.HTTPRoute{
		ObjectMeta: objectMeta("store", "db-route", epoch),
		Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("db", 5432)}},
			Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{backendTo("db", 5432, 1)}}},
		},
	}
}

func greeterRoute() gwv1.GRPCRoute {
	backend := func(name string, weight int32) gwv1.GRPCBackendRef {
		return gwv1.GRPCBackendRef{BackendRef: backendTo(name, 50051, weight).BackendRef}
	}
	return gwv1.GRPCRoute{
		ObjectMeta: objectMeta("store", "greeter", epoch),
		Spec: gwv1.GRPCRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("greeter", 50051)}},
			Rules: []gwv1.GRPCRouteRule{
				{ // 0: one method, with a header, to v2 with a request header
					Matches: []gwv1.GRPCRouteMatch{{
						Method:  &gwv1.GRPCMethodMatch{Service: ptrTo("helloworld.Greeter"), Method: ptrTo("SayHello")},
						Headers: []gwv1.GRPCHeaderMatch{{Name: "x-tenant", Value: "blue"}},
					}},
					Filters: []gwv1.GRPCRouteFilter{{Type: gwv1.GRPCRouteFilterRequestHeaderModifier, RequestHeaderModifier: &gwv1.HTTPHeaderFilter{
						Set: []gwv1.HTTPHeader{{Name: "x-route", Value: "greeter-v2"}},
					}}},
					BackendRefs: []gwv1.GRPCBackendRef{backend("greeter-v2", 1)},
				},
				{ // 1: the rest of the service, split 50/50
					Matches:     []gwv1.GRPCRouteMatch{{Method: &gwv1.GRPCMethodMatch{Service: ptrTo("helloworld.Greeter")}}},
					BackendRefs: []gwv1.GRPCBackendRef{backend("greeter", 1), backend("greeter-v2", 1)},
				},
				{ // 2: one method of any service
					Matches:     []gwv1.GRPCRouteMatch{{Method: &gwv1.GRPCMethodMatch{Method: ptrTo("Check")}}},
					BackendRefs: []gwv1.GRPCBackendRef{backend("greeter", 1)},
				},
			},
		},
	}
}
