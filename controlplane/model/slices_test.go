package model

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// slicesMesh has, in namespace shop, mesh Pods api-1, api-2 and api-3
// (service accounts api, api, api-canary) and, in namespace other, a Pod
// api-1 whose labels match too. Pods outside the mesh have no Workload.
func slicesMesh(svcs ...Service) *Mesh {
	pod := func(name, ns, sa, addr string) Workload {
		return Workload{
			Name: name, Namespace: ns, ServiceAccount: sa, Pod: true,
			Labels: map[string]string{"app": "api"}, Address: netip.MustParseAddr(addr),
			Ports: []WorkloadPort{{Name: "http", Port: 8080}},
		}
	}
	m := &Mesh{
		TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local"),
		Services:    svcs,
		Workloads: []Workload{
			pod("api-2", "shop", "api", "192.0.2.12"),
			pod("api-1", "shop", "api", "192.0.2.11"),
			pod("api-3", "shop", "api-canary", "192.0.2.13"),
			pod("api-1", "other", "api", "192.0.2.99"),
		},
	}
	m.Sort()
	return m
}

func sliceEndpoint(addr, pod string, ready bool, ports map[string]uint32) SliceEndpoint {
	se := SliceEndpoint{Address: netip.MustParseAddr(addr), Ports: ports, Ready: ready}
	if pod != "" {
		se.Pod = &NamespacedName{Namespace: "shop", Name: pod}
	}
	return se
}

// render shows endpoints as "address workload identity", in order.
func renderEndpoints(eps []Endpoint) []string {
	out := []string{}
	for _, ep := range eps {
		out = append(out, fmt.Sprintf("%s %s %s", ep.Address, ep.Workload, ep.Identity))
	}
	return out
}

func TestEndpointsFromSlices(t *testing.T) {
	http := map[string]uint32{"http": 8080}
	named := ServicePort{Name: "http", Port: 80, TargetPortName: "http"}
	const (
		api1 = "192.0.2.11:8080 shop/api-1 spiffe://cluster.local/ns/shop/sa/api"
		api2 = "192.0.2.12:8080 shop/api-2 spiffe://cluster.local/ns/shop/sa/api"
		api3 = "192.0.2.13:8080 shop/api-3 spiffe://cluster.local/ns/shop/sa/api-canary"
	)
	tests := []struct {
		name   string
		port   ServicePort
		slices []SliceEndpoint
		want   []string
	}{
		{
			name: "ready only, sorted by address",
			port: named,
			slices: []SliceEndpoint{
				sliceEndpoint("192.0.2.13", "api-3", true, http),
				sliceEndpoint("192.0.2.12", "api-2", false, http),
				sliceEndpoint("192.0.2.11", "api-1", true, http),
			},
			want: []string{api1, api3},
		},
		{
			name: "pods outside the mesh and endpoints without a pod left out",
			port: named,
			slices: []SliceEndpoint{
				sliceEndpoint("192.0.2.11", "api-1", true, http),
				sliceEndpoint("192.0.2.50", "unmeshed", true, http),
				sliceEndpoint("192.0.2.51", "", true, http),
			},
			want: []string{api1},
		},
		{
			name: "the slice's port number, looked up by the service port's name",
			port: ServicePort{Name: "admin", Port: 9901, TargetPort: 9901},
			slices: []SliceEndpoint{
				sliceEndpoint("192.0.2.11", "api-1", true, map[string]uint32{"http": 8080, "admin": 19901}),
				sliceEndpoint("192.0.2.12", "api-2", true, http), // no admin port
				sliceEndpoint("192.0.2.13", "api-3", true, map[string]uint32{"admin": 0}),
			},
			want: []string{"192.0.2.11:19901 shop/api-1 spiffe://cluster.local/ns/shop/sa/api"},
		},
		{
			name: "unnamed service port",
			port: ServicePort{Port: 80, TargetPort: 8080},
			slices: []SliceEndpoint{
				sliceEndpoint("192.0.2.11", "api-1", true, map[string]uint32{"": 8080}),
				sliceEndpoint("192.0.2.12", "api-2", true, http),
			},
			want: []string{api1},
		},
		{
			name: "an address in two slices counts once, ready if either copy is",
			port: named,
			slices: []SliceEndpoint{
				sliceEndpoint("192.0.2.11", "api-1", true, http),
				sliceEndpoint("192.0.2.12", "api-2", false, http),
				sliceEndpoint("192.0.2.11", "api-1", true, http),
				sliceEndpoint("192.0.2.12", "api-2", true, http),
			},
			want: []string{api1, api2},
		},
		{
			name: "an address given to two pods keeps the first pod, whatever the slice order",
			port: named,
			slices: []SliceEndpoint{
				sliceEndpoint("192.0.2.11", "api-3", true, http),
				sliceEndpoint("192.0.2.11", "api-1", true, http),
			},
			want: []string{"192.0.2.11:8080 shop/api-1 spiffe://cluster.local/ns/shop/sa/api"},
		},
		{
			name: "a targetRef without a namespace is the service's",
			port: named,
			slices: []SliceEndpoint{{
				Address: netip.MustParseAddr("192.0.2.12"), Ports: http, Ready: true,
				Pod: &NamespacedName{Name: "api-2"},
			}},
			want: []string{api2},
		},
		{
			name: "slices override the selector, even when empty",
			port: named, slices: []SliceEndpoint{}, want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := Service{
				Name: "api", Namespace: "shop", Selector: map[string]string{"app": "api"},
				Ports: []ServicePort{tt.port}, Slices: tt.slices,
			}
			m := slicesMesh(svc)
			got := renderEndpoints(m.Endpoints(&m.Services[0], tt.port))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Endpoints =\n%q\nwant\n%q", got, tt.want)
			}
			reversed := slices.Clone(tt.slices)
			slices.Reverse(reversed)
			svc.Slices = reversed
			m = slicesMesh(svc)
			if again := renderEndpoints(m.Endpoints(&m.Services[0], tt.port)); !slices.Equal(again, got) {
				t.Errorf("Endpoints depend on the order of the slices: %q, then %q", got, again)
			}
		})
	}
}

func TestEndpointsBySelectorStayInNamespace(t *testing.T) {
	// Namespaces sort around shop so that its range has neighbours on
	// both sides.
	m := slicesMesh(Service{
		Name: "api", Namespace: "shop", Selector: map[string]string{"app": "api"},
		Ports: []ServicePort{{Name: "http", Port: 80, TargetPortName: "http"}},
	})
	m.Workloads = append(m.Workloads, Workload{
		Name: "api-9", Namespace: "zone", ServiceAccount: "api", Labels: map[string]string{"app": "api"},
		Address: netip.MustParseAddr("192.0.2.98"), Ports: []WorkloadPort{{Name: "http", Port: 8080}},
	})
	m.Sort()
	got := renderEndpoints(m.Endpoints(&m.Services[0], m.Services[0].Ports[0]))
	want := []string{
		"192.0.2.11:8080 shop/api-1 spiffe://cluster.local/ns/shop/sa/api",
		"192.0.2.12:8080 shop/api-2 spiffe://cluster.local/ns/shop/sa/api",
		"192.0.2.13:8080 shop/api-3 spiffe://cluster.local/ns/shop/sa/api-canary",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Endpoints =\n%q\nwant\n%q", got, want)
	}
}
