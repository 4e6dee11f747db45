package integration

import (
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/configdir"
	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
)

// TestStandaloneSampleIsValid keeps the shipped sample loading and
// translating: users copy it first.
func TestStandaloneSampleIsValid(t *testing.T) {
	m, err := configdir.Load("../install/samples/standalone", spiffeid.RequireTrustDomainFromString(model.DefaultTrustDomain))
	if err != nil {
		t.Fatalf("the sample does not load:\n%v", err)
	}
	if len(m.Services) != 1 || len(m.Workloads) != 4 {
		t.Fatalf("sample has %d services and %d workloads, want 1 and 4 (one of them the gateway)", len(m.Services), len(m.Workloads))
	}
	// gateway.yaml: a Gateway with a TCPRoute to catalog, and its proxy.
	gw := m.Workload(model.NamespacedName{Namespace: "shop", Name: "shop-gateway-1"})
	if gw == nil || gw.Gateway == nil || *gw.Gateway != (model.NamespacedName{Namespace: "shop", Name: "shop-gateway"}) {
		t.Errorf("gateway workload shop/shop-gateway-1 = %+v, want it serving Gateway shop/shop-gateway", gw)
	}
	if in := m.Ingress; len(in.Gateways) != 1 || len(in.TCPRoutes) != 1 {
		t.Errorf("sample ingress: %d Gateways, %d TCPRoutes; want 1 of each", len(in.Gateways), len(in.TCPRoutes))
	}
	web := m.Workload(model.NamespacedName{Namespace: "shop", Name: "web-1"})
	if web == nil {
		t.Fatal("no workload shop/web-1")
	}
	if eps := m.Endpoints(&m.Services[0], m.Services[0].Ports[0]); len(eps) != 2 {
		t.Errorf("catalog has %d endpoints, want 2", len(eps))
	}
	if _, err := translate.Proxy(m, web); err != nil {
		t.Errorf("translating web-1: %v", err)
	}
	p := m.Policies
	if len(p.PeerAuthentications) != 1 || len(p.AuthorizationPolicies) != 2 || len(p.TrafficPolicies) != 1 {
		t.Errorf("sample policies: %d PeerAuthentications, %d AuthorizationPolicies, %d TrafficPolicies; want 1, 2 (one for the gateway) and 1",
			len(p.PeerAuthentications), len(p.AuthorizationPolicies), len(p.TrafficPolicies))
	}
	if problems := translate.Check(m); len(problems) > 0 {
		t.Errorf("the sample's policies are not fully applied: %v", problems)
	}
}
