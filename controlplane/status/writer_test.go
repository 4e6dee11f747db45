package status

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
)

// kubeService is the API object of a model Service of the fixtures.
func kubeService(s model.Service) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace},
		Spec:       corev1.ServiceSpec{Selector: s.Selector},
	}
	for _, p := range s.Ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name: p.Name, Port: int32(p.Port), TargetPort: intstr.FromInt32(int32(p.TargetPort)),
		})
	}
	return svc
}

func (k *kube) create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := k.c.Create(t.Context(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// get reads o again from the API server.
func (k *kube) get(t *testing.T, o client.Object) {
	t.Helper()
	if err := k.c.Get(t.Context(), client.ObjectKeyFromObject(o), o); err != nil {
		t.Fatal(err)
	}
}

// policyConds returns the stored conditions of a Weft policy like o.
func (k *kube) policyConds(t *testing.T, o client.Object) ([]metav1.Condition, int64, error) {
	fresh, _ := o.DeepCopyObject().(client.Object)
	if err := k.c.Get(t.Context(), client.ObjectKeyFromObject(o), fresh); err != nil {
		return nil, 0, err
	}
	switch p := fresh.(type) {
	case *v1alpha1.PeerAuthentication:
		return p.Status.Conditions, p.Generation, nil
	case *v1alpha1.AuthorizationPolicy:
		return p.Status.Conditions, p.Generation, nil
	case *v1alpha1.TrafficPolicy:
		return p.Status.Conditions, p.Generation, nil
	}
	return nil, 0, fmt.Errorf("%T is not a policy", o)
}

// routeParentsOf returns the stored status.parents of a route like o.
func (k *kube) routeParentsOf(t *testing.T, o client.Object) ([]gwv1.RouteParentStatus, int64, error) {
	fresh, _ := o.DeepCopyObject().(client.Object)
	if err := k.c.Get(t.Context(), client.ObjectKeyFromObject(o), fresh); err != nil {
		return nil, 0, err
	}
	switch r := fresh.(type) {
	case *gwv1.HTTPRoute:
		return r.Status.Parents, r.Generation, nil
	case *gwv1.GRPCRoute:
		return r.Status.Parents, r.Generation, nil
	}
	return nil, 0, fmt.Errorf("%T is not a route", o)
}

// matches reports how conds differ from wants, for generation gen.
func matches(conds []metav1.Condition, gen int64, wants ...want) error {
	var errs []error
	for _, w := range wants {
		c := meta.FindStatusCondition(conds, w.typ)
		switch {
		case w.status == "" && c != nil:
			errs = append(errs, fmt.Errorf("%s is %s %s, want none", w.typ, c.Status, c.Reason))
		case w.status == "":
		case c == nil:
			errs = append(errs, fmt.Errorf("no %s condition, want %s %s", w.typ, w.status, w.reason))
		case string(c.Status) != w.status || c.Reason != w.reason || c.ObservedGeneration != gen:
			errs = append(errs, fmt.Errorf("%s is %s %s for generation %d (%q), want %s %s for generation %d",
				w.typ, c.Status, c.Reason, c.ObservedGeneration, c.Message, w.status, w.reason, gen))
		}
	}
	return errors.Join(errs...)
}

func (k *kube) policyIs(t *testing.T, o client.Object, wants ...want) func() error {
	return func() error {
		conds, gen, err := k.policyConds(t, o)
		if err != nil {
			return err
		}
		if err := matches(conds, gen, wants...); err != nil {
			return fmt.Errorf("%T %s: %w", o, o.GetName(), err)
		}
		return nil
	}
}

// routeIs checks our status.parents entry for the parentRef to Service
// parent.
func (k *kube) routeIs(t *testing.T, o client.Object, parent string, wants ...want) func() error {
	return func() error {
		parents, gen, err := k.routeParentsOf(t, o)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(parents, func(p gwv1.RouteParentStatus) bool {
			return p.ControllerName == ControllerName && string(p.ParentRef.Name) == parent
		})
		if i < 0 {
			return fmt.Errorf("%T %s: no status.parents entry of %s for %s in %+v", o, o.GetName(), ControllerName, parent, parents)
		}
		if err := matches(parents[i].Conditions, gen, wants...); err != nil {
			return fmt.Errorf("%T %s, parent %s: %w", o, o.GetName(), parent, err)
		}
		return nil
	}
}

// TestStatusFollowsTheMesh writes the status of policies and routes
// created in a real API server, from a mesh built of them and
// translate.Check's Problems; then fixes the problems and changes a spec,
// and checks the status follows, keeping lastTransitionTime and another
// controller's entry, and writing nothing when nothing changed.
func TestStatusFollowsTheMesh(t *testing.T) {
	k := startKube(t)
	web, db, payments, webV2 := webService(), dbService(), webService(), webService()
	payments.Name, webV2.Name = "payments", "web-v2"
	k.create(t, kubeService(web), kubeService(db))

	pa := &v1alpha1.PeerAuthentication{
		ObjectMeta: metav1.ObjectMeta{Name: "strict", Namespace: shop},
		Spec:       v1alpha1.PeerAuthenticationSpec{MTLS: &v1alpha1.MutualTLS{Mode: v1alpha1.MTLSStrict}},
	}
	ap := &v1alpha1.AuthorizationPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "from-shop", Namespace: shop},
		Spec: v1alpha1.AuthorizationPolicySpec{Action: v1alpha1.ActionAllow, Rules: []v1alpha1.AuthorizationRule{{
			From: []v1alpha1.Source{{Namespaces: []string{shop}}},
		}}},
	}
	tpWeb, tpPayments := ptr(trafficPolicy("web", "web")), ptr(trafficPolicy("payments", "payments"))
	canary := ptr(httpRoute("web-canary", []gwv1.ParentReference{serviceParent("web", 80)}, backend("web", 80), backend("web-v2", 80)))
	dbRoute := ptr(httpRoute("db", []gwv1.ParentReference{serviceParent("db", 5432)}, backend("db", 5432)))
	grpc := ptr(grpcRoute("web-grpc", []gwv1.ParentReference{serviceParent("web", 80)}, "web", 80))
	for _, o := range []client.Object{tpWeb, tpPayments, canary, dbRoute, grpc} {
		o.SetGeneration(0)
	}
	k.create(t, pa, ap, tpWeb, tpPayments, canary, dbRoute, grpc)

	// Another controller already reports on the canary route.
	other := gwv1.RouteParentStatus{
		ParentRef:      gwv1.ParentReference{Name: "ingress"},
		ControllerName: "example.net/gateway-controller",
		Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted",
			ObservedGeneration: 1, LastTransitionTime: metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))}},
	}
	canary.Status.Parents = []gwv1.RouteParentStatus{other}
	if err := k.c.Status().Update(t.Context(), canary); err != nil {
		t.Fatal(err)
	}
	k.get(t, canary)

	meshOf := func(svcs ...model.Service) *model.Mesh {
		return testMesh(svcs, model.Policies{
			PeerAuthentications:   []v1alpha1.PeerAuthentication{*pa},
			AuthorizationPolicies: []v1alpha1.AuthorizationPolicy{*ap},
			TrafficPolicies:       []v1alpha1.TrafficPolicy{*tpWeb, *tpPayments},
			HTTPRoutes:            []gwv1.HTTPRoute{*canary, *dbRoute},
			GRPCRoutes:            []gwv1.GRPCRoute{*grpc},
		})
	}
	w, _ := k.startWriter(t, "solo", "status-follows")
	m := meshOf(web, db)
	w.Update(m, translate.Check(m))

	accepted := want{ConditionAccepted, "True", "Accepted"}
	resolved := want{ConditionResolvedRefs, "True", "ResolvedRefs"}
	for _, check := range []func() error{
		k.policyIs(t, pa, accepted, want{ConditionResolvedRefs, "", ""}, want{ConditionPartiallyApplied, "", ""}),
		k.policyIs(t, ap, accepted, want{ConditionResolvedRefs, "", ""}),
		k.policyIs(t, tpWeb, accepted, resolved),
		k.policyIs(t, tpPayments, want{ConditionAccepted, "False", "TargetNotFound"}, want{ConditionResolvedRefs, "False", "TargetNotFound"}),
		k.routeIs(t, canary, "web", accepted, want{ConditionResolvedRefs, "False", "BackendNotFound"}),
		k.routeIs(t, dbRoute, "db", want{ConditionAccepted, "False", "NoMatchingParent"}),
		k.routeIs(t, grpc, "web", accepted, resolved),
	} {
		eventually(t, "status of the first mesh", check)
	}
	parents, _, err := k.routeParentsOf(t, canary)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(parents, func(p gwv1.RouteParentStatus) bool { return p.ControllerName == other.ControllerName }); i < 0 ||
		!sameParent(parents[i].ParentRef, other.ParentRef) || matches(parents[i].Conditions, 1, accepted) != nil ||
		!parents[i].Conditions[0].LastTransitionTime.Equal(&other.Conditions[0].LastTransitionTime) {
		t.Errorf("the other controller's entry changed: %+v", parents)
	}
	k.get(t, pa)
	paVersion := pa.ResourceVersion
	tpConds, _, err := k.policyConds(t, tpWeb)
	if err != nil {
		t.Fatal(err)
	}
	tpAccepted := meta.FindStatusCondition(tpConds, ConditionAccepted).LastTransitionTime

	// Fix the problems, and change TrafficPolicy web's spec. The mesh
	// keeps the PeerAuthentication as first read, without status: the
	// Writer must read it again and find nothing to write.
	time.Sleep(1100 * time.Millisecond) // a lastTransitionTime that moved would differ (they have seconds)
	k.create(t, kubeService(payments), kubeService(webV2))
	k.get(t, tpWeb)
	tpWeb.Spec.Timeout = &metav1.Duration{Duration: 5 * time.Second}
	if err := k.c.Update(t.Context(), tpWeb); err != nil {
		t.Fatal(err)
	}
	if tpWeb.Generation != 2 {
		t.Fatalf("TrafficPolicy web has generation %d after a spec change, want 2", tpWeb.Generation)
	}
	k.get(t, tpPayments)
	k.get(t, canary)
	m = meshOf(web, db, payments, webV2)
	if p := translate.Check(m); slices.ContainsFunc(p, func(p translate.Problem) bool { return p.Kind != kindHTTPRoute || p.Name != "db" }) {
		t.Fatalf("problems left in the fixed mesh: %v", p)
	}
	w.Update(m, translate.Check(m))
	for _, check := range []func() error{
		k.policyIs(t, tpWeb, accepted, resolved), // generation 2
		k.policyIs(t, tpPayments, accepted, resolved),
		k.routeIs(t, canary, "web", accepted, resolved),
	} {
		eventually(t, "status of the fixed mesh", check)
	}
	tpConds, _, err = k.policyConds(t, tpWeb)
	if err != nil {
		t.Fatal(err)
	}
	if got := meta.FindStatusCondition(tpConds, ConditionAccepted).LastTransitionTime; !got.Equal(&tpAccepted) {
		t.Errorf("TrafficPolicy web's Accepted lastTransitionTime moved from %v to %v, its status did not change", tpAccepted, got)
	}
	k.get(t, pa)
	if pa.ResourceVersion != paVersion {
		t.Errorf("PeerAuthentication strict was written again (resourceVersion %s → %s) with the same status", paVersion, pa.ResourceVersion)
	}
	if !w.IsLeader() {
		t.Error("IsLeader() = false for the only writer")
	}
}

// TestCachedClientConverges gives the Writer a client that reads from
// informers, as a controller-runtime manager's does, and flips a
// TrafficPolicy between two meshes faster than the cache follows the
// Writer's own writes: stale reads conflict, and the status still ends as
// the last mesh says.
func TestCachedClientConverges(t *testing.T) {
	k := startKube(t)
	hc, err := rest.HTTPClientFor(k.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	informers, err := cache.New(k.cfg, cache.Options{Scheme: k.c.Scheme(), HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cacheDone := make(chan error, 1)
	go func() { cacheDone <- informers.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-cacheDone; err != nil {
			t.Errorf("cache: %v", err)
		}
	})
	cached, err := client.New(k.cfg, client.Options{Scheme: k.c.Scheme(), HTTPClient: hc, Cache: &client.CacheOptions{Reader: informers}})
	if err != nil {
		t.Fatal(err)
	}

	tp := ptr(trafficPolicy("cached", "cached-svc"))
	tp.Generation = 0
	k.create(t, tp)
	target := webService()
	target.Name = "cached-svc"
	meshes := []*model.Mesh{
		testMesh(nil, model.Policies{TrafficPolicies: []v1alpha1.TrafficPolicy{*tp}}),
		testMesh([]model.Service{target}, model.Policies{TrafficPolicies: []v1alpha1.TrafficPolicy{*tp}}),
	}
	w, _ := (&kube{cfg: k.cfg, c: cached}).startWriter(t, "cached", "status-cached")
	w.Update(meshes[0], translate.Check(meshes[0]))
	eventually(t, "the first mesh's status", k.policyIs(t, tp, want{ConditionAccepted, "False", "TargetNotFound"}))
	for i := range 9 {
		m := meshes[(i+1)%2]
		w.Update(m, translate.Check(m))
		time.Sleep(5 * time.Millisecond)
	}
	// The last mesh (index (8+1) % 2 = 1) has the Service.
	eventually(t, "the last mesh's status", k.policyIs(t, tp,
		want{ConditionAccepted, "True", "Accepted"}, want{ConditionResolvedRefs, "True", "ResolvedRefs"}))
	w.Update(meshes[0], translate.Check(meshes[0]))
	eventually(t, "the broken mesh's status", k.policyIs(t, tp,
		want{ConditionAccepted, "False", "TargetNotFound"}, want{ConditionResolvedRefs, "False", "TargetNotFound"}))
}

// laggingClient is a client whose reads of some objects return an old
// copy, as a cache that has not yet seen the latest writes does.
type laggingClient struct {
	client.Client
	mu     sync.Mutex
	stale  map[client.ObjectKey]client.Object
	served int // stale copies returned
}

func (c *laggingClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.mu.Lock()
	old, ok := c.stale[key]
	if ok {
		c.served++
	}
	c.mu.Unlock()
	if !ok {
		return c.Client.Get(ctx, key, obj, opts...)
	}
	reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(old.DeepCopyObject()).Elem())
	return nil
}

func (c *laggingClient) staleReads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.served
}

func (c *laggingClient) lag(key client.ObjectKey, old client.Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old == nil {
		delete(c.stale, key)
		return
	}
	c.stale[key] = old
}

// TestStaleReadDoesNotHideAWrite reads, through a lagging client, a copy
// from before the Writer's last write that happens to show the status the
// Writer wants: it must not take it for the truth, and write once the
// reads catch up.
func TestStaleReadDoesNotHideAWrite(t *testing.T) {
	k := startKube(t)
	tp := ptr(trafficPolicy("lagging", "lagging-svc"))
	tp.Generation = 0
	k.create(t, tp)
	target := webService()
	target.Name = "lagging-svc"
	broken := testMesh(nil, model.Policies{TrafficPolicies: []v1alpha1.TrafficPolicy{*tp}})
	fixed := testMesh([]model.Service{target}, model.Policies{TrafficPolicies: []v1alpha1.TrafficPolicy{*tp}})
	notFound := want{ConditionAccepted, "False", "TargetNotFound"}

	lagging := &laggingClient{Client: k.c, stale: map[client.ObjectKey]client.Object{}}
	w, _ := (&kube{cfg: k.cfg, c: lagging}).startWriter(t, "lagging", "status-lagging")
	w.Update(broken, translate.Check(broken))
	eventually(t, "the broken mesh's status", k.policyIs(t, tp, notFound))
	old := tp.DeepCopy()
	k.get(t, old)
	lagging.lag(client.ObjectKeyFromObject(tp), old) // reads now stop at the broken status

	w.Update(fixed, translate.Check(fixed))
	eventually(t, "the fixed mesh's status", k.policyIs(t, tp, want{ConditionAccepted, "True", "Accepted"}))
	before := lagging.staleReads()
	w.Update(broken, translate.Check(broken)) // the stale read shows what is wanted
	eventually(t, "a stale read", func() error {
		if lagging.staleReads() == before {
			return errors.New("the Writer did not read the policy again")
		}
		return nil
	})
	lagging.lag(client.ObjectKeyFromObject(tp), nil)
	eventually(t, "the broken mesh's status again", k.policyIs(t, tp, notFound))
}
