package translate

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"

	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

func TestScope(t *testing.T) {
	nn := func(ns, name string) model.NamespacedName { return model.NamespacedName{Namespace: ns, Name: name} }
	m := &model.Mesh{Services: []model.Service{
		{Namespace: "shop", Name: "web"}, {Namespace: "shop", Name: "cart"},
		{Namespace: "payments", Name: "api"}, {Namespace: "payments", Name: "ledger"},
		{Namespace: "catalog", Name: "items"}, {Namespace: "catalog", Name: "search"},
		{Namespace: "shopping", Name: "basket"}, // a namespace whose name extends "shop"
		{Namespace: "a", Name: "first"}, {Namespace: "z", Name: "last"},
	}}
	m.Sort()
	tests := []struct {
		name string
		ns   string
		deps []model.NamespacedName
		want []string
	}{
		{name: "own namespace only", ns: "shop", want: []string{"shop/cart", "shop/web"}},
		{name: "namespace without services", ns: "empty", want: []string{}},
		{name: "first namespace", ns: "a", want: []string{"a/first"}},
		{name: "last namespace", ns: "z", want: []string{"z/last"}},
		{
			name: "one service", ns: "shop", deps: []model.NamespacedName{nn("payments", "api")},
			want: []string{"payments/api", "shop/cart", "shop/web"},
		},
		{
			name: "whole namespace", ns: "shop", deps: []model.NamespacedName{nn("catalog", "*")},
			want: []string{"catalog/items", "catalog/search", "shop/cart", "shop/web"},
		},
		{
			name: "missing service and namespace skipped", ns: "shop",
			deps: []model.NamespacedName{nn("payments", "gone"), nn("nowhere", "*"), nn("nowhere", "x")},
			want: []string{"shop/cart", "shop/web"},
		},
		{
			name: "duplicates once", ns: "shop",
			deps: []model.NamespacedName{
				nn("shop", "cart"), nn("shop", "*"), nn("payments", "api"), nn("payments", "*"), nn("payments", "api"),
			},
			want: []string{"payments/api", "payments/ledger", "shop/cart", "shop/web"},
		},
		{
			name: "sorted whatever the order of dependencies", ns: "payments",
			deps: []model.NamespacedName{nn("z", "last"), nn("shop", "*"), nn("a", "first")},
			want: []string{"a/first", "payments/api", "payments/ledger", "shop/cart", "shop/web", "z/last"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &model.Workload{Name: "w", Namespace: tt.ns, Dependencies: tt.deps}
			got := []string{}
			for _, s := range scope(m, w) {
				got = append(got, s.Key().String())
				if m.Service(s.Key()) != s {
					t.Errorf("scope returned %s, not a pointer into the mesh", s.Key())
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("scope = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPodOutputIgnoresUnrelatedNamespaces changes a namespace outside a
// Pod's scope in every way that matters to the Pods of that namespace, and
// expects the Pod's resources unchanged; the same changes to a namespace
// it depends on must change them.
func TestPodOutputIgnoresUnrelatedNamespaces(t *testing.T) {
	shopper := model.NamespacedName{Namespace: "shop", Name: "shopper"}
	before := marshalAll(t, translateIn(t, podMesh, shopper))
	tests := []struct {
		ns          string
		wantChanged bool
	}{
		{ns: "elsewhere", wantChanged: false},
		{ns: "payments", wantChanged: false}, // only payments/api is a dependency
		{ns: "catalog", wantChanged: true},   // catalog/*
		{ns: "shop", wantChanged: true},
	}
	for _, tt := range tests {
		t.Run(tt.ns, func(t *testing.T) {
			changed := func() *model.Mesh {
				m := podMesh()
				m.Services = append(m.Services, model.Service{
					Name: "zz-new", Namespace: tt.ns,
					Ports:  []model.ServicePort{{Name: "http", Port: 80, TargetPort: 8080}},
					Slices: []model.SliceEndpoint{{Address: netip.MustParseAddr("192.0.2.200"), Ports: map[string]uint32{"http": 8080}, Ready: true, Pod: &model.NamespacedName{Namespace: tt.ns, Name: "zz-new-1"}}},
				})
				m.Workloads = append(m.Workloads, model.Workload{
					Name: "zz-new-1", Namespace: tt.ns, ServiceAccount: "new", Pod: true,
					Address: netip.MustParseAddr("192.0.2.200"),
				})
				m.Policies.TrafficPolicies = append(m.Policies.TrafficPolicies, v1alpha1.TrafficPolicy{
					ObjectMeta: metav1.ObjectMeta{Namespace: tt.ns, Name: "zz-new"},
					Spec: v1alpha1.TrafficPolicySpec{
						TargetRef:    v1alpha1.ServiceReference{Kind: "Service", Name: "zz-new"},
						LoadBalancer: &v1alpha1.LoadBalancer{Algorithm: v1alpha1.Random},
					},
				})
				m.Sort()
				return m
			}
			after := marshalAll(t, translateIn(t, changed, shopper))
			if got := !bytes.Equal(before, after); got != tt.wantChanged {
				t.Errorf("output changed = %v after a change in namespace %s, want %v", got, tt.ns, tt.wantChanged)
			}
		})
	}
}

// TestPodResourceNames lists what shopper gets: a listener and a route
// for the one Service of its scope with a ClusterIP (shop/cart), the two
// capture listeners, and the clusters of every service port in scope, of
// its route backends, of its own port, of the capture listeners, and of
// the identities behind its scope's endpoints (pod IPs reached over mTLS).
func TestPodResourceNames(t *testing.T) {
	res := translateIn(t, podMesh, model.NamespacedName{Namespace: "shop", Name: "shopper"})
	assignments := []string{
		"outbound|80||cart.shop.svc.cluster.local",
		"outbound|80||items.catalog.svc.cluster.local",
		"outbound|80||legacy.other.svc.cluster.local", // a route backend out of scope
		"outbound|80||web.shop.svc.cluster.local",
		"outbound|8443||api.payments.svc.cluster.local",
		"outbound|9090||web.shop.svc.cluster.local",
		"outbound|9200||search.catalog.svc.cluster.local",
	}
	want := map[resource.Type][]string{
		resource.ListenerType: {"outbound|cart.shop|80", VirtualInbound, VirtualOutbound},
		resource.RouteType:    {"outbound|cart.shop|80"},
		resource.ClusterType: slices.Concat(
			[]string{BlackHoleCluster, InboundPassthroughCluster, PassthroughCluster, "inbound|8080"}, assignments,
			[]string{
				"outbound|pod||spiffe://cluster.local/ns/payments/sa/api-1",
				"outbound|pod||spiffe://cluster.local/ns/shop/sa/cart-1",
				"outbound|pod||spiffe://cluster.local/ns/shop/sa/web-1",
			}),
		resource.EndpointType: assignments,
	}
	for typ, want := range want {
		if got := names(res[typ]); !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", typeName(typ), got, want)
		}
	}
}

func TestPodServicesWithoutPortsOrEndpoints(t *testing.T) {
	tests := []struct {
		name  string
		svc   model.Service
		want  []string
		empty bool // every assignment without endpoints
	}{
		{name: "no ports", svc: model.Service{Name: "headless", Namespace: "lone"}, want: []string{}},
		{
			name: "no slices and no selector",
			svc:  model.Service{Name: "db", Namespace: "lone", Ports: []model.ServicePort{{Name: "tcp", Port: 5432, TargetPort: 5432}}},
			want: []string{"outbound|5432||db.lone.svc.cluster.local"}, empty: true,
		},
		{
			name: "empty slices",
			svc: model.Service{
				Name: "db", Namespace: "lone", Slices: []model.SliceEndpoint{},
				Ports: []model.ServicePort{{Name: "tcp", Port: 5432, TargetPort: 5432}, {Name: "http", Port: 80, TargetPort: 8080}},
			},
			want: []string{"outbound|5432||db.lone.svc.cluster.local", "outbound|80||db.lone.svc.cluster.local"}, empty: true,
		},
		{
			name: "same number twice (TCP and UDP)",
			svc: model.Service{
				Name: "dns", Namespace: "lone", Slices: []model.SliceEndpoint{},
				Ports: []model.ServicePort{{Name: "dns-tcp", Port: 53, TargetPort: 53}, {Name: "dns", Port: 53, TargetPort: 53}},
			},
			want: []string{"outbound|53||dns.lone.svc.cluster.local"}, empty: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := podMesh()
			m.Services = append(m.Services, tt.svc)
			m.Sort()
			w := &model.Workload{Name: "p", Namespace: "lone", ServiceAccount: "p", Pod: true, Address: netip.MustParseAddr("192.0.2.250")}
			res, err := Proxy(m, w)
			if err != nil {
				t.Fatalf("Proxy: %v", err)
			}
			if got := outboundNames(res[resource.ClusterType]); !slices.Equal(got, tt.want) {
				t.Errorf("outbound clusters = %v, want %v", got, tt.want)
			}
			if got := names(res[resource.EndpointType]); !slices.Equal(got, tt.want) {
				t.Errorf("assignments = %v, want %v", got, tt.want)
			}
			for _, r := range res[resource.EndpointType] {
				if n := len(r.(*endpoint.ClusterLoadAssignment).GetEndpoints()); tt.empty && n != 0 {
					t.Errorf("assignment has %d locality groups, want none", n)
				}
			}
		})
	}
}

// outboundNames lists the resource names that start with "outbound|".
func outboundNames(rs []types.Resource) []string {
	out := []string{}
	for _, n := range names(rs) {
		if strings.HasPrefix(n, "outbound|") {
			out = append(out, n)
		}
	}
	return out
}
