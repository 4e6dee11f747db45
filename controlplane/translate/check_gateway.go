package translate

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/gateway"
)

// Kinds of the objects gateway Problems name.
const (
	kindGateway  = "Gateway"
	kindWorkload = "Workload"
)

// checkGateways reports what gateway.Resolve found wrong, as the status
// conditions say it (every condition that is not as it should be, see
// gateway.Healthy), the annotations of a Gateway that are ignored, the
// rules of gateway routes the proxy cannot run, and the gateway
// workloads whose Gateway is not in the mesh.
func checkGateways(m *model.Mesh) []Problem {
	var out []Problem
	for i := range m.Workloads {
		w := &m.Workloads[i]
		if w.Gateway == nil {
			continue
		}
		if key := gatewayKey(w); m.Ingress.Gateway(key) == nil {
			out = append(out, Problem{Kind: kindWorkload, Namespace: w.Namespace, Name: w.Name, Reason: reasonTargetNotFound,
				Message: fmt.Sprintf("gateway: no Gateway %s of class %s in the mesh; the proxy gets no listeners", key, gateway.ClassName)})
		}
	}
	if len(m.Ingress.Gateways) == 0 {
		return out
	}
	r := gateway.Resolve(m)
	for i := range r.Gateways {
		g := &r.Gateways[i]
		var f findings
		readGatewayOptions(g.Object, &f)
		out = append(out, problems(kindGateway, g.Object.Namespace, g.Object.Name, f)...)
		out = append(out, conditionProblems(kindGateway, g.Object.Namespace, g.Object.Name, "", g.Conditions)...)
		for _, l := range g.Listeners {
			out = append(out, conditionProblems(kindGateway, g.Object.Namespace, g.Object.Name, "listener "+string(l.Spec.Name)+": ", l.Status.Conditions)...)
		}
	}
	accepted := map[gateway.RouteKey]bool{}
	for key, parents := range r.Routes {
		for _, p := range parents {
			ns := key.Namespace
			if p.ParentRef.Namespace != nil {
				ns = string(*p.ParentRef.Namespace)
			}
			where := fmt.Sprintf("parent Gateway %s/%s", ns, p.ParentRef.Name)
			if p.ParentRef.SectionName != nil {
				where += " listener " + string(*p.ParentRef.SectionName)
			}
			out = append(out, conditionProblems(key.Kind, key.Namespace, key.Name, where+": ", p.Conditions)...)
			for _, c := range p.Conditions {
				if c.Type == string(gwv1.RouteConditionAccepted) && c.Status == metav1.ConditionTrue {
					accepted[key] = true
				}
			}
		}
	}
	// What the translation of accepted routes' rules leaves out that
	// ResolvedRefs does not say (backends are its business).
	ruleProblems := func(kind, ns, name string, translate func(j int, f *findings), rules int) {
		if !accepted[gateway.RouteKey{Kind: kind, NamespacedName: model.NamespacedName{Namespace: ns, Name: name}}] {
			return
		}
		var f findings
		for j := range rules {
			var rf findings
			translate(j, &rf)
			for _, x := range rf {
				if x.reason != reasonBackendNotFound && x.reason != reasonRefNotPermitted && x.reason != reasonInvalidKind {
					f = append(f, finding{reason: x.reason, message: fmt.Sprintf("rules[%d]: %s", j, x.message)})
				}
			}
		}
		out = append(out, problems(kind, ns, name, f)...)
	}
	for i := range m.Policies.HTTPRoutes {
		rt := &m.Policies.HTTPRoutes[i]
		ruleProblems(kindHTTPRoute, rt.Namespace, rt.Name, func(j int, f *findings) {
			translateHTTPRule(m, rt.Namespace, &rt.Spec.Rules[j], f)
		}, len(rt.Spec.Rules))
	}
	for i := range m.Policies.GRPCRoutes {
		rt := &m.Policies.GRPCRoutes[i]
		ruleProblems(kindGRPCRoute, rt.Namespace, rt.Name, func(j int, f *findings) {
			translateGRPCRule(m, rt.Namespace, &rt.Spec.Rules[j], f)
		}, len(rt.Spec.Rules))
	}
	return out
}

// conditionProblems are the conditions of one object that are not as
// they should be, each a Problem whose message reads
// "<prefix><Type>=<Status> <Reason>: <message>".
func conditionProblems(kind, ns, name, prefix string, cs []metav1.Condition) []Problem {
	var out []Problem
	for i := range cs {
		c := &cs[i]
		if gateway.Healthy(c) {
			continue
		}
		out = append(out, Problem{Kind: kind, Namespace: ns, Name: name, Reason: c.Reason,
			Message: fmt.Sprintf("%s%s=%s %s: %s", prefix, c.Type, c.Status, c.Reason, c.Message)})
	}
	return out
}
