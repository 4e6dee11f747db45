package translate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/weftmesh/weft/controlplane/model"
)

// TestBatchEqualsProxy checks that a Batch gives every workload of each
// test mesh (sidecars with Outbound entries, Pods, routes, policies,
// proxyless clients) exactly what Proxy and Proxyless give it, errors
// included, and that its workloads are translated concurrently without a
// race (go test -race).
func TestBatchEqualsProxy(t *testing.T) {
	meshes := map[string]*model.Mesh{
		"shop": shopMesh(), "web": webMesh(), "policy": policyMesh(), "traffic": trafficMesh(),
		"auto": autoMesh(), "capture": captureMesh(), "registry only": registryOnlyMesh(),
		"conflict": conflictMesh(), "scale": scaleMesh(3), "pod": podMesh(), "rpc": rpcMesh(),
		"proxyless traffic": trafficMeshProxyless(),
	}
	for name, m := range meshes {
		t.Run(name, func(t *testing.T) {
			b := NewBatch(m)
			got := make([]Resources, len(m.Workloads))
			errs := make([]error, len(m.Workloads))
			done := make(chan int)
			for i := range m.Workloads {
				go func() {
					w := &m.Workloads[i]
					if w.Proxyless {
						got[i], errs[i] = b.Proxyless(w)
					} else {
						got[i], errs[i] = b.Proxy(w)
					}
					done <- i
				}()
			}
			for range m.Workloads {
				<-done
			}
			for i := range m.Workloads {
				w := &m.Workloads[i]
				want, wantErr := Proxy(m, w)
				if w.Proxyless {
					want, wantErr = Proxyless(m, w)
				}
				if fmt.Sprint(errs[i]) != fmt.Sprint(wantErr) {
					t.Fatalf("%s: Batch error %v, want %v", w.Key(), errs[i], wantErr)
				}
				for _, typ := range resourceTypes() {
					if len(got[i][typ]) != len(want[typ]) {
						t.Fatalf("%s: %d %s resources from the Batch, want %d", w.Key(), len(got[i][typ]), typeName(typ), len(want[typ]))
					}
					for j := range want[typ] {
						if !proto.Equal(got[i][typ][j], want[typ][j]) {
							t.Fatalf("%s: %s %q differs from Proxy's", w.Key(), typeName(typ), cache.GetResourceName(want[typ][j]))
						}
					}
				}
			}
		})
	}
}

// TestBatchShares checks that two Pods with a Service in common get the
// very same cluster and assignment messages from a Batch, and that a new
// Batch builds new ones.
func TestBatchShares(t *testing.T) {
	m := scaleMesh(3)
	a, c := &m.Workloads[0], &m.Workloads[1] // same namespace: same scope
	b := NewBatch(m)
	ra, err := b.Proxy(a)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := b.Proxy(c)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewBatch(m).Proxy(a)
	if err != nil {
		t.Fatal(err)
	}
	byName := func(rs []types.Resource) map[string]types.Resource {
		out := map[string]types.Resource{}
		for _, r := range rs {
			out[cache.GetResourceName(r)] = r
		}
		return out
	}
	for _, typ := range []resource.Type{resource.ClusterType, resource.EndpointType} {
		ca, cc, co := byName(ra[typ]), byName(rc[typ]), byName(other[typ])
		shared := 0
		for name, r := range ca {
			if name == OutboundClusterName(model.NamespacedName{Namespace: a.Namespace, Name: "svc-0"}, 80) {
				if cc[name] != r {
					t.Errorf("%s %s: two Pods of one Batch got two copies", typeName(typ), name)
				}
				if co[name] == r {
					t.Errorf("%s %s: two Batches shared a message", typeName(typ), name)
				}
			}
			if cc[name] == r {
				shared++
			}
		}
		// The 21 Services of the scope and the two route backends, and
		// the pod-IP cluster of each identity both Pods reach.
		want := 23
		for name := range ca {
			if strings.HasPrefix(name, "outbound|pod||") && typ == resource.ClusterType && cc[name] != nil {
				want++
			}
		}
		if shared != want {
			t.Errorf("%d %s resources shared between the two Pods, want %d", shared, typeName(typ), want)
		}
	}
}

// BenchmarkPodTranslationBatch is BenchmarkPodTranslation with the Pods
// translated as xds.Server.Update does: one Batch for every Pod of the
// mesh, so that a Service's cluster and assignment are built once for
// its 20 or so callers instead of once each.
func BenchmarkPodTranslationBatch(b *testing.B) {
	for _, namespaces := range []int{10, 100} {
		b.Run(fmt.Sprintf("namespaces=%d", namespaces), func(b *testing.B) {
			m := scaleMesh(namespaces)
			b.ReportAllocs()
			i := 0
			var batch *Batch
			for b.Loop() {
				if i%len(m.Workloads) == 0 {
					batch = NewBatch(m) // a new mesh version: a new Update
				}
				w := &m.Workloads[i%len(m.Workloads)]
				i++
				res, err := batch.Proxy(w)
				if err != nil {
					b.Fatal(err)
				}
				if len(res[resource.ClusterType]) != 27 {
					b.Fatalf("%d clusters, want 27", len(res[resource.ClusterType]))
				}
			}
		})
	}
}
