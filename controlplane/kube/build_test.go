package kube_test

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/kube"
	"github.com/weftmesh/weft/controlplane/model"
)

var td = spiffeid.RequireTrustDomainFromString("cluster.local")

func ns(name string) corev1.Namespace {
	return corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func meta(namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: namespace, Name: name}
}

// meshPod is a running, injected pod with an app container serving ports.
func meshPod(namespace, name, ip string, ports ...int32) corev1.Pod {
	app := corev1.Container{Name: "app"}
	for _, p := range ports {
		app.Ports = append(app.Ports, corev1.ContainerPort{ContainerPort: p})
	}
	return corev1.Pod{
		ObjectMeta: meta(namespace, name),
		Spec: corev1.PodSpec{
			ServiceAccountName: "app",
			Containers:         []corev1.Container{app, {Name: kube.ProxyContainer}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip},
	}
}

func slice(namespace, name, svc string, port int32, eps ...discoveryv1.Endpoint) discoveryv1.EndpointSlice {
	portName := "http"
	return discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
		Endpoints:   eps,
	}
}

func endpoint(ip, pod string, ready *bool) discoveryv1.Endpoint {
	ep := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
	if pod != "" {
		ep.TargetRef = &corev1.ObjectReference{Kind: "Pod", Name: pod}
	}
	return ep
}

func ptr[T any](v T) *T { return &v }

func TestBuildWorkloads(t *testing.T) {
	succeeded := meshPod("shop", "done", "192.0.2.9", 80)
	succeeded.Status.Phase = corev1.PodSucceeded
	proxyless := meshPod("shop", "grpc", "192.0.2.8", 50051)
	proxyless.Spec.Containers = proxyless.Spec.Containers[:1]
	proxyless.Annotations = map[string]string{kube.ProxylessAnnotation: "true"}
	unmeshed := meshPod("shop", "plain", "192.0.2.7", 80)
	unmeshed.Spec.Containers = unmeshed.Spec.Containers[:1]
	pending := meshPod("shop", "pending", "", 80)
	badIP := meshPod("shop", "bad-ip", "192.0.2.300", 80)
	defaultSA := meshPod("shop", "default-sa", "2001:db8::1", 8080)
	defaultSA.Spec.ServiceAccountName = ""
	defaultSA.Labels = map[string]string{"app": "web"}
	defaultSA.Spec.Containers[0].Ports = append(defaultSA.Spec.Containers[0].Ports,
		corev1.ContainerPort{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
		corev1.ContainerPort{Name: "admin", ContainerPort: 9090, Protocol: corev1.ProtocolTCP})
	defaultSA.Spec.Containers[1].Ports = []corev1.ContainerPort{{ContainerPort: 15020}}
	deps := meshPod("shop", "caller", "192.0.2.6")
	deps.Annotations = map[string]string{kube.DependenciesAnnotation: " payments/api, billing/* ,bad,/x,"}
	gone := meshPod("gone", "orphan", "192.0.2.5", 80)

	objs := &kube.Objects{
		Namespaces: []corev1.Namespace{ns("shop")},
		Pods:       []corev1.Pod{succeeded, proxyless, unmeshed, pending, badIP, defaultSA, deps, gone},
	}
	m, problems := kube.Build(td, objs)

	want := []model.Workload{
		{Name: "caller", Namespace: "shop", ServiceAccount: "app", Address: netip.MustParseAddr("192.0.2.6"), Pod: true,
			Dependencies: []model.NamespacedName{{Namespace: "payments", Name: "api"}, {Namespace: "billing", Name: "*"}}},
		{Name: "default-sa", Namespace: "shop", ServiceAccount: "default", Labels: map[string]string{"app": "web"},
			Address: netip.MustParseAddr("2001:db8::1"), Pod: true,
			Ports: []model.WorkloadPort{{Port: 8080, TargetPort: 8080}, {Name: "admin", Port: 9090, TargetPort: 9090}}},
		{Name: "grpc", Namespace: "shop", ServiceAccount: "app", Address: netip.MustParseAddr("192.0.2.8"), Pod: true, Proxyless: true,
			Ports: []model.WorkloadPort{{Port: 50051, TargetPort: 50051}}},
	}
	if !reflect.DeepEqual(m.Workloads, want) {
		t.Errorf("workloads:\n got %+v\nwant %+v", m.Workloads, want)
	}
	var reasons []string
	for _, p := range problems {
		if !p.Dropped || p.Kind != "Pod" {
			t.Errorf("problem %v: want a dropped Pod", p)
		}
		reasons = append(reasons, p.Name+": "+p.Reason)
	}
	for _, wantReason := range []string{`bad-ip: status.podIP "192.0.2.300"`, `caller: annotation weft.dev/dependencies: entry "bad"`, `caller: annotation weft.dev/dependencies: entry "/x"`} {
		if !containsPrefix(reasons, wantReason) {
			t.Errorf("problems %q lack %q", reasons, wantReason)
		}
	}
	if len(reasons) != 3 {
		t.Errorf("problems %q, want 3", reasons)
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func TestBuildServices(t *testing.T) {
	web := corev1.Service{
		ObjectMeta: meta("shop", "web"),
		Spec: corev1.ServiceSpec{
			Selector:   map[string]string{"app": "web"},
			ClusterIPs: []string{"10.96.0.10", "fd00::10"},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), AppProtocol: ptr("http")},
				{Name: "grpc", Port: 9000, TargetPort: intstr.FromInt32(50051)},
				{Name: "metrics", Port: 9090},
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
			},
		},
	}
	headless := corev1.Service{ObjectMeta: meta("shop", "db"), Spec: corev1.ServiceSpec{ClusterIP: "None", ClusterIPs: []string{"None"}}}
	external := corev1.Service{ObjectMeta: meta("shop", "ext"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}}
	otherNS := corev1.Service{ObjectMeta: meta("terminating", "api")}
	terminating := ns("terminating")
	terminating.DeletionTimestamp = &metav1.Time{Time: time.Now()}

	fqdn := slice("shop", "web-fqdn", "web", 80, endpoint("example.com", "", nil))
	fqdn.AddressType = discoveryv1.AddressTypeFQDN
	objs := &kube.Objects{
		Namespaces: []corev1.Namespace{ns("shop"), terminating},
		Services:   []corev1.Service{web, headless, external, otherNS},
		EndpointSlices: []discoveryv1.EndpointSlice{
			slice("shop", "web-b", "web", 8080, endpoint("192.0.2.2", "web-2", ptr(false)), endpoint("192.0.2.3", "", nil)),
			slice("shop", "web-a", "web", 8080, endpoint("192.0.2.1", "web-1", nil)),
			fqdn,
			slice("shop", "unlabelled", "", 8080, endpoint("192.0.2.4", "x", nil)),
		},
	}
	m, problems := kube.Build(td, objs)
	port8080 := map[string]uint32{"http": 8080}
	want := []model.Service{
		{Name: "db", Namespace: "shop", Slices: []model.SliceEndpoint{}},
		{
			Name: "web", Namespace: "shop", Selector: map[string]string{"app": "web"},
			ClusterIPs: []netip.Addr{netip.MustParseAddr("10.96.0.10"), netip.MustParseAddr("fd00::10")},
			Ports: []model.ServicePort{
				{Name: "http", Port: 80, TargetPortName: "http", AppProtocol: "http"},
				{Name: "grpc", Port: 9000, TargetPort: 50051},
				{Name: "metrics", Port: 9090, TargetPort: 9090},
			},
			Slices: []model.SliceEndpoint{
				{Address: netip.MustParseAddr("192.0.2.1"), Ports: port8080, Ready: true, Pod: &model.NamespacedName{Namespace: "shop", Name: "web-1"}},
				{Address: netip.MustParseAddr("192.0.2.2"), Ports: port8080, Ready: false, Pod: &model.NamespacedName{Namespace: "shop", Name: "web-2"}},
				{Address: netip.MustParseAddr("192.0.2.3"), Ports: port8080, Ready: true},
			},
		},
	}
	if !reflect.DeepEqual(m.Services, want) {
		t.Errorf("services:\n got %+v\nwant %+v", m.Services, want)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	wantProblems := []string{
		"Service shop/web: port 53/UDP: the mesh carries TCP only",
		"EndpointSlice shop/web-fqdn: address type FQDN: the mesh routes to IP addresses only",
	}
	if !sameSet(got, wantProblems) {
		t.Errorf("problems:\n got %q\nwant %q", got, wantProblems)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestBuildEndpoints checks that slices, not selectors, decide a Service's
// endpoints: ready endpoints of mesh pods only.
func TestBuildEndpoints(t *testing.T) {
	svc := corev1.Service{ObjectMeta: meta("shop", "web"), Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "web"},
		Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
	}}
	ready, notReady, unmeshed := meshPod("shop", "web-1", "192.0.2.1", 8080), meshPod("shop", "web-2", "192.0.2.2", 8080), meshPod("shop", "web-3", "192.0.2.3", 8080)
	unmeshed.Spec.Containers = unmeshed.Spec.Containers[:1]
	selectedOnly := meshPod("shop", "web-4", "192.0.2.4", 8080)
	for _, p := range []*corev1.Pod{&ready, &notReady, &unmeshed, &selectedOnly} {
		p.Labels = map[string]string{"app": "web"}
	}
	tests := []struct {
		name   string
		slices []discoveryv1.EndpointSlice
		want   []string
	}{
		{"no slices", nil, nil},
		{"ready mesh pods", []discoveryv1.EndpointSlice{slice("shop", "web-a", "web", 8080,
			endpoint("192.0.2.1", "web-1", nil), endpoint("192.0.2.2", "web-2", ptr(false)), endpoint("192.0.2.3", "web-3", nil))},
			[]string{"192.0.2.1:8080"}},
		{"two slices", []discoveryv1.EndpointSlice{
			slice("shop", "web-a", "web", 8080, endpoint("192.0.2.1", "web-1", nil)),
			slice("shop", "web-b", "web", 8080, endpoint("192.0.2.2", "web-2", ptr(true))),
		}, []string{"192.0.2.1:8080", "192.0.2.2:8080"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := kube.Build(td, &kube.Objects{
				Namespaces:     []corev1.Namespace{ns("shop")},
				Services:       []corev1.Service{svc},
				Pods:           []corev1.Pod{ready, notReady, unmeshed, selectedOnly},
				EndpointSlices: tt.slices,
			})
			s := m.Service(model.NamespacedName{Namespace: "shop", Name: "web"})
			var got []string
			for _, ep := range m.Endpoints(s, s.Ports[0]) {
				got = append(got, ep.Address.String())
				if ep.Identity.String() != "spiffe://cluster.local/ns/shop/sa/app" {
					t.Errorf("endpoint %s has identity %s", ep.Address, ep.Identity)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("endpoints %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBuildPolicies(t *testing.T) {
	pa := v1alpha1.PeerAuthentication{ObjectMeta: meta("weft-system", "default"),
		Spec:   v1alpha1.PeerAuthenticationSpec{MTLS: &v1alpha1.MutualTLS{Mode: v1alpha1.MTLSStrict}},
		Status: v1alpha1.PolicyStatus{Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue}}}}
	pa.ResourceVersion = "42"
	pa.Generation = 3
	ap := v1alpha1.AuthorizationPolicy{ObjectMeta: meta("shop", "allow"), Spec: v1alpha1.AuthorizationPolicySpec{
		Action: v1alpha1.ActionAllow,
		Rules: []v1alpha1.AuthorizationRule{{From: []v1alpha1.Source{
			{ServiceAccounts: []string{"frontend", "other/ghost"}},
			{NotServiceAccounts: []string{"shop/frontend", "shop/typo"}},
		}}},
	}}
	tp := v1alpha1.TrafficPolicy{ObjectMeta: meta("shop", "web"), Spec: v1alpha1.TrafficPolicySpec{TargetRef: v1alpha1.ServiceReference{Kind: "Service", Name: "web"}}}
	hr := gwv1.HTTPRoute{ObjectMeta: meta("shop", "split")}
	gr := gwv1.GRPCRoute{ObjectMeta: meta("shop", "grpc")}
	hrGone := gwv1.HTTPRoute{ObjectMeta: meta("gone", "split")}

	m, problems := kube.Build(td, &kube.Objects{
		Namespaces:            []corev1.Namespace{ns("shop"), ns("weft-system")},
		ServiceAccounts:       []corev1.ServiceAccount{{ObjectMeta: meta("shop", "frontend")}},
		PeerAuthentications:   []v1alpha1.PeerAuthentication{pa},
		AuthorizationPolicies: []v1alpha1.AuthorizationPolicy{ap},
		TrafficPolicies:       []v1alpha1.TrafficPolicy{tp},
		HTTPRoutes:            []gwv1.HTTPRoute{hrGone, hr},
		GRPCRoutes:            []gwv1.GRPCRoute{gr},
	})
	p := m.Policies
	if len(p.PeerAuthentications) != 1 || len(p.AuthorizationPolicies) != 1 || len(p.TrafficPolicies) != 1 ||
		len(p.HTTPRoutes) != 1 || len(p.GRPCRoutes) != 1 {
		t.Fatalf("policies %+v", p)
	}
	got := p.PeerAuthentications[0]
	if got.Status.Conditions != nil || got.ResourceVersion != "" || got.Generation != 3 || got.Spec.MTLS.Mode != v1alpha1.MTLSStrict {
		t.Errorf("peer authentication kept as %+v; want spec and generation, without status and resource version", got)
	}
	if pa.ResourceVersion != "42" || pa.Status.Conditions == nil {
		t.Error("Build modified its input")
	}
	if p.HTTPRoutes[0].Namespace != "shop" {
		t.Errorf("HTTPRoute of a missing namespace kept: %+v", p.HTTPRoutes)
	}
	var gotProblems []string
	for _, pr := range problems {
		if pr.Dropped {
			t.Errorf("problem %v dropped something", pr)
		}
		gotProblems = append(gotProblems, pr.String())
	}
	want := []string{
		"AuthorizationPolicy shop/allow: ServiceAccount other/ghost does not exist",
		"AuthorizationPolicy shop/allow: ServiceAccount shop/typo does not exist",
	}
	if !reflect.DeepEqual(gotProblems, want) {
		t.Errorf("problems:\n got %q\nwant %q", gotProblems, want)
	}
}
