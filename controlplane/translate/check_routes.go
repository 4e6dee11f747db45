package translate

import (
	"fmt"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// checkRoutes reports TrafficPolicy, HTTPRoute and GRPCRoute problems:
// what outboundCluster, outboundRoutes and the rule translation left out
// or turned into a 500, using the same functions.
func checkRoutes(m *model.Mesh) []Problem {
	var out []Problem
	for i := range m.Policies.TrafficPolicies {
		out = append(out, checkTrafficPolicy(m, &m.Policies.TrafficPolicies[i])...)
	}
	for i := range m.Policies.HTTPRoutes {
		r := &m.Policies.HTTPRoutes[i]
		out = append(out, checkRoute(m, kindHTTPRoute, r.Namespace, r.Name, r.Spec.ParentRefs, func(f *findings) {
			for j := range r.Spec.Rules {
				var rf findings
				translateHTTPRule(m, r.Namespace, &r.Spec.Rules[j], &rf)
				prefixFindings(f, rf, j)
			}
		})...)
	}
	for i := range m.Policies.GRPCRoutes {
		r := &m.Policies.GRPCRoutes[i]
		out = append(out, checkRoute(m, kindGRPCRoute, r.Namespace, r.Name, r.Spec.ParentRefs, func(f *findings) {
			for j := range r.Spec.Rules {
				var rf findings
				translateGRPCRule(m, r.Namespace, &r.Spec.Rules[j], &rf)
				prefixFindings(f, rf, j)
			}
		})...)
	}
	return out
}

// prefixFindings adds rule j's findings to f, naming the rule.
func prefixFindings(f *findings, rule findings, j int) {
	for _, x := range rule {
		*f = append(*f, finding{reason: x.reason, message: fmt.Sprintf("rules[%d]: %s", j, x.message)})
	}
}

// checkTrafficPolicy reports a policy whose Service is missing, one that
// another policy overrides, and values the proxy does not take.
func checkTrafficPolicy(m *model.Mesh, tp *v1alpha1.TrafficPolicy) []Problem {
	var f findings
	ref := model.NamespacedName{Namespace: tp.Namespace, Name: tp.Spec.TargetRef.Name}
	svc := m.Service(ref)
	switch {
	case tp.Spec.TargetRef.Kind != "" && tp.Spec.TargetRef.Kind != "Service":
		f.add(reasonInvalidKind, "targetRef kind %q is not Service", tp.Spec.TargetRef.Kind)
	case svc == nil:
		f.add(reasonTargetNotFound, "targetRef: no Service %s", ref)
	case m.TrafficPolicy(ref) != tp:
		f.add(reasonConflicted, "TrafficPolicy %s/%s also targets Service %s and wins (first by name); this one is ignored",
			tp.Namespace, m.TrafficPolicy(ref).Name, ref)
	default:
		// What outboundCluster and outboundRoutes leave out.
		applyTrafficPolicy(baseCluster("", 0), tp, &f)
		trafficRouteDefaults(tp, &f)
		if h := hashOn(tp); h != nil && (h.Header != "" || h.Cookie != "") {
			for _, sp := range svc.Ports {
				if p := model.PortProtocol(sp); !p.IsHTTP() && p != model.ProtocolAuto {
					f.add(reasonNotApplicable, "loadBalancer.hashOn: port %d is TCP, where only sourceIP can be hashed; its connections are spread at random", sp.Port)
				}
			}
		}
	}
	return problems(kindTrafficPolicy, tp.Namespace, tp.Name, f)
}

// checkRoute reports the Service parentRefs of a route that name nothing
// or a TCP port, and, when the route applies to some port, its rules'
// problems (rules adds them).
func checkRoute(m *model.Mesh, kind, ns, name string, parents []gwv1.ParentReference, rules func(*findings)) []Problem {
	var f findings
	applied := false
	for i, ref := range parents {
		if !model.IsServiceParent(ref) {
			// kind Service without group "" defaults to Gateway API's
			// group: a common slip that would attach to nothing silently.
			if ref.Kind != nil && *ref.Kind == "Service" {
				f.add(reasonNoMatchingParent, "parentRefs[%d]: kind Service needs group \"\" (the core group); this parentRef names nothing", i)
			}
			continue
		}
		svcRef := model.NamespacedName{Namespace: ns, Name: string(ref.Name)}
		if ref.Namespace != nil {
			svcRef.Namespace = string(*ref.Namespace)
		}
		svc := m.Service(svcRef)
		if svc == nil {
			f.add(reasonNoMatchingParent, "parentRefs[%d]: no Service %s", i, svcRef)
			continue
		}
		found := false
		for _, sp := range svc.Ports {
			if !model.SelectsServicePort(ref, sp) {
				continue
			}
			found = true
			if p := model.PortProtocol(sp); !p.IsHTTP() && p != model.ProtocolAuto {
				f.add(reasonNotApplicable, "parentRefs[%d]: port %d of Service %s is TCP; the route is not applied to it", i, sp.Port, svcRef)
				continue
			}
			applied = true
		}
		if !found && (ref.Port != nil || ref.SectionName != nil) {
			f.add(reasonNoMatchingParent, "parentRefs[%d]: Service %s has no port %s", i, svcRef, portSelection(ref))
		}
	}
	if applied {
		rules(&f)
	}
	return problems(kind, ns, name, f)
}

// portSelection describes the port a Service parentRef selects: "8080",
// "named http", "8080 named http".
func portSelection(ref gwv1.ParentReference) string {
	var parts []string
	if ref.Port != nil {
		parts = append(parts, fmt.Sprint(*ref.Port))
	}
	if ref.SectionName != nil {
		parts = append(parts, "named "+string(*ref.SectionName))
	}
	return strings.Join(parts, " ")
}

// problems names findings as Problems of one object.
func problems(kind, ns, name string, f findings) []Problem {
	out := make([]Problem, 0, len(f))
	for _, x := range f {
		out = append(out, Problem{Kind: kind, Namespace: ns, Name: name, Reason: x.reason, Message: x.message})
	}
	return out
}
