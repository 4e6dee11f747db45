package xds

import (
	"reflect"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
)

// affectedBy is the fast path of Update for the most frequent changes,
// endpoints and pods coming and going: when next differs from prev only in
// the Slices of some Services and in some Workloads, it returns the indexes
// (in next.Workloads) of the workloads whose translation may read what
// changed, and true. The others' snapshots cannot change, so Update does
// not translate them again. It returns false, and Update translates every
// workload, whenever anything else differs: the trust domain, the
// outbound traffic policy, the access log setting, the policies, the
// Ingress (Gateways, their routes, grants and Secrets), the list of
// Services or any of their fields but Slices, a Service switching between
// a selector and slices, or more than a tenth of the workloads.
//
// A Service counts as changed when its Slices changed or when one of its
// endpoints is a changed workload (listed in its slices, or selected by
// its selector, before or after). A workload is translated again when it
// changed itself or when it may read a changed Service S:
//   - it has an Outbound entry to S (standalone sidecars);
//   - it is a Pod or proxyless workload and S is in its scope: its own
//     namespace, or its Dependencies (S itself or S's namespace "*"), as
//     docs/kubernetes.md defines it;
//   - it is one of S's endpoints, before or after (its inbound side);
//   - S is the backend of a route: then every workload is translated, as
//     any client of the route's parent may read S;
//   - it is an ingress gateway (model.Workload.Gateway): its routes may
//     send anywhere, and gateways are few.
func affectedBy(prev, next *model.Mesh) (map[int]bool, bool) {
	if prev == nil || next == nil || prev.TrustDomain != next.TrustDomain || prev.OutboundTrafficPolicy != next.OutboundTrafficPolicy || prev.AccessLog != next.AccessLog ||
		len(prev.Services) != len(next.Services) || !reflect.DeepEqual(prev.Policies, next.Policies) ||
		!reflect.DeepEqual(prev.Ingress, next.Ingress) {
		return nil, false
	}
	moved, ok := changedWorkloads(prev.Workloads, next.Workloads)
	if !ok {
		return nil, false
	}
	changed := map[model.NamespacedName]bool{}
	endpoints := map[model.NamespacedName]bool{} // workloads behind a changed Service
	for i := range next.Services {
		a, b := &prev.Services[i], &next.Services[i]
		if !sameService(a, b) {
			ac, bc := *a, *b
			ac.Slices, bc.Slices = nil, nil
			if !reflect.DeepEqual(ac, bc) || (a.Slices == nil) != (b.Slices == nil) {
				return nil, false
			}
		}
		if !sameSlice(a.Slices, b.Slices) && !reflect.DeepEqual(a.Slices, b.Slices) || backs(a, moved) || backs(b, moved) {
			changed[b.Key()] = true
			for _, s := range [][]model.SliceEndpoint{a.Slices, b.Slices} {
				for _, e := range s {
					if e.Pod != nil {
						endpoints[*e.Pod] = true
					}
				}
			}
		}
	}
	if routesReach(next.Policies, changed) {
		return nil, false
	}
	out := map[int]bool{}
	namespaces := make(map[string]bool, len(changed)) // of the changed Services
	for svc := range changed {
		namespaces[svc.Namespace] = true
	}
	for i := range next.Workloads {
		w := &next.Workloads[i]
		if _, ok := moved[w.Key()]; ok || reads(w, changed, namespaces, endpoints) {
			out[i] = true
		}
	}
	return out, true
}

// changedWorkloads returns the workloads added, removed or modified, by
// key, with their versions (nil where absent); false when they are more
// than a tenth of the mesh (translating everything is then as cheap).
func changedWorkloads(prev, next []model.Workload) (map[model.NamespacedName][2]*model.Workload, bool) {
	out := map[model.NamespacedName][2]*model.Workload{}
	if sameSlice(prev, next) {
		return out, true
	}
	before := make(map[model.NamespacedName]*model.Workload, len(prev))
	for i := range prev {
		before[prev[i].Key()] = &prev[i]
	}
	limit := len(next)/10 + 1
	for i := range next {
		w := &next[i]
		old := before[w.Key()]
		delete(before, w.Key())
		if old == nil || !reflect.DeepEqual(*old, *w) {
			out[w.Key()] = [2]*model.Workload{old, w}
		}
	}
	for k, old := range before {
		out[k] = [2]*model.Workload{old, nil}
	}
	return out, len(out) <= limit
}

// backs reports whether one of the changed workloads is (or was) behind
// svc: listed in its slices, or selected by its selector.
func backs(svc *model.Service, moved map[model.NamespacedName][2]*model.Workload) bool {
	if len(moved) == 0 {
		return false
	}
	if svc.Slices != nil {
		for _, e := range svc.Slices {
			if e.Pod != nil {
				if _, ok := moved[*e.Pod]; ok {
					return true
				}
			}
		}
		return false
	}
	for _, pair := range moved {
		for _, w := range pair {
			if w != nil && w.Namespace == svc.Namespace && selects(svc.Selector, w.Labels) {
				return true
			}
		}
	}
	return false
}

// selects is model's rule: an empty selector selects nothing.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// sameService reports whether a and b share every field but Slices.
func sameService(a, b *model.Service) bool {
	return a.Name == b.Name && a.Namespace == b.Namespace && sameSlice(a.Ports, b.Ports) && sameSlice(a.ClusterIPs, b.ClusterIPs) &&
		reflect.ValueOf(a.Selector).Pointer() == reflect.ValueOf(b.Selector).Pointer()
}

// reads reports whether w may read one of the changed Services, whose
// namespaces are given too (the cost follows w's dependencies, not the
// number of changes: Update asks for every workload of the mesh).
func reads(w *model.Workload, changed map[model.NamespacedName]bool, namespaces map[string]bool, endpoints map[model.NamespacedName]bool) bool {
	if endpoints[w.Key()] || w.Gateway != nil {
		return true
	}
	for _, o := range w.Outbound {
		if changed[o.Service] {
			return true
		}
	}
	if !w.Pod && !w.Proxyless {
		return false
	}
	if namespaces[w.Namespace] {
		return true
	}
	for _, d := range w.Dependencies {
		if d.Name == "*" && namespaces[d.Namespace] || changed[d] {
			return true
		}
	}
	return false
}

// routesReach reports whether a route sends to one of the services.
func routesReach(p model.Policies, services map[model.NamespacedName]bool) bool {
	if len(services) == 0 {
		return false
	}
	hit := func(ns string, ref gwv1.BackendObjectReference) bool {
		key := model.NamespacedName{Namespace: ns, Name: string(ref.Name)}
		if ref.Namespace != nil {
			key.Namespace = string(*ref.Namespace)
		}
		return services[key]
	}
	for _, r := range p.HTTPRoutes {
		for _, rule := range r.Spec.Rules {
			for _, b := range rule.BackendRefs {
				if hit(r.Namespace, b.BackendObjectReference) {
					return true
				}
			}
		}
	}
	for _, r := range p.GRPCRoutes {
		for _, rule := range r.Spec.Rules {
			for _, b := range rule.BackendRefs {
				if hit(r.Namespace, b.BackendObjectReference) {
					return true
				}
			}
		}
	}
	return false
}

// sameSlice reports whether a and b are the same slice of the same array.
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
