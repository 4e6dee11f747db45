package translate

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/weftmesh/weft/controlplane/model"
)

// Problem is one finding about a policy or route that the translator
// applied only in part, or not at all: what a user must be told, since
// the proxies silently run the fail-closed result. Kind is the object's
// kind (PeerAuthentication, AuthorizationPolicy, TrafficPolicy,
// HTTPRoute, GRPCRoute, TLSRoute, TCPRoute, Gateway, or Workload for a
// gateway workload whose Gateway is missing).
type Problem struct {
	Kind      string
	Namespace string
	Name      string
	// Reason is a CamelCase word for status conditions, e.g.
	// "NotApplicable", "BackendNotFound", "Conflicted".
	Reason  string
	Message string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s %s/%s: %s", p.Kind, p.Namespace, p.Name, p.Message)
}

// Reasons of Problems, the status-condition vocabulary of Gateway API
// where it has one; Check reports them and controlplane/status writes them.
const (
	reasonUnsupportedValue = "UnsupportedValue"
	reasonBackendNotFound  = "BackendNotFound"
	reasonInvalidKind      = "InvalidKind"
	reasonNotApplicable    = "NotApplicable"
	reasonTargetNotFound   = "TargetNotFound"
	reasonConflicted       = "Conflicted"
	reasonNoMatchingParent = "NoMatchingParent"
	reasonMixedMTLSModes   = "MixedMTLSModes"
	reasonInvalid          = "Invalid"
	reasonRefNotPermitted  = "RefNotPermitted"
)

// Check returns every Problem of mesh m, sorted by kind, namespace, name
// and message. It is pure, like Proxy, and agrees with what Proxy emits.
func Check(m *model.Mesh) []Problem {
	var out []Problem
	out = append(out, checkPolicies(m)...)
	out = append(out, checkRoutes(m)...)
	out = append(out, checkGateways(m)...)
	slices.SortFunc(out, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace),
			cmp.Compare(a.Name, b.Name), cmp.Compare(a.Message, b.Message))
	})
	return slices.Compact(out)
}
