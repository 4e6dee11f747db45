package kube

import (
	"cmp"
	"reflect"
	"slices"
	"sync"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// Change says what kinds of objects changed since the last Index.Build.
type Change uint8

// Change bits. ChangeEndpoints alone is the frequent, cheap case (a pod
// became ready, a replica went away): the Watcher builds it after a
// shorter quiet period.
const (
	// ChangeEndpoints: EndpointSlices.
	ChangeEndpoints Change = 1 << iota
	// ChangeServices: Services.
	ChangeServices
	// ChangeWorkloads: Pods.
	ChangeWorkloads
	// ChangeOther: Namespaces, ServiceAccounts, policies, routes, or the
	// ingress gateway's GatewayClasses, Gateways, ReferenceGrants and TLS
	// Secrets.
	ChangeOther
)

// EndpointsOnly reports whether only EndpointSlices changed.
func (c Change) EndpointsOnly() bool { return c == ChangeEndpoints }

// Index keeps the API objects a mesh is built from, by key, as the
// informers' events report them, and builds each next mesh from the last:
// an event converts only its own object again, and Build reuses every
// Service and Workload no event touched (the same values, sharing maps
// and slices), so that xds.Server.Update sees at once what did not
// change. Build's result equals the pure Build of the same objects.
//
// Index keeps the objects it is given, unmodified: the informers' own,
// which they replace rather than modify. Set and Delete may be called from
// any goroutine, concurrently with Build.
type Index struct {
	td spiffeid.TrustDomain

	mu sync.Mutex
	// The objects, as the last events left them.
	namespaces map[string]*corev1.Namespace
	pods       map[model.NamespacedName]*corev1.Pod
	services   map[model.NamespacedName]*corev1.Service
	eslices    map[model.NamespacedName]*discoveryv1.EndpointSlice
	sas        map[model.NamespacedName]*corev1.ServiceAccount
	pas        map[model.NamespacedName]*v1alpha1.PeerAuthentication
	aps        map[model.NamespacedName]*v1alpha1.AuthorizationPolicy
	tps        map[model.NamespacedName]*v1alpha1.TrafficPolicy
	hrs        map[model.NamespacedName]*gwv1.HTTPRoute
	grs        map[model.NamespacedName]*gwv1.GRPCRoute
	gcs        map[model.NamespacedName]*gwv1.GatewayClass // cluster-scoped: no namespace
	gws        map[model.NamespacedName]*gwv1.Gateway
	tlsrs      map[model.NamespacedName]*gwv1.TLSRoute
	tcprs      map[model.NamespacedName]*gwv1.TCPRoute
	grants     map[model.NamespacedName]*gwv1beta1.ReferenceGrant
	secrets    map[model.NamespacedName]*corev1.Secret

	// What changed since the last Build, by key.
	pending       Change
	dirtyPods     map[model.NamespacedName]bool
	dirtySlices   map[model.NamespacedName]bool
	dirtyServices map[model.NamespacedName]bool

	// What the last Build made of the objects.
	last      *model.Mesh
	live      map[string]bool
	workloads map[model.NamespacedName]model.Workload // mesh pods only
	meshSvcs  map[model.NamespacedName]model.Service
	converted map[model.NamespacedName]convertedSlice // by slice key
	bySvc     map[model.NamespacedName]map[model.NamespacedName]bool
	problems  map[problemSource][]Problem
	// policyProblems are missingServiceAccounts' findings.
	policyProblems []Problem
}

// convertedSlice is what an EndpointSlice adds to its Service.
type convertedSlice struct {
	svc model.NamespacedName
	eps []model.SliceEndpoint
}

// problemSource is the object a Problem is about.
type problemSource struct {
	kind string
	key  model.NamespacedName
}

// NewIndex returns an empty Index of a mesh in trust domain td.
func NewIndex(td spiffeid.TrustDomain) *Index {
	return &Index{
		td:            td,
		namespaces:    map[string]*corev1.Namespace{},
		pods:          map[model.NamespacedName]*corev1.Pod{},
		services:      map[model.NamespacedName]*corev1.Service{},
		eslices:       map[model.NamespacedName]*discoveryv1.EndpointSlice{},
		sas:           map[model.NamespacedName]*corev1.ServiceAccount{},
		pas:           map[model.NamespacedName]*v1alpha1.PeerAuthentication{},
		aps:           map[model.NamespacedName]*v1alpha1.AuthorizationPolicy{},
		tps:           map[model.NamespacedName]*v1alpha1.TrafficPolicy{},
		hrs:           map[model.NamespacedName]*gwv1.HTTPRoute{},
		grs:           map[model.NamespacedName]*gwv1.GRPCRoute{},
		gcs:           map[model.NamespacedName]*gwv1.GatewayClass{},
		gws:           map[model.NamespacedName]*gwv1.Gateway{},
		tlsrs:         map[model.NamespacedName]*gwv1.TLSRoute{},
		tcprs:         map[model.NamespacedName]*gwv1.TCPRoute{},
		grants:        map[model.NamespacedName]*gwv1beta1.ReferenceGrant{},
		secrets:       map[model.NamespacedName]*corev1.Secret{},
		dirtyPods:     map[model.NamespacedName]bool{},
		dirtySlices:   map[model.NamespacedName]bool{},
		dirtyServices: map[model.NamespacedName]bool{},
		live:          map[string]bool{},
		workloads:     map[model.NamespacedName]model.Workload{},
		meshSvcs:      map[model.NamespacedName]model.Service{},
		converted:     map[model.NamespacedName]convertedSlice{},
		bySvc:         map[model.NamespacedName]map[model.NamespacedName]bool{},
		problems:      map[problemSource][]Problem{},
	}
}

// Set records an object added or updated; objects of other kinds are
// ignored.
func (x *Index) Set(obj client.Object) { x.record(obj, false) }

// Delete records an object deleted.
func (x *Index) Delete(obj client.Object) { x.record(obj, true) }

// Pending returns what changed since the last Build.
func (x *Index) Pending() Change {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.pending
}

func (x *Index) record(obj client.Object, deleted bool) {
	key := model.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}
	x.mu.Lock()
	defer x.mu.Unlock()
	switch o := obj.(type) {
	case *corev1.Namespace:
		put(x.namespaces, o.Name, o, deleted)
		x.pending |= ChangeOther
	case *corev1.Pod:
		put(x.pods, key, o, deleted)
		x.dirtyPods[key] = true
		x.pending |= ChangeWorkloads
	case *corev1.Service:
		put(x.services, key, o, deleted)
		x.dirtyServices[key] = true
		x.pending |= ChangeServices
	case *discoveryv1.EndpointSlice:
		put(x.eslices, key, o, deleted)
		x.dirtySlices[key] = true
		x.pending |= ChangeEndpoints
	case *corev1.ServiceAccount:
		put(x.sas, key, o, deleted)
		x.pending |= ChangeOther
	case *v1alpha1.PeerAuthentication:
		put(x.pas, key, o, deleted)
		x.pending |= ChangeOther
	case *v1alpha1.AuthorizationPolicy:
		put(x.aps, key, o, deleted)
		x.pending |= ChangeOther
	case *v1alpha1.TrafficPolicy:
		put(x.tps, key, o, deleted)
		x.pending |= ChangeOther
	case *gwv1.HTTPRoute:
		put(x.hrs, key, o, deleted)
		x.pending |= ChangeOther
	case *gwv1.GRPCRoute:
		put(x.grs, key, o, deleted)
		x.pending |= ChangeOther
	case *gwv1.GatewayClass:
		put(x.gcs, key, o, deleted)
		x.pending |= ChangeOther
	case *gwv1.Gateway:
		put(x.gws, key, o, deleted)
		x.pending |= ChangeOther
	case *gwv1.TLSRoute:
		put(x.tlsrs, key, o, deleted)
		x.pending |= ChangeOther
	case *gwv1.TCPRoute:
		put(x.tcprs, key, o, deleted)
		x.pending |= ChangeOther
	case *gwv1beta1.ReferenceGrant:
		put(x.grants, key, o, deleted)
		x.pending |= ChangeOther
	case *corev1.Secret:
		put(x.secrets, key, o, deleted)
		x.pending |= ChangeOther
	}
}

func put[K comparable, T any](m map[K]*T, key K, obj *T, deleted bool) {
	if deleted {
		delete(m, key)
	} else {
		m[key] = obj
	}
}

// Build returns the mesh the recorded objects describe, the problems
// found (sorted), and whether the mesh differs from the one the last
// Build returned (which it returns again when not). Only one goroutine
// may call Build at a time.
func (x *Index) Build() (*model.Mesh, []Problem, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	first := x.last == nil
	if first || x.pending&ChangeOther != 0 {
		x.relive()
	}
	b := &builder{live: x.live}
	workloadsChanged := x.convertPods(b)
	x.convertSlices(b)
	servicesChanged := x.convertServices(b)

	m := &model.Mesh{TrustDomain: x.td}
	if first {
		m.Workloads = mergeSorted(nil, x.workloads, allKeys(x.workloads), (*model.Workload).Key)
		m.Services = mergeSorted(nil, x.meshSvcs, allKeys(x.meshSvcs), (*model.Service).Key)
	} else {
		m.Workloads = x.last.Workloads
		if len(workloadsChanged) > 0 {
			m.Workloads = mergeSorted(x.last.Workloads, x.workloads, workloadsChanged, (*model.Workload).Key)
		}
		m.Services = x.last.Services
		if len(servicesChanged) > 0 {
			m.Services = mergeSorted(x.last.Services, x.meshSvcs, servicesChanged, (*model.Service).Key)
		}
	}
	policiesChanged := false
	if first || x.pending&ChangeOther != 0 {
		objs := x.policyObjects()
		m.Policies = b.policies(objs)
		m.Policies.Sort()
		m.Ingress = b.ingress(objs)
		b.missingServiceAccounts(objs)
		x.policyProblems = b.problems
		if !first && reflect.DeepEqual(m.Policies, x.last.Policies) {
			m.Policies = x.last.Policies
		} else {
			policiesChanged = true
		}
		if !first && reflect.DeepEqual(m.Ingress, x.last.Ingress) {
			m.Ingress = x.last.Ingress
		} else {
			policiesChanged = true
		}
	} else {
		m.Policies = x.last.Policies
		m.Ingress = x.last.Ingress
	}
	x.pending = 0

	problems := slices.Clone(x.policyProblems)
	for _, ps := range x.problems {
		problems = append(problems, ps...)
	}
	SortProblems(problems)
	if !first && len(workloadsChanged) == 0 && len(servicesChanged) == 0 && !policiesChanged {
		return x.last, problems, false
	}
	x.last = m
	return m, problems, true
}

// SortProblems orders problems by kind, namespace, name and reason.
func SortProblems(problems []Problem) {
	slices.SortFunc(problems, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Reason, b.Reason), boolCompare(a.Dropped, b.Dropped))
	})
}

func boolCompare(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}

// relive recomputes the live namespaces; every object of a namespace
// that came or went is converted again.
func (x *Index) relive() {
	nss := make([]corev1.Namespace, 0, len(x.namespaces))
	for _, n := range x.namespaces {
		nss = append(nss, *n)
	}
	live := liveNamespaces(nss)
	flipped := map[string]bool{}
	for ns := range live {
		if !x.live[ns] {
			flipped[ns] = true
		}
	}
	for ns := range x.live {
		if !live[ns] {
			flipped[ns] = true
		}
	}
	x.live = live
	if len(flipped) == 0 {
		return
	}
	markIn(flipped, x.pods, x.dirtyPods)
	markIn(flipped, x.workloads, x.dirtyPods)
	markIn(flipped, x.eslices, x.dirtySlices)
	markIn(flipped, x.converted, x.dirtySlices)
	markIn(flipped, x.services, x.dirtyServices)
	markIn(flipped, x.meshSvcs, x.dirtyServices)
}

// markIn marks dirty every key of objs in one of the namespaces.
func markIn[V any](namespaces map[string]bool, objs map[model.NamespacedName]V, dirty map[model.NamespacedName]bool) {
	for k := range objs {
		if namespaces[k.Namespace] {
			dirty[k] = true
		}
	}
}

// convertPods converts the Pods events touched and returns the keys of
// the workloads that changed (added, removed or different).
func (x *Index) convertPods(b *builder) map[model.NamespacedName]bool {
	changed := map[model.NamespacedName]bool{}
	for k := range x.dirtyPods {
		delete(x.dirtyPods, k)
		var (
			w  model.Workload
			ok bool
		)
		b.problems = nil
		if pod := x.pods[k]; pod != nil {
			w, ok = b.workload(pod)
		}
		x.setProblems(kindPod, k, b.problems)
		old, had := x.workloads[k]
		switch {
		case !ok && had:
			delete(x.workloads, k)
			changed[k] = true
		case ok && (!had || !reflect.DeepEqual(old, w)):
			x.workloads[k] = w
			changed[k] = true
		}
	}
	b.problems = nil
	return changed
}

// convertSlices converts the EndpointSlices events touched and marks the
// Services they were and are labelled with.
func (x *Index) convertSlices(b *builder) {
	for k := range x.dirtySlices {
		delete(x.dirtySlices, k)
		if old, had := x.converted[k]; had {
			delete(x.converted, k)
			delete(x.bySvc[old.svc], k)
			if len(x.bySvc[old.svc]) == 0 {
				delete(x.bySvc, old.svc)
			}
			x.dirtyServices[old.svc] = true
		}
		b.problems = nil
		if es := x.eslices[k]; es != nil {
			if svc, eps, ok := b.sliceEndpoints(es); ok {
				x.converted[k] = convertedSlice{svc: svc, eps: eps}
				if x.bySvc[svc] == nil {
					x.bySvc[svc] = map[model.NamespacedName]bool{}
				}
				x.bySvc[svc][k] = true
				x.dirtyServices[svc] = true
			}
		}
		x.setProblems(kindEndpointSlice, k, b.problems)
	}
	b.problems = nil
}

// convertServices converts the Services that events touched, directly
// or through their slices, and returns the keys of those that changed.
func (x *Index) convertServices(b *builder) map[model.NamespacedName]bool {
	changed := map[model.NamespacedName]bool{}
	for k := range x.dirtyServices {
		delete(x.dirtyServices, k)
		var (
			s  model.Service
			ok bool
		)
		b.problems = nil
		if svc := x.services[k]; svc != nil {
			names := make([]model.NamespacedName, 0, len(x.bySvc[k]))
			for sk := range x.bySvc[k] {
				names = append(names, sk)
			}
			slices.SortFunc(names, compareKeys)
			var eps []model.SliceEndpoint
			for _, sk := range names {
				eps = append(eps, x.converted[sk].eps...)
			}
			s, ok = b.service(svc, map[model.NamespacedName][]model.SliceEndpoint{k: eps})
		}
		x.setProblems(kindService, k, b.problems)
		old, had := x.meshSvcs[k]
		switch {
		case !ok && had:
			delete(x.meshSvcs, k)
			changed[k] = true
		case ok && had && reflect.DeepEqual(old, s):
		case ok:
			if had && sameDefinition(&old, &s) {
				// Only the endpoints changed: keep the rest as it was,
				// the same maps and slices.
				old.Slices = s.Slices
				s = old
			}
			x.meshSvcs[k] = s
			changed[k] = true
		}
	}
	b.problems = nil
	return changed
}

// sameDefinition reports whether a and b differ at most in Slices.
func sameDefinition(a, b *model.Service) bool {
	ac, bc := *a, *b
	ac.Slices, bc.Slices = nil, nil
	return reflect.DeepEqual(ac, bc)
}

func (x *Index) setProblems(kind string, key model.NamespacedName, ps []Problem) {
	src := problemSource{kind: kind, key: key}
	if len(ps) == 0 {
		delete(x.problems, src)
		return
	}
	x.problems[src] = slices.Clone(ps)
}

// policyObjects lists the policies, routes, ServiceAccounts, the ingress
// gateway's objects and the Namespaces (whose labels a Gateway may
// select routes by) recorded (shallow copies; Build only reads them).
func (x *Index) policyObjects() *Objects {
	return &Objects{
		Namespaces:            values(x.namespaces),
		ServiceAccounts:       values(x.sas),
		PeerAuthentications:   values(x.pas),
		AuthorizationPolicies: values(x.aps),
		TrafficPolicies:       values(x.tps),
		HTTPRoutes:            values(x.hrs),
		GRPCRoutes:            values(x.grs),
		GatewayClasses:        values(x.gcs),
		Gateways:              values(x.gws),
		TLSRoutes:             values(x.tlsrs),
		TCPRoutes:             values(x.tcprs),
		ReferenceGrants:       values(x.grants),
		Secrets:               values(x.secrets),
	}
}

func values[K comparable, T any](m map[K]*T) []T {
	if len(m) == 0 {
		return nil
	}
	out := make([]T, 0, len(m))
	for _, v := range m {
		out = append(out, *v)
	}
	return out
}

func allKeys[T any](m map[model.NamespacedName]T) map[model.NamespacedName]bool {
	out := make(map[model.NamespacedName]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// mergeSorted returns prev, sorted by key, with the elements whose keys
// are in changed replaced by their values in current (or removed, when
// current has none): a new slice, nil when empty, the other elements
// copied as they are.
func mergeSorted[T any](prev []T, current map[model.NamespacedName]T, changed map[model.NamespacedName]bool, key func(*T) model.NamespacedName) []T {
	added := make([]model.NamespacedName, 0, len(changed))
	for k := range changed {
		if _, ok := current[k]; ok {
			added = append(added, k)
		}
	}
	slices.SortFunc(added, compareKeys)
	var out []T
	if n := len(prev) + len(added); n > 0 {
		out = make([]T, 0, n)
	}
	i := 0
	for _, k := range added {
		for ; i < len(prev) && compareKeys(key(&prev[i]), k) < 0; i++ {
			if !changed[key(&prev[i])] {
				out = append(out, prev[i])
			}
		}
		if i < len(prev) && key(&prev[i]) == k {
			i++
		}
		out = append(out, current[k])
	}
	for ; i < len(prev); i++ {
		if !changed[key(&prev[i])] {
			out = append(out, prev[i])
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func compareKeys(a, b model.NamespacedName) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}
