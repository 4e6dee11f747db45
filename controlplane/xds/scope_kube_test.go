package xds

import (
	"maps"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/kube"
)

// kubePod is a running, injected Pod serving 8080.
func kubePod(ns, name, ip, sa string, deps string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{
			{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}, {Name: kube.ProxyContainer},
		}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip},
	}
	if deps != "" {
		p.Annotations = map[string]string{kube.DependenciesAnnotation: deps}
	}
	return p
}

// kubeSlice is Service svc's EndpointSlice listing pods at their IPs.
func kubeSlice(ns, svc string, pods ...*corev1.Pod) *discoveryv1.EndpointSlice {
	name, port := "http", int32(8080)
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc + "-abc", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
	}
	for _, p := range pods {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{p.Status.PodIP},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}})
	}
	return es
}

// TestIncrementalUpdateMatchesFullFromKubernetes drives the Server with the
// meshes kube.Index builds from a sequence of Kubernetes events, the shape
// the control plane runs in Kubernetes mode (every Pod a workload, scopes
// from namespaces and weft.dev/dependencies, the unchanged parts of a mesh
// shared with the last): after every step each proxy's version equals the
// one a fresh server computes from the whole mesh, and endpoint-only steps
// take the fast path and reach only the proxies whose scope they touch.
func TestIncrementalUpdateMatchesFullFromKubernetes(t *testing.T) {
	ns := func(name string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	}
	svc := func(ns, name string, port int32) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Name: "http", Port: port, AppProtocol: ptr("http")}},
		}}
	}
	a0, a1 := kubePod("ns1", "a-0", "192.0.2.1", "a", ""), kubePod("ns1", "a-1", "192.0.2.2", "a", "")
	b0 := kubePod("ns1", "b-0", "192.0.2.3", "b", "")
	d0 := kubePod("ns2", "d-0", "192.0.2.4", "d", "")
	client1 := kubePod("clients", "c-1", "192.0.2.11", "c", "ns1/a")
	client2 := kubePod("clients", "c-2", "192.0.2.12", "c", "ns2/*")
	a0moved := kubePod("ns1", "a-0", "192.0.2.21", "a", "")
	a2 := kubePod("ns1", "a-2", "192.0.2.22", "a", "")
	d0renamed := kubePod("ns2", "d-0", "192.0.2.4", "other", "")

	type event struct {
		obj     client.Object
		deleted bool
	}
	steps := []struct {
		name   string
		events []event
		fast   bool
		// reached are the proxies a fast step translates again.
		reached []string
	}{
		{name: "cluster", events: []event{
			{obj: ns("ns1")}, {obj: ns("ns2")}, {obj: ns("clients")},
			{obj: svc("ns1", "a", 80)}, {obj: svc("ns1", "b", 80)}, {obj: svc("ns2", "d", 80)},
			{obj: a0}, {obj: a1}, {obj: b0}, {obj: d0}, {obj: client1}, {obj: client2},
			{obj: kubeSlice("ns1", "a", a0, a1)}, {obj: kubeSlice("ns1", "b", b0)}, {obj: kubeSlice("ns2", "d", d0)},
		}},
		{name: "a's endpoint moved", events: []event{{obj: a0moved}, {obj: kubeSlice("ns1", "a", a0moved, a1)}},
			fast: true, reached: []string{"a-0.ns1", "a-1.ns1", "b-0.ns1", "c-1.clients"}},
		{name: "d lost its endpoint", events: []event{{obj: kubeSlice("ns2", "d")}},
			fast: true, reached: []string{"c-2.clients", "d-0.ns2"}},
		{name: "d's endpoint came back", events: []event{{obj: kubeSlice("ns2", "d", d0)}},
			fast: true, reached: []string{"c-2.clients", "d-0.ns2"}},
		{name: "a scaled up", events: []event{{obj: a2}, {obj: kubeSlice("ns1", "a", a0moved, a1, a2)}},
			fast: true, reached: []string{"a-0.ns1", "a-1.ns1", "a-2.ns1", "b-0.ns1", "c-1.clients"}},
		{name: "an endpoint's service account changed", events: []event{{obj: d0renamed}},
			fast: true, reached: []string{"c-2.clients", "d-0.ns2"}},
		{name: "a scaled down", events: []event{{obj: a1, deleted: true}, {obj: kubeSlice("ns1", "a", a0moved, a2)}},
			fast: true, reached: []string{"a-0.ns1", "a-2.ns1", "b-0.ns1", "c-1.clients"}},
		{name: "b's port changed", events: []event{{obj: svc("ns1", "b", 81)}}},
		{name: "a policy came", events: []event{{obj: &v1alpha1.PeerAuthentication{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "strict"},
			Spec:       v1alpha1.PeerAuthenticationSpec{MTLS: &v1alpha1.MutualTLS{Mode: v1alpha1.MTLSStrict}},
		}}}},
		{name: "b's endpoint moved under the policy", events: []event{{obj: kubeSlice("ns1", "b", a2)}},
			fast: true, reached: []string{"a-0.ns1", "a-2.ns1", "b-0.ns1"}},
	}
	x := kube.NewIndex(td)
	s := New(Config{AllWorkloads: true}) // reads snapshots without streams
	for i, step := range steps {
		for _, e := range step.events {
			if e.deleted {
				x.Delete(e.obj)
			} else {
				x.Set(e.obj)
			}
		}
		m, problems, changed := x.Build()
		if !changed || len(problems) > 0 {
			t.Fatalf("step %d (%s): changed=%v, problems %v; want a new mesh without problems", i, step.name, changed, problems)
		}
		affected, fast := affectedBy(s.Mesh(), m)
		if fast != step.fast {
			t.Errorf("step %d (%s): fast path %v, want %v", i, step.name, fast, step.fast)
		}
		if fast {
			var reached []string
			for j := range affected {
				reached = append(reached, m.Workloads[j].NodeID())
			}
			slices.Sort(reached)
			if !slices.Equal(reached, step.reached) {
				t.Errorf("step %d (%s): translated again %v, want %v", i, step.name, reached, step.reached)
			}
		}
		errInc := s.Update(t.Context(), m)
		fresh := New(Config{AllWorkloads: true})
		errFull := fresh.Update(t.Context(), m)
		if (errInc == nil) != (errFull == nil) {
			t.Fatalf("step %d (%s): incremental error %v, full error %v", i, step.name, errInc, errFull)
		}
		if !maps.Equal(s.versions, fresh.versions) {
			t.Fatalf("step %d (%s): versions differ:\nincremental %v\nfull        %v", i, step.name, s.versions, fresh.versions)
		}
	}
	if len(s.versions) != 6 {
		t.Errorf("%d proxies have a snapshot, want 6: %v", len(s.versions), s.versions)
	}
}
