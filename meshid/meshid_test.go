package meshid

import (
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func TestIdentities(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("example.org")
	id, err := Workload(td, "shop", "web")
	if err != nil || id.String() != "spiffe://example.org/ns/shop/sa/web" {
		t.Fatalf("Workload = %v, %v", id, err)
	}
	for _, bad := range [][2]string{{"", "web"}, {"shop", ""}, {"sh/op", "web"}, {"shop", "w b"}} {
		if _, err := Workload(td, bad[0], bad[1]); err == nil {
			t.Errorf("Workload(%q, %q) accepted an invalid segment", bad[0], bad[1])
		}
	}
	if got := ControlPlane(td).String(); got != "spiffe://example.org/ns/weft-system/sa/weft-controlplane" {
		t.Errorf("ControlPlane = %s", got)
	}
	if got := NodeID("web-1", "shop"); got != "web-1.shop" {
		t.Errorf("NodeID = %s", got)
	}
}
