package xdsload

import (
	"slices"
	"testing"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
)

func TestMesh(t *testing.T) {
	cfg := Default()
	cfg.Clients, cfg.Services, cfg.ServicesPerClient, cfg.Namespaces = 100, 100, 10, 10
	b := NewMesh(cfg)

	t.Run("every service has its share of callers", func(t *testing.T) {
		for s := range cfg.Services {
			if got := len(b.Callers(s)); got != cfg.Clients*cfg.ServicesPerClient/cfg.Services {
				t.Fatalf("service %d has %d callers", s, got)
			}
		}
	})
	t.Run("markers round-trip", func(t *testing.T) {
		for _, i := range []int{1, 255, 256, 65000} {
			if got := ChangeOf(Marker(i)); got != i {
				t.Errorf("ChangeOf(Marker(%d)) = %d", i, got)
			}
		}
	})
	t.Run("a change moves one service's endpoint to its marker", func(t *testing.T) {
		m0, m1 := b.Build(0), b.Build(1)
		s := b.ChangedService(1)
		for i := range m1.Services {
			changed := !slices.EqualFunc(m0.Services[i].Slices, m1.Services[i].Slices, func(a, b model.SliceEndpoint) bool { return a.Address == b.Address })
			if want := m1.Services[i].Name == b.service(s).Name; changed != want {
				t.Errorf("service %s changed: %v, want %v", m1.Services[i].Name, changed, want)
			}
		}
		w := m1.Workload(model.NamespacedName{Namespace: "ns-1", Name: "client-1"})
		res, err := translate.Proxy(m1, w)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(res[resourcev3.EndpointType]); n != cfg.ServicesPerClient {
			t.Fatalf("client-1 has %d assignments, want %d", n, cfg.ServicesPerClient)
		}
	})
}
