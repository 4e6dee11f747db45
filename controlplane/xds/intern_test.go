package xds

import (
	"testing"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

func TestIdenticalResourcesAreShared(t *testing.T) {
	s := New(Config{AllWorkloads: true}) // reads snapshots without streams
	assignment := func(node string) any {
		snap, err := s.cache.GetSnapshot(node)
		if err != nil {
			t.Fatal(err)
		}
		return snap.GetResources(resourcev3.EndpointType)[backendCluster]
	}
	for r := range 3 {
		if err := s.Update(t.Context(), crowdMesh(3, r)); err != nil {
			t.Fatal(err)
		}
		a, b, c := assignment("client-0.shop"), assignment("client-1.shop"), assignment("client-2.shop")
		if a == nil || a != b || b != c {
			t.Fatalf("round %d: the three clients hold distinct assignments %p %p %p", r, a, b, c)
		}
	}
	// Every entry is held, and held as often as the snapshots use it.
	refs := map[internKey]int{}
	for _, keys := range s.interned.held {
		for _, k := range keys {
			refs[k]++
		}
	}
	if len(refs) != len(s.interned.table) {
		t.Errorf("%d resources held, %d interned", len(refs), len(s.interned.table))
	}
	for k, e := range s.interned.table {
		if e.refs != refs[k] {
			t.Errorf("%s: %d references counted, %d held", k.typ, e.refs, refs[k])
		}
	}
	// A workload leaving releases its resources.
	m := crowdMesh(0, 2)
	if err := s.Update(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	for k, e := range s.interned.table {
		if k.typ == resourcev3.EndpointType && e.res != nil && e.refs > 0 {
			if name := cachev3.GetResourceName(e.res); name == backendCluster {
				t.Errorf("the backend assignment is still interned (%d references) with no client left", e.refs)
			}
		}
	}
}
