package translate

import (
	"fmt"
	"slices"
	"strings"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// tcpReduction is what one rule becomes on a TCP chain, where methods,
// paths, hosts and request headers do not exist. It fails closed: an
// ALLOW or AUDIT rule loses the to entries that name HTTP fields (they
// match nothing) and is left out when none remains or it has when
// conditions; a DENY rule keeps only its TCP parts (it denies more).
type tcpReduction struct {
	rule v1alpha1.AuthorizationRule
	// keep is false when the rule is left out.
	keep bool
	// unevaluated lists the HTTP fields that could have mattered on the
	// port, e.g. "to[0].methods", "when"; fields of a to entry whose
	// ports exclude the port are not listed, since the entry could never
	// match there anyway.
	unevaluated []string
}

// tcpRule reduces rule, of a policy with action action, for a TCP chain
// of workload port port.
func tcpRule(rule v1alpha1.AuthorizationRule, action v1alpha1.AuthorizationAction, port uint32) tcpReduction {
	red := tcpReduction{keep: true, rule: v1alpha1.AuthorizationRule{From: rule.From}}
	relevant := len(rule.To) == 0 || slices.ContainsFunc(rule.To, func(op v1alpha1.Operation) bool { return onPort(op, port) })
	for i, op := range rule.To {
		fields := httpFields(op)
		if len(fields) == 0 {
			red.rule.To = append(red.rule.To, op)
			continue
		}
		if onPort(op, port) {
			for _, f := range fields {
				red.unevaluated = append(red.unevaluated, fmt.Sprintf("to[%d].%s", i, f))
			}
		}
		if action == v1alpha1.ActionDeny {
			red.rule.To = append(red.rule.To, v1alpha1.Operation{Ports: op.Ports, NotPorts: op.NotPorts})
		}
	}
	if len(rule.To) > 0 && len(red.rule.To) == 0 {
		red.keep = false
	}
	if len(rule.When) > 0 {
		if relevant {
			red.unevaluated = append(red.unevaluated, "when")
		}
		if action != v1alpha1.ActionDeny {
			red.keep = false
		}
	}
	return red
}

// describe says what happened to the rule, for translate.Check; empty when
// nothing that could matter on the port was lost.
func (r tcpReduction) describe(action v1alpha1.AuthorizationAction, rule string, port uint32) string {
	if len(r.unevaluated) == 0 {
		return ""
	}
	var outcome string
	switch {
	case action == v1alpha1.ActionDeny:
		outcome = "they are ignored there, so the rule denies more"
	case !r.keep:
		outcome = "the rule is left out there (it matches nothing)"
	default:
		outcome = "the to entries that name them are left out there (they match nothing)"
	}
	return fmt.Sprintf("%s on TCP port %d: %s cannot be evaluated; %s",
		rule, port, strings.Join(r.unevaluated, ", "), outcome)
}

// httpFields lists the fields of op that only HTTP requests have.
func httpFields(op v1alpha1.Operation) []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"methods", len(op.Methods) > 0},
		{"notMethods", len(op.NotMethods) > 0},
		{"paths", len(op.Paths) > 0},
		{"notPaths", len(op.NotPaths) > 0},
		{"hosts", len(op.Hosts) > 0},
		{"notHosts", len(op.NotHosts) > 0},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// onPort reports whether op's ports let it match on workload port port.
func onPort(op v1alpha1.Operation, port uint32) bool {
	has := func(ps []int32) bool {
		return slices.ContainsFunc(ps, func(p int32) bool { return p > 0 && uint32(p) == port })
	}
	return (len(op.Ports) == 0 || has(op.Ports)) && !has(op.NotPorts)
}
