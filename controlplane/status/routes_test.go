package status

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
)

// TestRouteParents runs translate.Check on routes and checks the
// status.parents entries computed from its Problems: this also pins the
// message prefixes (parentRefs[i], rules[j]) the attribution relies on.
func TestRouteParents(t *testing.T) {
	gateway := gwv1.ParentReference{Name: "ingress"} // a Gateway: not ours
	wrongGroup := serviceParent("web", 80)
	wrongGroup.Group = ptr(gwv1.Group(gwv1.GroupName))

	type parent struct {
		name  string // Service
		wants []want
	}
	for _, tc := range []struct {
		name  string
		route gwv1.HTTPRoute
		want  []parent
	}{
		{"valid", httpRoute("r", []gwv1.ParentReference{serviceParent("web", 80)}, backend("web", 80)), []parent{
			{"web", []want{{ConditionAccepted, "True", "Accepted"}, {ConditionResolvedRefs, "True", "ResolvedRefs"}, {ConditionPartiallyInvalid, "", ""}}},
		}},
		{"missing backend", httpRoute("r", []gwv1.ParentReference{serviceParent("web", 0)}, backend("web", 80), backend("nothing", 80)), []parent{
			{"web", []want{{ConditionAccepted, "True", "Accepted"}, {ConditionResolvedRefs, "False", "BackendNotFound"}}},
		}},
		{"TCP port", httpRoute("r", []gwv1.ParentReference{serviceParent("db", 5432)}, backend("db", 5432)), []parent{
			{"db", []want{{ConditionAccepted, "False", "NoMatchingParent"}, {ConditionResolvedRefs, "", ""}}},
		}},
		{"missing parent next to a good one", httpRoute("r", []gwv1.ParentReference{serviceParent("web", 80), serviceParent("nothing", 80), gateway}, backend("web", 80)), []parent{
			{"web", []want{{ConditionAccepted, "True", "Accepted"}, {ConditionResolvedRefs, "True", "ResolvedRefs"}}},
			{"nothing", []want{{ConditionAccepted, "False", "NoMatchingParent"}, {ConditionResolvedRefs, "True", "ResolvedRefs"}}},
		}},
		{"missing port", httpRoute("r", []gwv1.ParentReference{serviceParent("web", 81)}, backend("web", 80)), []parent{
			{"web", []want{{ConditionAccepted, "False", "NoMatchingParent"}, {ConditionResolvedRefs, "", ""}}},
		}},
		{"sectionName naming the port", httpRoute("r", []gwv1.ParentReference{section(serviceParent("web", 0), "http")}, backend("web", 80)), []parent{
			{"web", []want{{ConditionAccepted, "True", "Accepted"}, {ConditionResolvedRefs, "True", "ResolvedRefs"}}},
		}},
		{"sectionName naming no port", httpRoute("r", []gwv1.ParentReference{section(serviceParent("web", 0), "admin")}, backend("web", 80)), []parent{
			{"web", []want{{ConditionAccepted, "False", "NoMatchingParent"}, {ConditionResolvedRefs, "", ""}}},
		}},
		{"kind Service in Gateway API's group", httpRoute("r", []gwv1.ParentReference{wrongGroup}, backend("web", 80)), []parent{
			{"web", []want{{ConditionAccepted, "False", "NoMatchingParent"}}},
		}},
		{"Gateway parent only", httpRoute("r", []gwv1.ParentReference{gateway}, backend("web", 80)), nil},
		{"one rule of two unsupported", unsupported(httpRoute("r", []gwv1.ParentReference{serviceParent("web", 80)}, backend("web", 80), backend("web", 80)), 1), []parent{
			{"web", []want{{ConditionAccepted, "True", "Accepted"}, {ConditionResolvedRefs, "True", "ResolvedRefs"}, {ConditionPartiallyInvalid, "True", "UnsupportedValue"}}},
		}},
		{"every rule unsupported", unsupported(httpRoute("r", []gwv1.ParentReference{serviceParent("web", 80)}, backend("web", 80)), 0), []parent{
			{"web", []want{{ConditionAccepted, "False", "UnsupportedValue"}, {ConditionPartiallyInvalid, "", ""}}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := testMesh([]model.Service{webService(), dbService()}, model.Policies{HTTPRoutes: []gwv1.HTTPRoute{tc.route}})
			r := &m.Policies.HTTPRoutes[0]
			got := routeParents(m, route{namespace: r.Namespace, generation: 1, parents: r.Spec.ParentRefs, rules: len(r.Spec.Rules)}, translate.Check(m))
			if len(got) != len(tc.want) {
				t.Fatalf("%d entries, want %d: %+v (problems %v)", len(got), len(tc.want), got, translate.Check(m))
			}
			for i, w := range tc.want {
				if string(got[i].ParentRef.Name) != w.name || got[i].ControllerName != ControllerName {
					t.Errorf("entry %d is for %s by %s, want %s by %s", i, got[i].ParentRef.Name, got[i].ControllerName, w.name, ControllerName)
				}
				checkConditions(t, got[i].Conditions, 1, w.wants...)
			}
			for _, e := range got {
				if c := meta.FindStatusCondition(e.Conditions, ConditionPartiallyInvalid); c != nil && !strings.HasPrefix(c.Message, "Dropped Rule") {
					t.Errorf("PartiallyInvalid message %q does not start with Dropped Rule", c.Message)
				}
			}
		})
	}
}

func TestMergeParents(t *testing.T) {
	then := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	now := metav1.NewTime(then.Add(time.Hour))
	accepted := func(ok bool) []metav1.Condition {
		s := metav1.ConditionTrue
		if !ok {
			s = metav1.ConditionFalse
		}
		return []metav1.Condition{{Type: ConditionAccepted, Status: s, Reason: "Accepted", ObservedGeneration: 1, LastTransitionTime: then}}
	}
	other := gwv1.RouteParentStatus{ParentRef: serviceParent("web", 80), ControllerName: "example.net/mesh", Conditions: accepted(false)}
	ours := func(svc string, ok bool) gwv1.RouteParentStatus {
		return gwv1.RouteParentStatus{ParentRef: serviceParent(svc, 80), ControllerName: ControllerName, Conditions: accepted(ok)}
	}

	got, changed := mergeParents([]gwv1.RouteParentStatus{ours("gone", true), other, ours("web", true)}, []gwv1.RouteParentStatus{ours("web", true), ours("new", false)}, now)
	if !changed {
		t.Fatal("changed = false")
	}
	var names []string
	for _, p := range got {
		names = append(names, string(p.ControllerName)+":"+string(p.ParentRef.Name))
	}
	if want := "example.net/mesh:web weft.dev/mesh-controller:web weft.dev/mesh-controller:new"; strings.Join(names, " ") != want {
		t.Errorf("entries %q, want %q", strings.Join(names, " "), want)
	}
	if !got[1].Conditions[0].LastTransitionTime.Equal(&then) {
		t.Error("lastTransitionTime of an unchanged condition moved")
	}

	if _, changed := mergeParents(got, []gwv1.RouteParentStatus{ours("web", true), ours("new", false)}, now); changed {
		t.Error("changed = true merging the same entries again")
	}
}

func TestSameParent(t *testing.T) {
	a := gwv1.ParentReference{Name: "gw"}
	b := gwv1.ParentReference{Group: ptr(gwv1.Group(gwv1.GroupName)), Kind: ptr(gwv1.Kind("Gateway")), Name: "gw"}
	if !sameParent(a, b) {
		t.Error("defaults not applied")
	}
	if sameParent(serviceParent("web", 80), serviceParent("web", 81)) || sameParent(serviceParent("web", 80), serviceParent("api", 80)) {
		t.Error("different parentRefs compare equal")
	}
}

func TestGRPCRouteParents(t *testing.T) {
	m := testMesh([]model.Service{webService()}, model.Policies{GRPCRoutes: []gwv1.GRPCRoute{
		grpcRoute("g", []gwv1.ParentReference{serviceParent("web", 80)}, "nothing", 80),
	}})
	r := &m.Policies.GRPCRoutes[0]
	got := routeParents(m, route{namespace: r.Namespace, generation: 1, parents: r.Spec.ParentRefs, rules: len(r.Spec.Rules)}, translate.Check(m))
	if len(got) != 1 {
		t.Fatalf("%d entries, want 1", len(got))
	}
	checkConditions(t, got[0].Conditions, 1, want{ConditionAccepted, "True", "Accepted"}, want{ConditionResolvedRefs, "False", "BackendNotFound"})
}

// section sets a parentRef's sectionName: for a Service, a port's name.
func section(ref gwv1.ParentReference, name string) gwv1.ParentReference {
	ref.SectionName = ptr(gwv1.SectionName(name))
	return ref
}
