package status

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weftmesh/weft/controlplane/translate"
)

// Condition types Weft sets on its policies.
const (
	// ConditionAccepted says whether the policy is applied at all.
	ConditionAccepted = "Accepted"
	// ConditionResolvedRefs says whether the policy's references (a
	// TrafficPolicy's targetRef) name existing objects.
	ConditionResolvedRefs = "ResolvedRefs"
	// ConditionPartiallyApplied is set, only while True, on a policy that
	// is applied except for what its message names.
	ConditionPartiallyApplied = "PartiallyApplied"
)

// Reasons of the conditions Weft sets that are not Problem reasons.
const (
	ReasonAccepted     = "Accepted"
	ReasonResolvedRefs = "ResolvedRefs"
)

// Problem reasons (translate's) with a meaning here.
const (
	reasonTargetNotFound   = "TargetNotFound"
	reasonInvalidKind      = "InvalidKind"
	reasonInvalid          = "Invalid"
	reasonConflicted       = "Conflicted"
	reasonBackendNotFound  = "BackendNotFound"
	reasonNoMatchingParent = "NoMatchingParent"
	reasonNotApplicable    = "NotApplicable"
	reasonUnsupportedValue = "UnsupportedValue"
)

// Kinds of the objects the Writer keeps the status of.
const (
	kindPeerAuthentication  = "PeerAuthentication"
	kindAuthorizationPolicy = "AuthorizationPolicy"
	kindTrafficPolicy       = "TrafficPolicy"
	kindHTTPRoute           = "HTTPRoute"
	kindGRPCRoute           = "GRPCRoute"
)

// rejecting are the Problem reasons that make a policy Accepted=False, in
// the order that picks the condition's reason.
var rejecting = []string{reasonInvalidKind, reasonTargetNotFound, reasonInvalid, reasonConflicted}

// refReasons are the Problem reasons about a policy's targetRef.
var refReasons = []string{reasonInvalidKind, reasonTargetNotFound}

// policyTypes are the condition types the Writer owns on a policy; it
// leaves any other type alone.
var policyTypes = []string{ConditionAccepted, ConditionResolvedRefs, ConditionPartiallyApplied}

// maxMessage keeps a condition's message under the API's 32768 bytes.
const maxMessage = 32000

// policyConditions returns the conditions a policy of kind with
// generation gen and Problems probs (its own) should carry. Their
// lastTransitionTime is left for mergeConditions.
func policyConditions(kind string, gen int64, probs []translate.Problem) []metav1.Condition {
	cond := func(typ string, ok bool, reason, msg string) metav1.Condition {
		s := metav1.ConditionTrue
		if !ok {
			s = metav1.ConditionFalse
		}
		return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: truncate(msg), ObservedGeneration: gen}
	}
	var rejects, refs, warnings []translate.Problem
	for _, p := range probs {
		switch {
		case slices.Contains(rejecting, p.Reason):
			rejects = append(rejects, p)
			if slices.Contains(refReasons, p.Reason) {
				refs = append(refs, p)
			}
		default:
			warnings = append(warnings, p)
		}
	}

	var out []metav1.Condition
	if len(rejects) > 0 {
		out = append(out, cond(ConditionAccepted, false, firstReason(rejects, rejecting), messages(rejects)))
	} else {
		out = append(out, cond(ConditionAccepted, true, ReasonAccepted, "The policy is applied."))
	}
	if kind == kindTrafficPolicy {
		if len(refs) > 0 {
			out = append(out, cond(ConditionResolvedRefs, false, firstReason(refs, refReasons), messages(refs)))
		} else {
			out = append(out, cond(ConditionResolvedRefs, true, ReasonResolvedRefs, "targetRef names an existing Service."))
		}
	}
	if len(rejects) == 0 && len(warnings) > 0 {
		out = append(out, cond(ConditionPartiallyApplied, true, warnings[0].Reason, messages(warnings)))
	}
	return out
}

// firstReason returns the first reason of order some Problem of probs has.
func firstReason(probs []translate.Problem, order []string) string {
	for _, r := range order {
		for _, p := range probs {
			if p.Reason == r {
				return r
			}
		}
	}
	return probs[0].Reason
}

// messages joins the Problems' messages.
func messages(probs []translate.Problem) string {
	msgs := make([]string, 0, len(probs))
	for _, p := range probs {
		msgs = append(msgs, p.Message)
	}
	return strings.Join(msgs, "; ")
}

func truncate(msg string) string {
	if len(msg) <= maxMessage {
		return msg
	}
	cut := maxMessage
	for cut > 0 && !isRuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + " [truncated]"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// mergeConditions returns existing with desired merged in: every condition
// type of owned not in desired removed, the others set as desired, keeping
// a condition's lastTransitionTime while its status does not change (now
// otherwise). Conditions of other types are kept as they are. It reports
// whether anything changed.
func mergeConditions(existing, desired []metav1.Condition, owned []string, now metav1.Time) ([]metav1.Condition, bool) {
	out := slices.Clone(existing)
	changed := false
	for _, typ := range owned {
		if !slices.ContainsFunc(desired, func(c metav1.Condition) bool { return c.Type == typ }) {
			changed = meta.RemoveStatusCondition(&out, typ) || changed
		}
	}
	for _, c := range desired {
		c.LastTransitionTime = now
		changed = meta.SetStatusCondition(&out, c) || changed
	}
	return out, changed
}

// newerThan reports whether one of conds of an owned type was written for
// a generation after gen: the mesh is older than what another writer saw,
// and a newer mesh is on its way.
func newerThan(conds []metav1.Condition, owned []string, gen int64) bool {
	return slices.ContainsFunc(conds, func(c metav1.Condition) bool {
		return slices.Contains(owned, c.Type) && c.ObservedGeneration > gen
	})
}
