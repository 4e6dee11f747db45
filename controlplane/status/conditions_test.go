package status

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
)

// want is one expected condition: type, status ("" for absent), reason.
type want struct{ typ, status, reason string }

func checkConditions(t *testing.T, conds []metav1.Condition, gen int64, wants ...want) {
	t.Helper()
	for _, w := range wants {
		c := meta.FindStatusCondition(conds, w.typ)
		if w.status == "" {
			if c != nil {
				t.Errorf("condition %s = %+v, want none", w.typ, *c)
			}
			continue
		}
		if c == nil {
			t.Errorf("no condition %s, want %s %s; have %+v", w.typ, w.status, w.reason, conds)
			continue
		}
		if string(c.Status) != w.status || c.Reason != w.reason || c.ObservedGeneration != gen {
			t.Errorf("condition %s = %s %s (generation %d, %q), want %s %s (generation %d)",
				w.typ, c.Status, c.Reason, c.ObservedGeneration, c.Message, w.status, w.reason, gen)
		}
	}
}

func TestPolicyConditions(t *testing.T) {
	p := func(kind, reason, msg string) translate.Problem {
		return translate.Problem{Kind: kind, Namespace: shop, Name: "p", Reason: reason, Message: msg}
	}
	for _, tc := range []struct {
		name  string
		kind  string
		probs []translate.Problem
		want  []want
	}{
		{"valid PeerAuthentication", kindPeerAuthentication, nil, []want{
			{ConditionAccepted, "True", "Accepted"}, {ConditionResolvedRefs, "", ""}, {ConditionPartiallyApplied, "", ""},
		}},
		{"valid TrafficPolicy", kindTrafficPolicy, nil, []want{
			{ConditionAccepted, "True", "Accepted"}, {ConditionResolvedRefs, "True", "ResolvedRefs"}, {ConditionPartiallyApplied, "", ""},
		}},
		{"TrafficPolicy without its Service", kindTrafficPolicy, []translate.Problem{p(kindTrafficPolicy, "TargetNotFound", "targetRef: no Service shop/x")}, []want{
			{ConditionAccepted, "False", "TargetNotFound"}, {ConditionResolvedRefs, "False", "TargetNotFound"},
		}},
		{"TrafficPolicy that loses", kindTrafficPolicy, []translate.Problem{p(kindTrafficPolicy, "Conflicted", "loses")}, []want{
			{ConditionAccepted, "False", "Conflicted"}, {ConditionResolvedRefs, "True", "ResolvedRefs"},
		}},
		{"TrafficPolicy with an unsupported value", kindTrafficPolicy, []translate.Problem{p(kindTrafficPolicy, "UnsupportedValue", "x")}, []want{
			{ConditionAccepted, "True", "Accepted"}, {ConditionPartiallyApplied, "True", "UnsupportedValue"},
		}},
		{"AuthorizationPolicy the translator cannot map", kindAuthorizationPolicy, []translate.Problem{
			p(kindAuthorizationPolicy, "NotApplicable", "a"), p(kindAuthorizationPolicy, "Invalid", "b"),
		}, []want{
			{ConditionAccepted, "False", "Invalid"}, {ConditionResolvedRefs, "", ""}, {ConditionPartiallyApplied, "", ""},
		}},
		{"AuthorizationPolicy with paths on a TCP port", kindAuthorizationPolicy, []translate.Problem{p(kindAuthorizationPolicy, "NotApplicable", "a")}, []want{
			{ConditionAccepted, "True", "Accepted"}, {ConditionPartiallyApplied, "True", "NotApplicable"},
		}},
		{"PeerAuthentication that conflicts", kindPeerAuthentication, []translate.Problem{p(kindPeerAuthentication, "Conflicted", "a")}, []want{
			{ConditionAccepted, "False", "Conflicted"},
		}},
		{"PeerAuthentication with mixed modes", kindPeerAuthentication, []translate.Problem{p(kindPeerAuthentication, "MixedMTLSModes", "a")}, []want{
			{ConditionAccepted, "True", "Accepted"}, {ConditionPartiallyApplied, "True", "MixedMTLSModes"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkConditions(t, policyConditions(tc.kind, 3, tc.probs), 3, tc.want...)
		})
	}
}

// TestPolicyConditionsFromCheck runs translate.Check on TrafficPolicies,
// so that the reasons it gives are the ones the mapping knows.
func TestPolicyConditionsFromCheck(t *testing.T) {
	m := testMesh([]model.Service{webService()}, model.Policies{TrafficPolicies: []v1alpha1.TrafficPolicy{
		trafficPolicy("a-web", "web"), trafficPolicy("b-web", "web"), trafficPolicy("missing", "nothing"),
	}})
	byName := map[string][]translate.Problem{}
	for _, p := range translate.Check(m) {
		byName[p.Name] = append(byName[p.Name], p)
	}
	for _, tc := range []struct {
		name string
		want []want
	}{
		{"a-web", []want{{ConditionAccepted, "True", "Accepted"}, {ConditionResolvedRefs, "True", "ResolvedRefs"}}},
		{"b-web", []want{{ConditionAccepted, "False", "Conflicted"}, {ConditionResolvedRefs, "True", "ResolvedRefs"}}},
		{"missing", []want{{ConditionAccepted, "False", "TargetNotFound"}, {ConditionResolvedRefs, "False", "TargetNotFound"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkConditions(t, policyConditions(kindTrafficPolicy, 1, byName[tc.name]), 1, tc.want...)
		})
	}
}

func TestMergeConditions(t *testing.T) {
	then := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	now := metav1.NewTime(then.Add(time.Hour))
	foreign := metav1.Condition{Type: "example.net/Audited", Status: "True", Reason: "Audited", LastTransitionTime: then}
	existing := []metav1.Condition{
		foreign,
		{Type: ConditionAccepted, Status: "True", Reason: "Accepted", Message: "ok", ObservedGeneration: 1, LastTransitionTime: then},
		{Type: ConditionPartiallyApplied, Status: "True", Reason: "NotApplicable", ObservedGeneration: 1, LastTransitionTime: then},
	}

	t.Run("unchanged", func(t *testing.T) {
		desired := []metav1.Condition{
			{Type: ConditionAccepted, Status: "True", Reason: "Accepted", Message: "ok", ObservedGeneration: 1},
			{Type: ConditionPartiallyApplied, Status: "True", Reason: "NotApplicable", ObservedGeneration: 1},
		}
		got, changed := mergeConditions(existing, desired, policyTypes, now)
		if changed {
			t.Errorf("changed = true for the same conditions: %+v", got)
		}
	})
	t.Run("same status, new generation", func(t *testing.T) {
		desired := []metav1.Condition{{Type: ConditionAccepted, Status: "True", Reason: "Accepted", Message: "ok", ObservedGeneration: 2}}
		got, changed := mergeConditions(existing, desired, policyTypes, now)
		if !changed {
			t.Fatal("changed = false")
		}
		acc := meta.FindStatusCondition(got, ConditionAccepted)
		if acc.ObservedGeneration != 2 || !acc.LastTransitionTime.Equal(&then) {
			t.Errorf("Accepted = %+v, want generation 2 and the old lastTransitionTime", *acc)
		}
		if meta.FindStatusCondition(got, ConditionPartiallyApplied) != nil {
			t.Error("PartiallyApplied kept, want it removed")
		}
		if c := meta.FindStatusCondition(got, foreign.Type); c == nil || *c != foreign {
			t.Errorf("another controller's condition = %v, want it untouched", c)
		}
	})
	t.Run("status flips", func(t *testing.T) {
		desired := []metav1.Condition{{Type: ConditionAccepted, Status: "False", Reason: "Invalid", Message: "bad", ObservedGeneration: 2}}
		got, _ := mergeConditions(existing, desired, policyTypes, now)
		if acc := meta.FindStatusCondition(got, ConditionAccepted); !acc.LastTransitionTime.Equal(&now) {
			t.Errorf("lastTransitionTime = %v, want %v", acc.LastTransitionTime, now)
		}
		if existing[1].Status != "True" {
			t.Error("mergeConditions changed its input")
		}
	})
}

func TestTruncate(t *testing.T) {
	long := strings.Repeat("é", maxMessage)
	got := truncate(long)
	if len(got) > maxMessage+len(" [truncated]") || !strings.HasSuffix(got, " [truncated]") {
		t.Fatalf("len %d, suffix %q", len(got), got[len(got)-20:])
	}
	if !strings.HasPrefix(long, strings.TrimSuffix(got, " [truncated]")) || !isRuneStart(got[len(got)-len(" [truncated]")-2]) {
		t.Error("truncated inside a rune")
	}
}
