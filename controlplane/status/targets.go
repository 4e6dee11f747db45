package status

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
	"github.com/weftmesh/weft/gateway"
)

// objectKey names one object a Problem is about.
type objectKey struct{ kind, namespace, name string }

// target is one object whose status the Writer keeps.
type target struct {
	kind string
	obj  client.Object // as in the mesh
	// empty returns a new object of obj's type to read into.
	empty func() client.Object
	// apply merges the computed status into an object of obj's type (the
	// mesh's or a fresh one) and reports whether it changed. It changes
	// nothing when the object's status was written for a later generation
	// than obj's.
	apply func(o client.Object, now metav1.Time) bool
}

// targets returns every policy and route of m with the status each should
// carry, given the Problems of each object and, for routes with Gateway
// parents, what gateway.Resolve made of m (res; nil for none).
func targets(m *model.Mesh, byObject map[objectKey][]translate.Problem, res *gateway.Resolution) []target {
	var out []target
	problems := func(kind string, o client.Object) []translate.Problem {
		return byObject[objectKey{kind, o.GetNamespace(), o.GetName()}]
	}
	policy := func(kind string, o client.Object, empty func() client.Object, conds func(client.Object) *[]metav1.Condition) target {
		desired := policyConditions(kind, o.GetGeneration(), problems(kind, o))
		return target{kind: kind, obj: o, empty: empty, apply: func(x client.Object, now metav1.Time) bool {
			c := conds(x)
			if c == nil || newerThan(*c, policyTypes, o.GetGeneration()) {
				return false
			}
			merged, changed := mergeConditions(*c, desired, policyTypes, now)
			*c = merged
			return changed
		}}
	}
	for i := range m.Policies.PeerAuthentications {
		out = append(out, policy(kindPeerAuthentication, &m.Policies.PeerAuthentications[i],
			func() client.Object { return &v1alpha1.PeerAuthentication{} },
			func(x client.Object) *[]metav1.Condition {
				if p, ok := x.(*v1alpha1.PeerAuthentication); ok {
					return &p.Status.Conditions
				}
				return nil
			}))
	}
	for i := range m.Policies.AuthorizationPolicies {
		out = append(out, policy(kindAuthorizationPolicy, &m.Policies.AuthorizationPolicies[i],
			func() client.Object { return &v1alpha1.AuthorizationPolicy{} },
			func(x client.Object) *[]metav1.Condition {
				if p, ok := x.(*v1alpha1.AuthorizationPolicy); ok {
					return &p.Status.Conditions
				}
				return nil
			}))
	}
	for i := range m.Policies.TrafficPolicies {
		out = append(out, policy(kindTrafficPolicy, &m.Policies.TrafficPolicies[i],
			func() client.Object { return &v1alpha1.TrafficPolicy{} },
			func(x client.Object) *[]metav1.Condition {
				if p, ok := x.(*v1alpha1.TrafficPolicy); ok {
					return &p.Status.Conditions
				}
				return nil
			}))
	}

	routeTarget := func(kind string, o client.Object, r route, empty func() client.Object, parents func(client.Object) *[]gwv1.RouteParentStatus) target {
		desired := routeParents(m, r, problems(kind, o))
		ingress := gatewayParents(res, kind, o) // the ingress gateway's entries
		return target{kind: kind, obj: o, empty: empty, apply: func(x client.Object, now metav1.Time) bool {
			p := parents(x)
			if p == nil || parentsNewerThan(*p, r.generation) || parentsOfNewerThan(gateway.ControllerName, *p, r.generation) {
				return false
			}
			merged, changed := mergeParents(*p, desired, now)
			merged, ingressChanged := mergeParentsOf(gateway.ControllerName, merged, ingress, now)
			*p = merged
			return changed || ingressChanged
		}}
	}
	for i := range m.Policies.HTTPRoutes {
		hr := &m.Policies.HTTPRoutes[i]
		r := route{namespace: hr.Namespace, generation: hr.Generation, parents: hr.Spec.ParentRefs, rules: len(hr.Spec.Rules)}
		out = append(out, routeTarget(kindHTTPRoute, hr, r,
			func() client.Object { return &gwv1.HTTPRoute{} },
			func(x client.Object) *[]gwv1.RouteParentStatus {
				if r, ok := x.(*gwv1.HTTPRoute); ok {
					return &r.Status.Parents
				}
				return nil
			}))
	}
	for i := range m.Policies.GRPCRoutes {
		gr := &m.Policies.GRPCRoutes[i]
		r := route{namespace: gr.Namespace, generation: gr.Generation, parents: gr.Spec.ParentRefs, rules: len(gr.Spec.Rules)}
		out = append(out, routeTarget(kindGRPCRoute, gr, r,
			func() client.Object { return &gwv1.GRPCRoute{} },
			func(x client.Object) *[]gwv1.RouteParentStatus {
				if r, ok := x.(*gwv1.GRPCRoute); ok {
					return &r.Status.Parents
				}
				return nil
			}))
	}
	return out
}
