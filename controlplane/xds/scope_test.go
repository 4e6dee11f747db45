package xds

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
)

// sliceMesh is a Kubernetes-shaped mesh: services a, b (ns1) and d (ns2)
// list their endpoints as slices; ep-<svc>-<k> are their pods. Workloads:
// call-a and call-b (standalone, Outbound to a / b), pod-1 (a Pod in ns1),
// pod-2 (a Pod in ns2 depending on ns1/b), and the endpoint pods. moved
// gives a service's endpoint 0 a new address.
func sliceMesh(moved map[string]byte, routeToA bool) *model.Mesh {
	local := netip.MustParseAddr("127.0.0.1")
	m := &model.Mesh{TrustDomain: td}
	for _, key := range []model.NamespacedName{{Namespace: "ns1", Name: "a"}, {Namespace: "ns1", Name: "b"}, {Namespace: "ns2", Name: "d"}} {
		svc := model.Service{Name: key.Name, Namespace: key.Namespace, Ports: []model.ServicePort{{Name: "http", Port: 80, TargetPort: 8080, AppProtocol: "http"}}, Slices: []model.SliceEndpoint{}}
		for k := range 2 {
			pod := model.NamespacedName{Namespace: key.Namespace, Name: fmt.Sprintf("ep-%s-%d", key.Name, k)}
			addr := netip.AddrFrom4([4]byte{10, key.Name[0], 0, byte(k + 1)})
			if k == 0 && moved[key.Name] != 0 {
				addr = netip.AddrFrom4([4]byte{10, key.Name[0], 1, moved[key.Name]})
			}
			svc.Slices = append(svc.Slices, model.SliceEndpoint{Address: addr, Ports: map[string]uint32{"http": 8080}, Ready: true, Pod: &pod})
			m.Workloads = append(m.Workloads, model.Workload{Name: pod.Name, Namespace: pod.Namespace, ServiceAccount: key.Name, Address: addr, Pod: true})
		}
		m.Services = append(m.Services, svc)
	}
	out := func(name string) []model.Outbound {
		return []model.Outbound{{Service: model.NamespacedName{Namespace: "ns1", Name: name}, Port: 80, LocalPort: 8000}}
	}
	m.Workloads = append(m.Workloads,
		model.Workload{Name: "call-a", Namespace: "ns3", ServiceAccount: "c", LocalAddress: local, Outbound: out("a")},
		model.Workload{Name: "call-b", Namespace: "ns3", ServiceAccount: "c", LocalAddress: local, Outbound: out("b")},
		model.Workload{Name: "pod-1", Namespace: "ns1", ServiceAccount: "p", Address: netip.MustParseAddr("10.9.0.1"), Pod: true},
		model.Workload{Name: "pod-2", Namespace: "ns2", ServiceAccount: "p", Address: netip.MustParseAddr("10.9.0.2"), Pod: true,
			Dependencies: []model.NamespacedName{{Namespace: "ns1", Name: "b"}}},
	)
	if routeToA {
		ns := gwv1.Namespace("ns1")
		m.Policies.HTTPRoutes = []gwv1.HTTPRoute{{
			ObjectMeta: metav1.ObjectMeta{Name: "split", Namespace: "ns1"},
			Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Kind: ptr(gwv1.Kind("Service")), Group: ptr(gwv1.Group("")), Name: "b"}}},
				Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "a", Namespace: &ns, Port: ptr(gwv1.PortNumber(80))}}}}}},
			},
		}}
	}
	m.Sort()
	return m
}

func ptr[T any](v T) *T { return &v }

// edit returns a copy of m changed by f (m itself is never mutated).
func edit(m *model.Mesh, f func(*model.Mesh)) *model.Mesh {
	c := *m
	c.Services = slices.Clone(m.Services)
	c.Workloads = slices.Clone(m.Workloads)
	f(&c)
	c.Sort()
	return &c
}

func workloadNames(m *model.Mesh, idx map[int]bool) []string {
	var out []string
	for i := range idx {
		out = append(out, m.Workloads[i].Name)
	}
	slices.Sort(out)
	return out
}

func TestAffectedBy(t *testing.T) {
	base := sliceMesh(nil, false)
	tests := []struct {
		name string
		prev *model.Mesh
		next *model.Mesh
		fast bool
		want []string
	}{
		{"first update", nil, base, false, nil},
		{"nothing moved", base, sliceMesh(nil, false), true, nil},
		// a's callers, the Pods of its namespace (its and b's endpoints,
		// pod-1), not call-b, pod-2 (depends on b only) or d's endpoints.
		{"a moved", base, sliceMesh(map[string]byte{"a": 7}, false), true, []string{"call-a", "ep-a-0", "ep-a-1", "ep-b-0", "ep-b-1", "pod-1"}},
		{"b moved", base, sliceMesh(map[string]byte{"b": 7}, false), true, []string{"call-b", "ep-a-0", "ep-a-1", "ep-b-0", "ep-b-1", "pod-1", "pod-2"}},
		{"d moved", base, sliceMesh(map[string]byte{"d": 7}, false), true, []string{"ep-d-0", "ep-d-1", "pod-2"}},
		{"a workload came", base, edit(base, func(m *model.Mesh) {
			m.Workloads = append(m.Workloads, model.Workload{Name: "call-d", Namespace: "ns3", ServiceAccount: "c", LocalAddress: netip.MustParseAddr("127.0.0.1")})
		}), true, []string{"call-d"}},
		{"a workload went", base, edit(base, func(m *model.Mesh) {
			m.Workloads = slices.DeleteFunc(m.Workloads, func(w model.Workload) bool { return w.Name == "call-a" })
		}), true, nil},
		// Its identity is in d's clients' SAN matchers.
		{"an endpoint's service account changed", base, edit(base, func(m *model.Mesh) {
			m.Workloads[slices.IndexFunc(m.Workloads, func(w model.Workload) bool { return w.Name == "ep-d-0" })].ServiceAccount = "other"
		}), true, []string{"ep-d-0", "ep-d-1", "pod-2"}},
		{"a service's port changed", base, edit(base, func(m *model.Mesh) { m.Services[0].Ports = []model.ServicePort{{Name: "http", Port: 81}} }), false, nil},
		{"a policy appeared", base, sliceMesh(nil, true), false, nil},
		// Every sidecar's HTTP connection managers and tcp_proxies change.
		{"the access log was turned on", base, edit(base, func(m *model.Mesh) { m.AccessLog = true }), false, nil},
		{"a route's backend moved", sliceMesh(nil, true), sliceMesh(map[string]byte{"a": 7}, true), false, nil},
		{"a service not behind a route moved", sliceMesh(nil, true), sliceMesh(map[string]byte{"d": 7}, true), true, []string{"ep-d-0", "ep-d-1", "pod-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, fast := affectedBy(tt.prev, tt.next)
			if fast != tt.fast {
				t.Fatalf("fast path %v, want %v", fast, tt.fast)
			}
			if names := workloadNames(tt.next, got); !slices.Equal(names, tt.want) {
				t.Errorf("affected %v, want %v", names, tt.want)
			}
		})
	}
}

// TestIncrementalUpdateMatchesFull checks the fast path against the truth:
// after every step, each proxy's version equals the one a fresh server
// computes from the whole mesh.
func TestIncrementalUpdateMatchesFull(t *testing.T) {
	steps := []*model.Mesh{
		sliceMesh(nil, false),
		sliceMesh(map[string]byte{"a": 1}, false),
		sliceMesh(map[string]byte{"a": 1, "d": 2}, false),
		sliceMesh(map[string]byte{"a": 3, "b": 4, "d": 2}, false),
		sliceMesh(map[string]byte{"a": 3, "b": 4, "d": 2}, true),
		sliceMesh(map[string]byte{"a": 5, "b": 4, "d": 2}, true),
		sliceMesh(map[string]byte{"a": 5, "b": 6, "d": 2}, true),
	}
	last := steps[len(steps)-1]
	steps = append(steps,
		edit(last, func(m *model.Mesh) {
			m.Workloads[slices.IndexFunc(m.Workloads, func(w model.Workload) bool { return w.Name == "ep-d-0" })].ServiceAccount = "other"
		}),
		edit(last, func(m *model.Mesh) {
			m.Workloads = slices.DeleteFunc(m.Workloads, func(w model.Workload) bool { return w.Name == "ep-b-1" })
		}),
	)
	s := New(Config{AllWorkloads: true}) // reads snapshots without streams
	for i, m := range steps {
		errInc := s.Update(t.Context(), m)
		fresh := New(Config{AllWorkloads: true})
		errFull := fresh.Update(t.Context(), m)
		if (errInc == nil) != (errFull == nil) {
			t.Fatalf("step %d: incremental error %v, full error %v", i, errInc, errFull)
		}
		if !maps.Equal(s.versions, fresh.versions) {
			t.Fatalf("step %d: versions differ:\nincremental %v\nfull        %v", i, s.versions, fresh.versions)
		}
	}
	if len(s.versions) < 5 {
		t.Fatalf("only %d proxies have a snapshot: %v", len(s.versions), s.versions)
	}
}
