package translate

import (
	"fmt"
	"slices"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// Problem kinds of checkPolicies (the reasons are in traffic.go's set).
const (
	kindPeerAuthentication  = "PeerAuthentication"
	kindAuthorizationPolicy = "AuthorizationPolicy"
)

// checkPolicies reports PeerAuthentication and AuthorizationPolicy
// problems: policies that lose to another at the same level, port-level
// modes for ports no selected workload serves, services whose endpoints
// mix DISABLE with mTLS, rules a TCP port cannot evaluate, and rules the
// translator cannot map at all (which make Proxy fail).
func checkPolicies(m *model.Mesh) []Problem {
	var out []Problem
	out = append(out, checkPeerAuthConflicts(m)...)
	out = append(out, checkPortLevelMTLS(m)...)
	out = append(out, checkMixedModes(m)...)
	out = append(out, checkAuthorization(m)...)
	return out
}

// checkPeerAuthConflicts reports every PeerAuthentication that sets a mode
// at the same level as one before it by name, for a namespace (no
// selector) or for a workload (selector, or one port).
func checkPeerAuthConflicts(m *model.Mesh) []Problem {
	var out []Problem
	loses := func(loser, winner *v1alpha1.PeerAuthentication, what string) {
		out = append(out, Problem{
			Kind: kindPeerAuthentication, Namespace: loser.Namespace, Name: loser.Name, Reason: reasonConflicted,
			Message: fmt.Sprintf("conflicts with %s/%s, which comes first by name and decides %s; this policy is ignored there",
				winner.Namespace, winner.Name, what),
		})
	}

	// Namespace defaults, whether or not the namespace has workloads.
	defaults := map[string]*v1alpha1.PeerAuthentication{}
	for i := range m.Policies.PeerAuthentications {
		pa := &m.Policies.PeerAuthentications[i]
		if pa.Spec.Selector != nil || !setsMode(pa.Spec.MTLS) {
			continue
		}
		winner, ok := defaults[pa.Namespace]
		if !ok {
			defaults[pa.Namespace] = pa
			continue
		}
		what := "the namespace's default mode"
		if pa.Namespace == v1alpha1.RootNamespace {
			what = "the mesh-wide default mode"
		}
		loses(pa, winner, what)
	}

	// Selecting policies, per workload and per port: none, no work (a
	// mesh of thousands of workloads checks on every change).
	if !slices.ContainsFunc(m.Policies.PeerAuthentications, func(pa v1alpha1.PeerAuthentication) bool { return pa.Spec.Selector != nil }) {
		return out
	}
	for i := range m.Workloads {
		w := &m.Workloads[i]
		byLevel := map[peerAuthLevel]*v1alpha1.PeerAuthentication{}
		byPort := map[uint32]*v1alpha1.PeerAuthentication{}
		for j := range m.Policies.PeerAuthentications {
			pa := &m.Policies.PeerAuthentications[j]
			if pa.Spec.Selector == nil || !peerAuthCovers(pa, w) {
				continue
			}
			for _, pl := range pa.Spec.PortLevelMTLS {
				port := uint32(pl.Port) //nolint:gosec // validated 1-65535
				if !setsMode(&v1alpha1.MutualTLS{Mode: pl.Mode}) {
					continue
				}
				if winner, ok := byPort[port]; ok {
					loses(pa, winner, fmt.Sprintf("the mode of port %d of the workloads both select", port))
				} else {
					byPort[port] = pa
				}
			}
			if !setsMode(pa.Spec.MTLS) {
				continue
			}
			level := levelOf(pa, w)
			if winner, ok := byLevel[level]; ok {
				loses(pa, winner, "the mode of the workloads both select")
			} else {
				byLevel[level] = pa
			}
		}
	}
	return out
}

// checkPortLevelMTLS reports portLevelMtls entries that change nothing: a
// port that none of the (at least one) selected workloads serves, or any
// entry of a policy without a selector.
func checkPortLevelMTLS(m *model.Mesh) []Problem {
	var out []Problem
	for i := range m.Policies.PeerAuthentications {
		pa := &m.Policies.PeerAuthentications[i]
		if len(pa.Spec.PortLevelMTLS) == 0 {
			continue
		}
		report := func(msg string) {
			out = append(out, Problem{Kind: kindPeerAuthentication, Namespace: pa.Namespace, Name: pa.Name, Reason: reasonNotApplicable, Message: msg})
		}
		if pa.Spec.Selector == nil {
			report("portLevelMtls needs a selector; it is ignored")
			continue
		}
		served := map[uint32]bool{}
		selected := 0
		for j := range m.Workloads {
			w := &m.Workloads[j]
			if !peerAuthCovers(pa, w) {
				continue
			}
			selected++
			for _, p := range w.Ports {
				served[p.Port] = true
			}
		}
		if selected == 0 {
			continue // nothing selected yet is normal (a scaled-down app)
		}
		for _, pl := range pa.Spec.PortLevelMTLS {
			if !served[uint32(pl.Port)] { //nolint:gosec // validated 1-65535
				report(fmt.Sprintf("portLevelMtls port %d: none of the %d workloads the policy selects serves that port", pl.Port, selected))
			}
		}
	}
	return out
}

// checkMixedModes reports, against the PeerAuthentication that disables
// mTLS, each endpoint of a service port whose other endpoints keep it:
// mesh clients keep mTLS and leave that endpoint out (upstreamEndpoints).
func checkMixedModes(m *model.Mesh) []Problem {
	var out []Problem
	if len(m.Policies.PeerAuthentications) == 0 {
		// Only a PeerAuthentication is reported (modeSource), and without
		// one no endpoint runs DISABLE but proxyless ones, which have none.
		return nil
	}
	for i := range m.Services {
		svc := &m.Services[i]
		for _, sp := range svc.Ports {
			eps := m.Endpoints(svc, sp)
			kept, plaintext := upstreamEndpoints(m, eps)
			if plaintext || len(kept) == len(eps) {
				continue
			}
			for _, ep := range eps {
				w := m.Workload(ep.Workload)
				port := uint32(ep.Address.Port())
				pa := modeSource(m, w, port)
				if w == nil || pa == nil || m.MTLSMode(w, port) != v1alpha1.MTLSDisable {
					continue
				}
				out = append(out, Problem{
					Kind: kindPeerAuthentication, Namespace: pa.Namespace, Name: pa.Name, Reason: reasonMixedMTLSModes,
					Message: fmt.Sprintf("service %s port %d: workload %s runs DISABLE on port %d and other endpoints do not; mesh clients keep mTLS and leave it out",
						svc.Key(), sp.Port, ep.Workload, port),
				})
			}
		}
	}
	return out
}

// checkAuthorization reports rules the translator cannot map, and the
// parts of rules that a declared-TCP port cannot evaluate (tcpRule).
// Sniffed ports are not reported: their HTTP traffic is evaluated in
// full, and other traffic has no method, path or host to match.
func checkAuthorization(m *model.Mesh) []Problem {
	var out []Problem
	report := func(ap *v1alpha1.AuthorizationPolicy, reason, msg string) {
		out = append(out, Problem{Kind: kindAuthorizationPolicy, Namespace: ap.Namespace, Name: ap.Name, Reason: reason, Message: msg})
	}
	for i := range m.Policies.AuthorizationPolicies {
		ap := &m.Policies.AuthorizationPolicies[i]
		action, _, err := policyAction(ap)
		if err != nil {
			report(ap, reasonInvalid, err.Error())
			continue
		}
		for j, rule := range ap.Spec.Rules {
			if _, err := rbacPolicy(m.TrustDomain, ap.Namespace, action, rule); err != nil {
				report(ap, reasonInvalid, fmt.Sprintf("rules[%d]: %v", j, err))
			}
		}
	}
	if len(m.Policies.AuthorizationPolicies) == 0 {
		return out // no rule for a TCP port to miss
	}
	for i := range m.Workloads {
		w := &m.Workloads[i]
		for _, p := range w.Ports {
			if proto := m.InboundProtocol(w, p); proto.IsHTTP() || proto == model.ProtocolAuto {
				continue
			}
			for _, ap := range m.AuthorizationPolicies(w) {
				action, _, err := policyAction(ap)
				if err != nil {
					continue // reported above
				}
				for j, rule := range ap.Spec.Rules {
					if msg := tcpRule(rule, action, p.Port).describe(action, fmt.Sprintf("rules[%d]", j), p.Port); msg != "" {
						report(ap, reasonNotApplicable, msg)
					}
				}
			}
		}
	}
	return out
}

// peerAuthLevel is how specific a PeerAuthentication is for one workload,
// most specific first, as model.Mesh.MTLSMode ranks them.
type peerAuthLevel int

const (
	levelWorkload peerAuthLevel = iota
	levelNamespace
	levelMeshWorkload
	levelMesh
)

// levelOf is the level of pa, which covers w.
func levelOf(pa *v1alpha1.PeerAuthentication, w *model.Workload) peerAuthLevel {
	root := pa.Namespace == v1alpha1.RootNamespace && w.Namespace != v1alpha1.RootNamespace
	switch {
	case root && pa.Spec.Selector != nil:
		return levelMeshWorkload
	case root:
		return levelMesh
	case pa.Spec.Selector != nil:
		return levelWorkload
	default:
		return levelNamespace
	}
}

// peerAuthCovers reports whether pa applies to w, as model.Mesh.MTLSMode
// decides it: same namespace (or the root namespace) and a matching
// selector, if any.
func peerAuthCovers(pa *v1alpha1.PeerAuthentication, w *model.Workload) bool {
	if pa.Namespace != w.Namespace && pa.Namespace != v1alpha1.RootNamespace {
		return false
	}
	if pa.Spec.Selector == nil {
		return true
	}
	for k, v := range pa.Spec.Selector.MatchLabels {
		if got, ok := w.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// modeSource returns the PeerAuthentication whose mode model.Mesh.MTLSMode
// applies to port port of w, or nil for the PERMISSIVE default.
func modeSource(m *model.Mesh, w *model.Workload, port uint32) *v1alpha1.PeerAuthentication {
	if w == nil {
		return nil
	}
	var portLevel *v1alpha1.PeerAuthentication
	byLevel := map[peerAuthLevel]*v1alpha1.PeerAuthentication{}
	for i := range m.Policies.PeerAuthentications {
		pa := &m.Policies.PeerAuthentications[i]
		if !peerAuthCovers(pa, w) {
			continue
		}
		if pa.Spec.Selector != nil && portLevel == nil {
			for _, pl := range pa.Spec.PortLevelMTLS {
				if uint32(pl.Port) == port && setsMode(&v1alpha1.MutualTLS{Mode: pl.Mode}) { //nolint:gosec // validated 1-65535
					portLevel = pa
				}
			}
		}
		if level := levelOf(pa, w); setsMode(pa.Spec.MTLS) && byLevel[level] == nil {
			byLevel[level] = pa
		}
	}
	if portLevel != nil {
		return portLevel
	}
	for level := levelWorkload; level <= levelMesh; level++ {
		if pa := byLevel[level]; pa != nil {
			return pa
		}
	}
	return nil
}

// setsMode reports whether t sets a mode rather than inheriting one.
func setsMode(t *v1alpha1.MutualTLS) bool {
	return t != nil && t.Mode != "" && t.Mode != v1alpha1.MTLSUnset
}
