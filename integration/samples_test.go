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
	if len(m.Services) != 1 || len(m.Workloads) != 3 {
		t.Fatalf("sample has %d services and %d workloads, want 1 and 3", len(m.Services), len(m.Workloads))
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
	if len(p.PeerAuthentications) != 1 || len(p.AuthorizationPolicies) != 1 || len(p.TrafficPolicies) != 1 {
		t.Errorf("sample policies: %d PeerAuthentications, %d AuthorizationPolicies, %d TrafficPolicies; want 1 of each",
			len(p.PeerAuthentications), len(p.AuthorizationPolicies), len(p.TrafficPolicies))
	}
	if problems := translate.Check(m); len(problems) > 0 {
		t.Errorf("the sample's policies are not fully applied: %v", problems)
	}
}
