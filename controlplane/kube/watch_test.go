package kube_test

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/kube"
	"github.com/weftmesh/weft/controlplane/kube/kubetest"
	"github.com/weftmesh/weft/controlplane/model"
)

// watching runs a Watcher on cfg until the test ends and returns the
// latest mesh it delivered.
type watching struct {
	mu    sync.Mutex
	mesh  *model.Mesh
	count int
}

func (w *watching) latest() (*model.Mesh, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mesh, w.count
}

func startWatcher(t *testing.T, cfg *rest.Config) *watching {
	t.Helper()
	w := &watching{}
	watcher := kube.NewWatcher(cfg, td, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- watcher.Run(ctx, func(m *model.Mesh) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.mesh, w.count = m, w.count+1
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return w
}

// waitMesh waits until the latest mesh satisfies cond.
func (w *watching) waitMesh(t *testing.T, what string, cond func(*model.Mesh) bool) *model.Mesh {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, _ := w.latest()
		if m != nil && cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mesh with %s within 30s; latest: %+v", what, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newClient(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	scheme, err := kube.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func create(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// runPod creates an injected pod and gives it an address and the Running
// phase through the status subresource, as the kubelet would.
func runPod(t *testing.T, c client.Client, namespace, name, ip string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Image: "example.com/web", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}},
			{Name: kube.ProxyContainer, Image: "example.com/weft-proxy"},
		}},
	}
	create(t, c, pod)
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	if err := c.Status().Update(t.Context(), pod); err != nil {
		t.Fatalf("set status of pod %s: %v", name, err)
	}
}

func endpointSlice(namespace, name, svc string, port int32, pods map[string]string) *discoveryv1.EndpointSlice {
	portName := "http"
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
	}
	names := make([]string, 0, len(pods))
	for n := range pods {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{pods[n]},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: namespace, Name: n},
		})
	}
	return es
}

func endpointsOf(m *model.Mesh, namespace, name string) []string {
	s := m.Service(model.NamespacedName{Namespace: namespace, Name: name})
	if s == nil || len(s.Ports) == 0 {
		return nil
	}
	var out []string
	for _, ep := range m.Endpoints(s, s.Ports[0]) {
		out = append(out, ep.Address.String())
	}
	return out
}

// inNamespace returns the objects of namespace ns: tests share one API
// server.
func inNamespace[T any](objs []T, ns string) []T {
	var out []T
	for i := range objs {
		if namespaceOf(&objs[i]) == ns {
			out = append(out, objs[i])
		}
	}
	return out
}

func namespaceOf(o any) string {
	switch o := o.(type) {
	case *model.Workload:
		return o.Namespace
	case interface{ GetNamespace() string }:
		return o.GetNamespace()
	}
	panic(fmt.Sprintf("no namespace in %T", o))
}

func TestWatcherFollowsTheAPIServer(t *testing.T) {
	env := sharedEnv(t)
	c := newClient(t, env.Config)
	const ns = "shop"
	create(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	w := startWatcher(t, env.Config)

	create(t, c, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	})
	runPod(t, c, ns, "web-1", "192.0.2.1")
	runPod(t, c, ns, "web-2", "192.0.2.2")
	slice := endpointSlice(ns, "web-abc", "web", 8080, map[string]string{"web-1": "192.0.2.1", "web-2": "192.0.2.2"})
	create(t, c, slice)

	m := w.waitMesh(t, "two endpoints of shop/web", func(m *model.Mesh) bool {
		return reflect.DeepEqual(endpointsOf(m, ns, "web"), []string{"192.0.2.1:8080", "192.0.2.2:8080"})
	})
	if wls := inNamespace(m.Workloads, ns); len(wls) != 2 || !wls[0].Pod || m.Workloads[0].ServiceAccount != "default" ||
		!reflect.DeepEqual(wls[0].Ports, []model.WorkloadPort{{Name: "http", Port: 8080, TargetPort: 8080}}) {
		t.Errorf("workloads %+v", wls)
	}
	if svc := m.Service(model.NamespacedName{Namespace: ns, Name: "web"}); len(svc.ClusterIPs) != 1 {
		t.Errorf("service %+v: want the cluster IP the API server allocated", svc)
	}

	// Policies and a GAMMA route appear.
	create(t, c,
		&v1alpha1.PeerAuthentication{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "strict"},
			Spec: v1alpha1.PeerAuthenticationSpec{MTLS: &v1alpha1.MutualTLS{Mode: v1alpha1.MTLSStrict}}},
		&v1alpha1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "allow-all"},
			Spec: v1alpha1.AuthorizationPolicySpec{Rules: []v1alpha1.AuthorizationRule{{}}}},
		&v1alpha1.TrafficPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: v1alpha1.TrafficPolicySpec{TargetRef: v1alpha1.ServiceReference{Name: "web"}}},
		&gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{
				Group: ptr(gwv1.Group("")), Kind: ptr(gwv1.Kind("Service")), Name: "web", Port: ptr(gwv1.PortNumber(80)),
			}}},
			Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{
				BackendObjectReference: gwv1.BackendObjectReference{Name: "web", Port: ptr(gwv1.PortNumber(80))},
			}}}}},
		}},
	)
	m = w.waitMesh(t, "the policies and the route", func(m *model.Mesh) bool {
		p := m.Policies
		return len(inNamespace(p.PeerAuthentications, ns)) == 1 && len(inNamespace(p.AuthorizationPolicies, ns)) == 1 &&
			len(inNamespace(p.TrafficPolicies, ns)) == 1 && len(m.HTTPRoutes(model.NamespacedName{Namespace: ns, Name: "web"}, 80)) == 1
	})
	if got := inNamespace(m.Policies.AuthorizationPolicies, ns)[0].Spec.Action; got != v1alpha1.ActionAllow {
		t.Errorf("authorization policy action %q: want the CRD's default ALLOW", got)
	}

	// Scale down: one endpoint leaves the slice, its pod goes.
	slice.Endpoints = slice.Endpoints[:1]
	if err := c.Update(t.Context(), slice); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(t.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-2"}}); err != nil {
		t.Fatal(err)
	}
	w.waitMesh(t, "one endpoint and one workload", func(m *model.Mesh) bool {
		return reflect.DeepEqual(endpointsOf(m, ns, "web"), []string{"192.0.2.1:8080"}) && len(inNamespace(m.Workloads, ns)) == 1
	})

	// Deleting the Service and the route removes them.
	for _, o := range []client.Object{
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}},
		&gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}},
	} {
		if err := c.Delete(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	w.waitMesh(t, "no service and no route", func(m *model.Mesh) bool {
		return m.Service(model.NamespacedName{Namespace: ns, Name: "web"}) == nil && len(inNamespace(m.Policies.HTTPRoutes, ns)) == 0
	})

	// A namespace being deleted drops what it holds at once (envtest has
	// no namespace controller to delete its objects).
	if err := c.Delete(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	w.waitMesh(t, "nothing of a deleted namespace", func(m *model.Mesh) bool {
		p := m.Policies
		return len(inNamespace(m.Workloads, ns)) == 0 && len(inNamespace(p.PeerAuthentications, ns))+
			len(inNamespace(p.AuthorizationPolicies, ns))+len(inNamespace(p.TrafficPolicies, ns)) == 0
	})
}

// TestWatcherDeliversOnlyChanges checks that events which do not change
// the mesh (a pod outside the mesh, a status write) deliver nothing.
func TestWatcherDeliversOnlyChanges(t *testing.T) {
	env := sharedEnv(t)
	c := newClient(t, env.Config)
	const ns = "quiet"
	create(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	w := startWatcher(t, env.Config)
	runPod(t, c, ns, "web-1", "192.0.2.1")
	w.waitMesh(t, "the pod", func(m *model.Mesh) bool { return m.Workload(model.NamespacedName{Namespace: ns, Name: "web-1"}) != nil })
	_, before := w.latest()

	plain := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plain"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app"}}}}
	create(t, c, plain)
	pa := &v1alpha1.PeerAuthentication{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"}}
	create(t, c, pa)
	w.waitMesh(t, "the peer authentication", func(m *model.Mesh) bool { return len(inNamespace(m.Policies.PeerAuthentications, ns)) == 1 })
	_, withPA := w.latest()
	pa.Status.Conditions = []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", LastTransitionTime: metav1.Now()}}
	if err := c.Status().Update(t.Context(), pa); err != nil {
		t.Fatal(err)
	}
	// A later change proves the events above have been seen.
	runPod(t, c, ns, "web-2", "192.0.2.2")
	w.waitMesh(t, "the second pod", func(m *model.Mesh) bool { return len(inNamespace(m.Workloads, ns)) == 2 })
	if _, after := w.latest(); after != withPA+1 || withPA > before+1 {
		t.Errorf("meshes delivered: %d before, %d with the policy, %d after; want one per change", before, withPA, after)
	}
}

// TestWatcherWithoutGatewayAPI runs against a cluster without the Gateway
// API CRDs: the Watcher runs without routes.
func TestWatcherWithoutGatewayAPI(t *testing.T) {
	env := kubetest.StartT(t, kubetest.Options{WithoutGatewayAPI: true})
	c := newClient(t, env.Config)
	create(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})
	w := startWatcher(t, env.Config)
	runPod(t, c, "shop", "web-1", "192.0.2.1")
	w.waitMesh(t, "the pod", func(m *model.Mesh) bool { return len(m.Workloads) == 1 })
}
