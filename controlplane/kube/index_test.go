package kube_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/kube"
	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/gateway"
)

// world is the objects of a cluster, by kind and key, as the API server
// holds them; it replays each change into an Index.
type world struct {
	objs map[string]client.Object // "<kind>/<namespace>/<name>"
}

func objKey(o client.Object) string {
	return fmt.Sprintf("%T/%s/%s", o, o.GetNamespace(), o.GetName())
}

func (w *world) set(x *kube.Index, o client.Object) {
	w.objs[objKey(o)] = o
	x.Set(o)
}

func (w *world) del(x *kube.Index, o client.Object) {
	delete(w.objs, objKey(o))
	x.Delete(o)
}

// objects lists the world for the pure Build, in a random order: Build
// must not depend on the order the caches list in.
func (w *world) objects(r *rand.Rand) *kube.Objects {
	keys := make([]string, 0, len(w.objs))
	for k := range w.objs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	out := &kube.Objects{}
	for _, k := range keys {
		switch o := w.objs[k].(type) {
		case *corev1.Namespace:
			out.Namespaces = append(out.Namespaces, *o)
		case *corev1.Pod:
			out.Pods = append(out.Pods, *o)
		case *corev1.Service:
			out.Services = append(out.Services, *o)
		case *discoveryv1.EndpointSlice:
			out.EndpointSlices = append(out.EndpointSlices, *o)
		case *corev1.ServiceAccount:
			out.ServiceAccounts = append(out.ServiceAccounts, *o)
		case *v1alpha1.PeerAuthentication:
			out.PeerAuthentications = append(out.PeerAuthentications, *o)
		case *v1alpha1.AuthorizationPolicy:
			out.AuthorizationPolicies = append(out.AuthorizationPolicies, *o)
		case *gwv1.HTTPRoute:
			out.HTTPRoutes = append(out.HTTPRoutes, *o)
		case *gwv1.GatewayClass:
			out.GatewayClasses = append(out.GatewayClasses, *o)
		case *gwv1.Gateway:
			out.Gateways = append(out.Gateways, *o)
		case *gwv1.TLSRoute:
			out.TLSRoutes = append(out.TLSRoutes, *o)
		case *gwv1.TCPRoute:
			out.TCPRoutes = append(out.TCPRoutes, *o)
		case *gwv1beta1.ReferenceGrant:
			out.ReferenceGrants = append(out.ReferenceGrants, *o)
		case *corev1.Secret:
			out.Secrets = append(out.Secrets, *o)
		}
	}
	return out
}

// randomEvent changes one object of a small cluster (3 namespaces, which
// are relabelled, 4 Services, 8 Pods, slices that move between Services,
// a policy naming a ServiceAccount that comes and goes, and
// gatewayEvent's), as the informers would report it: always a new object,
// never the old one modified.
func randomEvent(r *rand.Rand) (obj client.Object, deleted bool) {
	nsName := fmt.Sprintf("ns-%d", r.IntN(3))
	deleted = r.IntN(5) == 0
	switch r.IntN(9) {
	case 0:
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName}}
		if r.IntN(3) == 0 {
			n.Status.Phase = corev1.NamespaceTerminating
		}
		if r.IntN(3) != 0 {
			n.Labels = map[string]string{"team": fmt.Sprint("t", r.IntN(2))} // relabelled
		}
		return n, deleted
	case 1, 2:
		i := r.IntN(8)
		pod := meshPod(nsName, fmt.Sprintf("pod-%d", i), fmt.Sprintf("192.0.2.%d", 10+i+r.IntN(2)*100), 8080)
		pod.Labels = map[string]string{"app": fmt.Sprintf("svc-%d", r.IntN(4))}
		switch r.IntN(6) {
		case 0:
			pod.Status.PodIP = "not-an-ip"
		case 1:
			pod.Spec.Containers = pod.Spec.Containers[:1] // not injected
		case 2:
			pod.Annotations = map[string]string{kube.DependenciesAnnotation: "ns-1/svc-0,bad"}
		case 3:
			pod.Labels[gateway.NameLabel] = fmt.Sprintf("gw-%d", r.IntN(2)) // a gateway's pod
		}
		return &pod, deleted
	case 3:
		svc := &corev1.Service{ObjectMeta: meta(nsName, fmt.Sprintf("svc-%d", r.IntN(4))), Spec: corev1.ServiceSpec{
			Ports: []corev1.ServicePort{{Name: "http", Port: int32(80 + r.IntN(2))}},
		}}
		if r.IntN(4) == 0 {
			svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP})
		}
		return svc, deleted
	case 4, 5:
		es := slice(nsName, fmt.Sprintf("slice-%d", r.IntN(6)), fmt.Sprintf("svc-%d", r.IntN(4)), 8080)
		for range r.IntN(4) {
			i := r.IntN(8)
			ready := r.IntN(3) != 0
			es.Endpoints = append(es.Endpoints, endpoint(fmt.Sprintf("192.0.2.%d", 10+i), fmt.Sprintf("pod-%d", i), &ready))
		}
		switch r.IntN(8) {
		case 0:
			es.Endpoints = append(es.Endpoints, endpoint("bad-address", "", nil))
		case 1:
			es.AddressType = discoveryv1.AddressTypeFQDN
		}
		return &es, deleted
	case 7, 8:
		return gatewayEvent(r, nsName), deleted
	default:
		if r.IntN(2) == 0 {
			return &corev1.ServiceAccount{ObjectMeta: meta(nsName, "caller")}, deleted
		}
		ap := &v1alpha1.AuthorizationPolicy{ObjectMeta: meta(nsName, "allow")}
		ap.Spec.Rules = []v1alpha1.AuthorizationRule{{From: []v1alpha1.Source{{ServiceAccounts: []string{"caller"}}}}}
		ap.ResourceVersion = fmt.Sprint(r.IntN(100)) // a status write: no new mesh
		return ap, deleted
	}
}

// gatewayEvent changes one of the ingress gateway's objects: GatewayClasses
// of Weft's controller or another's, Gateways of either class whose HTTPS
// listener names a Secret of their namespace or another and whose HTTP
// listener may select routes by namespace labels, TLS Secrets (and
// one that is not), routes with a Gateway parent, grants, and status
// writes that must not make a new mesh.
func gatewayEvent(r *rand.Rand, nsName string) client.Object {
	gwName := fmt.Sprintf("gw-%d", r.IntN(2))
	parent := []gwv1.ParentReference{{Name: gwv1.ObjectName(gwName)}}
	switch r.IntN(7) {
	case 0:
		gc := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "weft"}, Spec: gwv1.GatewayClassSpec{ControllerName: gateway.ControllerName}}
		if r.IntN(3) == 0 {
			gc.Spec.ControllerName = "example.com/other"
		}
		return gc
	case 1:
		g := &gwv1.Gateway{ObjectMeta: meta(nsName, gwName), Spec: gwv1.GatewaySpec{GatewayClassName: "weft"}}
		if r.IntN(4) == 0 {
			g.Spec.GatewayClassName = "other"
		}
		ref := gwv1.SecretObjectReference{Name: gwv1.ObjectName(fmt.Sprintf("cert-%d", r.IntN(3)))}
		if r.IntN(2) == 0 {
			ref.Namespace = ptr(gwv1.Namespace(fmt.Sprintf("ns-%d", r.IntN(3))))
		}
		g.Spec.Listeners = []gwv1.Listener{
			{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80},
			{Name: "https", Protocol: gwv1.HTTPSProtocolType, Port: 443, TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{ref}}},
		}
		if r.IntN(2) == 0 {
			g.Spec.Listeners[0].AllowedRoutes = &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: ptr(gwv1.NamespacesFromSelector),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "t0"}}}}
		}
		g.ResourceVersion = fmt.Sprint(r.IntN(100))
		g.Status.Addresses = []gwv1.GatewayStatusAddress{{Value: fmt.Sprintf("192.0.2.%d", 200+r.IntN(2))}} // a status write
		return g
	case 2:
		s := &corev1.Secret{ObjectMeta: meta(nsName, fmt.Sprintf("cert-%d", r.IntN(3))), Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: fmt.Appendf(nil, "cert %d", r.IntN(3)), corev1.TLSPrivateKeyKey: []byte("key")}}
		if r.IntN(5) == 0 {
			s.Type = corev1.SecretTypeOpaque
		}
		return s
	case 3:
		return &gwv1.HTTPRoute{ObjectMeta: meta(nsName, "web"), Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parent}, Hostnames: []gwv1.Hostname{gwv1.Hostname(fmt.Sprintf("h%d.example.com", r.IntN(2)))},
		}}
	case 4:
		return &gwv1.TLSRoute{ObjectMeta: meta(nsName, "tls"), Spec: gwv1.TLSRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parent}, Hostnames: []gwv1.Hostname{gwv1.Hostname(fmt.Sprintf("h%d.example.com", r.IntN(2)))},
		}}
	case 5:
		return &gwv1.TCPRoute{ObjectMeta: meta(nsName, "tcp"), Spec: gwv1.TCPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parent}}}
	default:
		g := &gwv1beta1.ReferenceGrant{ObjectMeta: meta(nsName, "certs"), Spec: gwv1beta1.ReferenceGrantSpec{
			From: []gwv1beta1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: "Gateway", Namespace: gwv1.Namespace(fmt.Sprintf("ns-%d", r.IntN(3)))}},
			To:   []gwv1beta1.ReferenceGrantTo{{Group: "", Kind: "Secret"}},
		}}
		return g
	}
}

// TestIndexAgreesWithBuild replays random events into an Index and checks
// after each Build that its mesh and problems are what the pure Build
// makes of the same objects, and that it reports a change exactly when
// the mesh differs from the last.
func TestIndexAgreesWithBuild(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed-", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 9))
			x := kube.NewIndex(td)
			w := &world{objs: map[string]client.Object{}}
			var last *model.Mesh
			var gateways, secrets, gatewayPods, nsLabels bool // the ingress part was exercised
			for step := range 300 {
				for range 1 + r.IntN(4) {
					obj, deleted := randomEvent(r)
					if deleted {
						w.del(x, obj)
					} else {
						w.set(x, obj)
					}
				}
				got, gotProblems, changed := x.Build()
				want, wantProblems := kube.Build(td, w.objects(r))
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("step %d: Index built\n%+v\nBuild built\n%+v", step, got, want)
				}
				if !reflect.DeepEqual(gotProblems, wantProblems) {
					t.Fatalf("step %d: Index found problems\n%v\nBuild found\n%v", step, gotProblems, wantProblems)
				}
				if differs := last == nil || !reflect.DeepEqual(*last, *got); changed != differs {
					t.Fatalf("step %d: Build reported changed=%v for a mesh that differs from the last: %v", step, changed, differs)
				}
				if !changed && got != last {
					t.Fatalf("step %d: unchanged, but a new mesh value", step)
				}
				last = got
				gateways = gateways || len(got.Ingress.Gateways) > 0
				secrets = secrets || len(got.Ingress.Secrets) > 0
				gatewayPods = gatewayPods || slices.ContainsFunc(got.Workloads, func(w model.Workload) bool { return w.Gateway != nil })
				nsLabels = nsLabels || len(got.Ingress.NamespaceLabels) > 0
			}
			if !gateways || !secrets || !gatewayPods || !nsLabels {
				t.Errorf("no mesh had a Gateway (%v), a TLS Secret (%v), a gateway workload (%v) and namespace labels (%v): the ingress part went untested",
					gateways, secrets, gatewayPods, nsLabels)
			}
		})
	}
}

// TestIndexReusesWhatDidNotChange checks what xds.Server.Update relies on
// to skip the proxies a change cannot reach: after an EndpointSlice
// change, the workloads are the same slice, and the other Services share
// their ports, addresses and endpoints with the last mesh.
func TestIndexReusesWhatDidNotChange(t *testing.T) {
	x := kube.NewIndex(td)
	x.Set(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})
	for i, name := range []string{"api", "web"} {
		x.Set(&corev1.Service{ObjectMeta: meta("shop", name), Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}},
		}})
		pod := meshPod("shop", name+"-1", fmt.Sprintf("192.0.2.%d", i+1), 8080)
		x.Set(&pod)
		es := slice("shop", name+"-abc", name, 8080, endpoint(pod.Status.PodIP, pod.Name, nil))
		x.Set(&es)
	}
	before, _, _ := x.Build()

	moved := slice("shop", "api-abc", "api", 8080, endpoint("192.0.2.99", "api-1", nil))
	x.Set(&moved)
	if got := x.Pending(); !got.EndpointsOnly() {
		t.Fatalf("Pending after an EndpointSlice update = %b, want endpoints only", got)
	}
	after, _, changed := x.Build()
	if !changed || after.Services[0].Slices[0].Address.String() != "192.0.2.99" {
		t.Fatalf("the moved endpoint is not in the mesh: changed=%v, api's slices %+v", changed, after.Services[0].Slices)
	}
	if &after.Workloads[0] != &before.Workloads[0] {
		t.Error("the workloads were copied: Update compares them all again")
	}
	if &after.Services[0].Ports[0] != &before.Services[0].Ports[0] || reflect.ValueOf(after.Services[0].Selector).Pointer() != reflect.ValueOf(before.Services[0].Selector).Pointer() {
		t.Error("api's ports or selector were converted again though only its endpoints changed")
	}
	if &after.Services[1].Slices[0] != &before.Services[1].Slices[0] {
		t.Error("web's endpoints were converted again though no event touched them")
	}
	if x.Pending() != 0 {
		t.Errorf("Pending after Build = %b, want nothing", x.Pending())
	}

	// An update that changes nothing the mesh holds is no change.
	again := moved.DeepCopy()
	again.ResourceVersion = "2"
	x.Set(again)
	if m, _, changed := x.Build(); changed || m != after {
		t.Errorf("an EndpointSlice written again unchanged made a new mesh (changed=%v)", changed)
	}
}

// TestIndexPending checks the classification of changes that picks the
// Watcher's quiet period: only EndpointSlices is the short one.
func TestIndexPending(t *testing.T) {
	pod := meshPod("shop", "web-1", "192.0.2.1", 8080)
	es := slice("shop", "web-abc", "web", 8080)
	tests := []struct {
		name          string
		events        []client.Object
		want          kube.Change
		endpointsOnly bool
	}{
		{name: "nothing", want: 0},
		{name: "slices", events: []client.Object{&es, &es}, want: kube.ChangeEndpoints, endpointsOnly: true},
		{name: "pod", events: []client.Object{&pod}, want: kube.ChangeWorkloads},
		{name: "slice and pod", events: []client.Object{&es, &pod}, want: kube.ChangeEndpoints | kube.ChangeWorkloads},
		{name: "service", events: []client.Object{&corev1.Service{ObjectMeta: meta("shop", "web")}}, want: kube.ChangeServices},
		{name: "namespace", events: []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}}, want: kube.ChangeOther},
		{name: "policy", events: []client.Object{&v1alpha1.PeerAuthentication{ObjectMeta: meta("shop", "p")}}, want: kube.ChangeOther},
		{name: "gateway", events: []client.Object{&gwv1.Gateway{ObjectMeta: meta("shop", "public")}}, want: kube.ChangeOther},
		{name: "tls secret", events: []client.Object{&corev1.Secret{ObjectMeta: meta("shop", "cert"), Type: corev1.SecretTypeTLS}}, want: kube.ChangeOther},
		{name: "grant", events: []client.Object{&gwv1beta1.ReferenceGrant{ObjectMeta: meta("certs", "g")}}, want: kube.ChangeOther},
		{name: "another kind", events: []client.Object{&corev1.ConfigMap{ObjectMeta: meta("shop", "c")}}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := kube.NewIndex(td)
			for _, o := range tt.events {
				x.Set(o)
			}
			got := x.Pending()
			if got != tt.want || got.EndpointsOnly() != tt.endpointsOnly {
				t.Errorf("Pending = %b (endpoints only %v), want %b (%v)", got, got.EndpointsOnly(), tt.want, tt.endpointsOnly)
			}
		})
	}
}
