package status

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
)

// ControllerName is the controllerName of the status.parents entries the
// Writer keeps on routes attached to Services (Gateway API's GAMMA
// pattern). The ingress gateway, a different controller, uses its own.
const ControllerName gwv1.GatewayController = "weft.dev/mesh-controller"

// ConditionPartiallyInvalid is Gateway API's route condition for a route
// with both valid and invalid rules.
const ConditionPartiallyInvalid = string(gwv1.RouteConditionPartiallyInvalid)

// routeTypes are the condition types the Writer owns in its
// status.parents entries.
var routeTypes = []string{ConditionAccepted, ConditionResolvedRefs, ConditionPartiallyInvalid}

// translate.Check names the parentRef or the rule a route Problem is about
// with these message prefixes (check_routes.go); parentProblems' test
// pins them.
var (
	parentPrefix = regexp.MustCompile(`^parentRefs\[(\d+)\]: `)
	rulePrefix   = regexp.MustCompile(`^rules\[(\d+)\]: `)
)

// routeFindings sorts a route's Problems by what they are about.
type routeFindings struct {
	parents map[int][]translate.Problem
	rules   map[int][]translate.Problem
	route   []translate.Problem // about neither one parentRef nor one rule
}

func sortFindings(probs []translate.Problem) routeFindings {
	f := routeFindings{parents: map[int][]translate.Problem{}, rules: map[int][]translate.Problem{}}
	for _, p := range probs {
		if m := parentPrefix.FindStringSubmatch(p.Message); m != nil {
			i, _ := strconv.Atoi(m[1])
			f.parents[i] = append(f.parents[i], p)
			continue
		}
		if m := rulePrefix.FindStringSubmatch(p.Message); m != nil {
			i, _ := strconv.Atoi(m[1])
			f.rules[i] = append(f.rules[i], p)
			continue
		}
		f.route = append(f.route, p)
	}
	return f
}

// route is what routeParents needs of an HTTPRoute or a GRPCRoute.
type route struct {
	namespace  string
	generation int64
	parents    []gwv1.ParentReference
	rules      int // number of rules
}

// isMeshParent reports whether the Writer answers for parentRef ref: a
// Service, or a kind Service with a group that makes it name nothing.
func isMeshParent(ref gwv1.ParentReference) bool {
	return model.IsServiceParent(ref) || (ref.Kind != nil && *ref.Kind == "Service")
}

// routeParents returns the status.parents entries the Writer wants on
// route r with Problems probs (its own), in parentRef order; their
// conditions' lastTransitionTime is left for mergeParents.
func routeParents(m *model.Mesh, r route, probs []translate.Problem) []gwv1.RouteParentStatus {
	f := sortFindings(probs)
	applied := make([]bool, len(r.parents))
	for i, ref := range r.parents {
		applied[i] = appliesToHTTPPort(m, r.namespace, ref)
	}
	anyApplied := slices.Contains(applied, true)

	// Rules are checked when the route applies somewhere.
	var invalid []int
	var unresolved []translate.Problem
	for j := range r.rules {
		for _, p := range f.rules[j] {
			switch p.Reason {
			case reasonBackendNotFound, reasonInvalidKind:
				unresolved = append(unresolved, p)
			default:
				if !slices.Contains(invalid, j) {
					invalid = append(invalid, j)
				}
			}
		}
	}
	cond := func(typ string, ok bool, reason, msg string) metav1.Condition {
		s := metav1.ConditionTrue
		if !ok {
			s = metav1.ConditionFalse
		}
		return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: truncate(msg), ObservedGeneration: r.generation}
	}

	var out []gwv1.RouteParentStatus
	for i, ref := range r.parents {
		if !isMeshParent(ref) {
			continue
		}
		var conds []metav1.Condition
		notes := append(slices.Clone(f.parents[i]), f.route...)
		switch {
		case !applied[i]:
			msg := messages(notes)
			if msg == "" {
				msg = "The parentRef names no HTTP port of a Service."
			}
			conds = append(conds, cond(ConditionAccepted, false, reasonNoMatchingParent, msg))
		case r.rules > 0 && len(invalid) == r.rules:
			conds = append(conds, cond(ConditionAccepted, false, reasonUnsupportedValue, ruleMessages(f, invalid, false)))
		default:
			msg := "The route is applied to the Service."
			if len(notes) > 0 {
				msg += " " + messages(notes)
			}
			conds = append(conds, cond(ConditionAccepted, true, ReasonAccepted, msg))
		}
		switch {
		case !anyApplied:
		case len(unresolved) > 0:
			conds = append(conds, cond(ConditionResolvedRefs, false, firstReason(unresolved, []string{reasonBackendNotFound, reasonInvalidKind}), messages(unresolved)))
		default:
			conds = append(conds, cond(ConditionResolvedRefs, true, ReasonResolvedRefs, "Every backendRef names a Service port."))
		}
		if applied[i] && len(invalid) > 0 && len(invalid) < r.rules {
			conds = append(conds, cond(ConditionPartiallyInvalid, true, reasonUnsupportedValue, ruleMessages(f, invalid, true)))
		}
		out = append(out, gwv1.RouteParentStatus{ParentRef: ref, ControllerName: ControllerName, Conditions: conds})
	}
	return out
}

// ruleMessages describes the invalid rules; dropped prefixes it as
// Gateway API requires of PartiallyInvalid.
func ruleMessages(f routeFindings, invalid []int, dropped bool) string {
	var b strings.Builder
	if dropped {
		names := make([]string, 0, len(invalid))
		for _, j := range invalid {
			names = append(names, fmt.Sprintf("rules[%d]", j))
		}
		fmt.Fprintf(&b, "Dropped Rule(s) %s: requests they match get HTTP 500. ", strings.Join(names, ", "))
	}
	var probs []translate.Problem
	for _, j := range invalid {
		for _, p := range f.rules[j] {
			if p.Reason != reasonBackendNotFound && p.Reason != reasonInvalidKind {
				probs = append(probs, p)
			}
		}
	}
	b.WriteString(messages(probs))
	return b.String()
}

// appliesToHTTPPort reports whether Service parentRef ref of a route in
// namespace ns names a Service of m with an HTTP (or sniffed) port it
// covers, as translate's checkRoute decides.
func appliesToHTTPPort(m *model.Mesh, ns string, ref gwv1.ParentReference) bool {
	if !model.IsServiceParent(ref) {
		return false
	}
	key := model.NamespacedName{Namespace: ns, Name: string(ref.Name)}
	if ref.Namespace != nil {
		key.Namespace = string(*ref.Namespace)
	}
	svc := m.Service(key)
	if svc == nil {
		return false
	}
	for _, sp := range svc.Ports {
		if !model.SelectsServicePort(ref, sp) {
			continue
		}
		if p := model.PortProtocol(sp); p.IsHTTP() || p == model.ProtocolAuto {
			return true
		}
	}
	return false
}

// mergeParents returns existing with desired merged in: entries of other
// controllers kept in place, ours updated in place (conditions merged as
// mergeConditions does), ours for parentRefs no longer desired removed,
// and new ones appended. It reports whether anything changed.
func mergeParents(existing, desired []gwv1.RouteParentStatus, now metav1.Time) ([]gwv1.RouteParentStatus, bool) {
	return mergeParentsOf(ControllerName, existing, desired, now)
}

// mergeParentsOf is mergeParents for the entries of controller (the
// mesh's, or the ingress gateway's).
func mergeParentsOf(controller gwv1.GatewayController, existing, desired []gwv1.RouteParentStatus, now metav1.Time) ([]gwv1.RouteParentStatus, bool) {
	out := make([]gwv1.RouteParentStatus, 0, len(existing)+len(desired))
	used := make([]bool, len(desired))
	changed := false
	for _, e := range existing {
		if e.ControllerName != controller {
			out = append(out, e)
			continue
		}
		i := slices.IndexFunc(desired, func(d gwv1.RouteParentStatus) bool { return sameParent(d.ParentRef, e.ParentRef) })
		if i < 0 || used[i] {
			changed = true // a parentRef that is gone, or a duplicate entry
			continue
		}
		used[i] = true
		conds, c := mergeConditions(e.Conditions, desired[i].Conditions, routeTypes, now)
		changed = changed || c
		e.Conditions = conds
		out = append(out, e)
	}
	for i, d := range desired {
		if used[i] {
			continue
		}
		d.Conditions, _ = mergeConditions(nil, d.Conditions, routeTypes, now)
		out = append(out, d)
		changed = true
	}
	return out, changed
}

// parentsNewerThan is newerThan for our status.parents entries.
func parentsNewerThan(parents []gwv1.RouteParentStatus, gen int64) bool {
	return parentsOfNewerThan(ControllerName, parents, gen)
}

// parentsOfNewerThan is newerThan for controller's status.parents entries.
func parentsOfNewerThan(controller gwv1.GatewayController, parents []gwv1.RouteParentStatus, gen int64) bool {
	return slices.ContainsFunc(parents, func(p gwv1.RouteParentStatus) bool {
		return p.ControllerName == controller && newerThan(p.Conditions, routeTypes, gen)
	})
}

// sameParent compares two parentRefs, with Gateway API's defaults for an
// unset group and kind.
func sameParent(a, b gwv1.ParentReference) bool {
	str := func(p *string, def string) string {
		if p == nil {
			return def
		}
		return *p
	}
	group := func(r gwv1.ParentReference) string { return str((*string)(r.Group), gwv1.GroupName) }
	kind := func(r gwv1.ParentReference) string { return str((*string)(r.Kind), "Gateway") }
	ns := func(r gwv1.ParentReference) string { return str((*string)(r.Namespace), "") }
	section := func(r gwv1.ParentReference) string { return str((*string)(r.SectionName), "") }
	port := func(r gwv1.ParentReference) int32 {
		if r.Port == nil {
			return 0
		}
		return *r.Port
	}
	return group(a) == group(b) && kind(a) == kind(b) && ns(a) == ns(b) && a.Name == b.Name &&
		section(a) == section(b) && port(a) == port(b)
}
