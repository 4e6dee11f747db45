package model

import (
	"net/netip"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func TestParseNodeID(t *testing.T) {
	tests := []struct {
		id      string
		want    NamespacedName
		wantErr bool
	}{
		{id: "backend-1.shop", want: NamespacedName{Namespace: "shop", Name: "backend-1"}},
		{id: NodeID("web", "default"), want: NamespacedName{Namespace: "default", Name: "web"}},
		{id: "backend-1", wantErr: true},
		{id: ".shop", wantErr: true},
		{id: "backend-1.", wantErr: true},
		{id: "web-1.v2.shop", want: NamespacedName{Namespace: "shop", Name: "web-1.v2"}}, // Pod names may hold dots
		{id: "a..", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			got, err := ParseNodeID(tt.id)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseNodeID(%q) error = %v, want error %v", tt.id, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseNodeID(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestEndpointsFollowSelectorsAndPorts(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("cluster.local")
	workload := func(name, ns, sa, addr string, labels map[string]string, ports ...WorkloadPort) Workload {
		return Workload{Name: name, Namespace: ns, ServiceAccount: sa, Labels: labels, Address: netip.MustParseAddr(addr), Ports: ports}
	}
	m := &Mesh{
		TrustDomain: td,
		Services: []Service{
			{Name: "api", Namespace: "shop", Selector: map[string]string{"app": "api"}, Ports: []ServicePort{
				{Name: "by-number", Port: 80, TargetPort: 8080},
				{Name: "by-name", Port: 81, TargetPortName: "admin"},
			}},
			{Name: "everything", Namespace: "shop"}, // no selector: no endpoints
		},
		Workloads: []Workload{
			workload("api-2", "shop", "api", "192.0.2.12", map[string]string{"app": "api", "v": "2"},
				WorkloadPort{Name: "http", Port: 8080}, WorkloadPort{Name: "admin", Port: 9901}),
			workload("api-1", "shop", "api-legacy", "192.0.2.11", map[string]string{"app": "api"},
				WorkloadPort{Name: "http", Port: 8080}),
			workload("api-other-ns", "other", "api", "192.0.2.13", map[string]string{"app": "api"},
				WorkloadPort{Name: "http", Port: 8080}),
			workload("web-1", "shop", "web", "192.0.2.21", map[string]string{"app": "web"},
				WorkloadPort{Name: "http", Port: 8080}),
		},
	}
	m.Sort()
	api := m.Service(NamespacedName{Namespace: "shop", Name: "api"})
	if api == nil {
		t.Fatal("Service(shop/api) = nil after Sort")
	}

	byNumber := m.Endpoints(api, api.Ports[0])
	if len(byNumber) != 2 || byNumber[0].Address.String() != "192.0.2.11:8080" || byNumber[1].Address.String() != "192.0.2.12:8080" {
		t.Fatalf("endpoints by number = %v, want api-1 and api-2 on 8080, sorted", byNumber)
	}
	if got := byNumber[0].Identity.String(); got != "spiffe://cluster.local/ns/shop/sa/api-legacy" {
		t.Errorf("api-1 identity = %s", got)
	}
	byName := m.Endpoints(api, api.Ports[1])
	if len(byName) != 1 || byName[0].Address.String() != "192.0.2.12:9901" {
		t.Errorf("endpoints by port name = %v, want only api-2 on 9901", byName)
	}
	everything := m.Service(NamespacedName{Namespace: "shop", Name: "everything"})
	if eps := m.Endpoints(everything, ServicePort{Port: 8080, TargetPort: 8080}); len(eps) != 0 {
		t.Errorf("a service without selector has endpoints %v", eps)
	}
	if m.Workload(NamespacedName{Namespace: "shop", Name: "nope"}) != nil {
		t.Error("Workload found a workload that does not exist")
	}
}
