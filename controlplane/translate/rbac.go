package translate

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbachttp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacnetwork "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// actionOrder is the order of a chain's RBAC filters: audit first, so that
// a request a DENY refuses is still logged, then DENY, then ALLOW.
var actionOrder = []v1alpha1.AuthorizationAction{v1alpha1.ActionAudit, v1alpha1.ActionDeny, v1alpha1.ActionAllow}

// rbacRules returns the RBAC configurations the policies (those covering
// one workload) put on one of its chains for workload port port, in
// filter order, one per action some policy has. On a TCP chain (tcp true)
// each rule is first reduced to what TCP can evaluate (tcpRule).
func rbacRules(td spiffeid.TrustDomain, policies []*v1alpha1.AuthorizationPolicy, port uint32, tcp bool) ([]*rbacv3.RBAC, error) {
	byAction := make(map[v1alpha1.AuthorizationAction]*rbacv3.RBAC, len(actionOrder))
	for _, ap := range policies {
		action, envoyAction, err := policyAction(ap)
		if err != nil {
			return nil, err
		}
		r := byAction[action]
		if r == nil {
			r = &rbacv3.RBAC{Action: envoyAction, Policies: map[string]*rbacv3.Policy{}}
			byAction[action] = r
		}
		for i, rule := range ap.Spec.Rules {
			if tcp {
				red := tcpRule(rule, action, port)
				if !red.keep {
					continue
				}
				rule = red.rule
			}
			p, err := rbacPolicy(td, ap.Namespace, action, rule)
			if err != nil {
				return nil, fmt.Errorf("authorization policy %s/%s rules[%d]: %w", ap.Namespace, ap.Name, i, err)
			}
			r.Policies[ruleKey(ap, i)] = p
		}
	}
	var out []*rbacv3.RBAC
	for _, a := range actionOrder {
		if r := byAction[a]; r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// ruleKey is the RBAC policy key of rule i of ap: "<namespace>/<name>/rules[<i>]".
func ruleKey(ap *v1alpha1.AuthorizationPolicy, i int) string {
	return fmt.Sprintf("%s/%s/rules[%d]", ap.Namespace, ap.Name, i)
}

// policyAction is ap's action (ALLOW when unset) and its RBAC action.
func policyAction(ap *v1alpha1.AuthorizationPolicy) (v1alpha1.AuthorizationAction, rbacv3.RBAC_Action, error) {
	switch ap.Spec.Action {
	case v1alpha1.ActionAllow, "":
		return v1alpha1.ActionAllow, rbacv3.RBAC_ALLOW, nil
	case v1alpha1.ActionDeny:
		return v1alpha1.ActionDeny, rbacv3.RBAC_DENY, nil
	case v1alpha1.ActionAudit:
		return v1alpha1.ActionAudit, rbacv3.RBAC_LOG, nil
	default:
		return "", 0, fmt.Errorf("authorization policy %s/%s: unknown action %q", ap.Namespace, ap.Name, ap.Spec.Action)
	}
}

// httpRBACFilters wraps rules in envoy.filters.http.rbac filters.
func httpRBACFilters(rules []*rbacv3.RBAC) ([]*hcm.HttpFilter, error) {
	out := make([]*hcm.HttpFilter, 0, len(rules))
	for _, r := range rules {
		cfg, err := typed(&rbachttp.RBAC{Rules: r})
		if err != nil {
			return nil, err
		}
		out = append(out, &hcm.HttpFilter{
			Name:       wellknown.HTTPRoleBasedAccessControl,
			ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: cfg},
		})
	}
	return out, nil
}

// networkRBACFilters wraps rules in envoy.filters.network.rbac filters
// with stat prefix statPrefix.
func networkRBACFilters(statPrefix string, rules []*rbacv3.RBAC) ([]*listener.Filter, error) {
	out := make([]*listener.Filter, 0, len(rules))
	for _, r := range rules {
		f, err := networkFilter(wellknown.RoleBasedAccessControl, &rbacnetwork.RBAC{StatPrefix: statPrefix, Rules: r})
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// withHTTPFilters returns a copy of the HTTP connection manager filter f
// with pre put before its HTTP filters (the router).
func withHTTPFilters(f *listener.Filter, pre []*hcm.HttpFilter) (*listener.Filter, error) {
	if len(pre) == 0 {
		return f, nil
	}
	m := &hcm.HttpConnectionManager{}
	if err := f.GetTypedConfig().UnmarshalTo(m); err != nil {
		return nil, fmt.Errorf("unpacking the HTTP connection manager: %w", err)
	}
	m.HttpFilters = append(append([]*hcm.HttpFilter{}, pre...), m.GetHttpFilters()...)
	return networkFilter(f.GetName(), m)
}

// rbacPolicy maps one rule to Policy{permissions: [P], principals: [Q]}
// as docs/xds.md ("Authorization") says. Rules from namespace ns name
// service accounts of ns without a namespace.
func rbacPolicy(td spiffeid.TrustDomain, ns string, action v1alpha1.AuthorizationAction, rule v1alpha1.AuthorizationRule) (*rbacv3.Policy, error) {
	perm, err := rulePermission(rule.To)
	if err != nil {
		return nil, err
	}
	princ, err := rulePrincipal(td, ns, action, rule)
	if err != nil {
		return nil, err
	}
	return &rbacv3.Policy{Permissions: []*rbacv3.Permission{perm}, Principals: []*rbacv3.Principal{princ}}, nil
}

// rulePermission is or_rules over the operations, any without them.
func rulePermission(to []v1alpha1.Operation) (*rbacv3.Permission, error) {
	if len(to) == 0 {
		return anyPermission(), nil
	}
	entries := make([]*rbacv3.Permission, 0, len(to))
	for i, op := range to {
		p, err := operationPermission(op)
		if err != nil {
			return nil, fmt.Errorf("to[%d]: %w", i, err)
		}
		entries = append(entries, p)
	}
	return orRules(entries), nil
}

// operationPermission is and_rules over op's set fields (any when none
// is), each or_rules over its values, a not field under not_rule.
func operationPermission(op v1alpha1.Operation) (*rbacv3.Permission, error) {
	var and []*rbacv3.Permission
	add := func(vals []*rbacv3.Permission, not bool) {
		if len(vals) == 0 {
			return
		}
		p := orRules(vals)
		if not {
			p = &rbacv3.Permission{Rule: &rbacv3.Permission_NotRule{NotRule: p}}
		}
		and = append(and, p)
	}
	ports, err := portPermissions(op.Ports)
	if err != nil {
		return nil, fmt.Errorf("ports: %w", err)
	}
	add(ports, false)
	if ports, err = portPermissions(op.NotPorts); err != nil {
		return nil, fmt.Errorf("notPorts: %w", err)
	}
	add(ports, true)
	add(methodPermissions(op.Methods), false)
	add(methodPermissions(op.NotMethods), true)
	paths, err := pathPermissions(op.Paths)
	if err != nil {
		return nil, fmt.Errorf("paths: %w", err)
	}
	add(paths, false)
	if paths, err = pathPermissions(op.NotPaths); err != nil {
		return nil, fmt.Errorf("notPaths: %w", err)
	}
	add(paths, true)
	add(hostPermissions(op.Hosts), false)
	add(hostPermissions(op.NotHosts), true)
	if len(and) == 0 {
		return anyPermission(), nil
	}
	return &rbacv3.Permission{Rule: &rbacv3.Permission_AndRules{AndRules: &rbacv3.Permission_Set{Rules: and}}}, nil
}

func portPermissions(ports []int32) ([]*rbacv3.Permission, error) {
	out := make([]*rbacv3.Permission, 0, len(ports))
	for _, p := range ports {
		if p < 1 || p > 65535 {
			return nil, fmt.Errorf("port %d is not within 1-65535", p)
		}
		out = append(out, &rbacv3.Permission{Rule: &rbacv3.Permission_DestinationPort{DestinationPort: uint32(p)}})
	}
	return out, nil
}

func methodPermissions(methods []string) []*rbacv3.Permission {
	out := make([]*rbacv3.Permission, 0, len(methods))
	for _, m := range methods {
		out = append(out, headerPermission(":method", rbacExactMatcher(m, false)))
	}
	return out
}

func pathPermissions(paths []v1alpha1.PathMatch) ([]*rbacv3.Permission, error) {
	out := make([]*rbacv3.Permission, 0, len(paths))
	for i, pm := range paths {
		sm := &matcher.StringMatcher{IgnoreCase: pm.IgnoreCase}
		set := 0
		if pm.Exact != "" {
			sm.MatchPattern = &matcher.StringMatcher_Exact{Exact: pm.Exact}
			set++
		}
		if pm.Prefix != "" {
			sm.MatchPattern = &matcher.StringMatcher_Prefix{Prefix: pm.Prefix}
			set++
		}
		if pm.Suffix != "" {
			sm.MatchPattern = &matcher.StringMatcher_Suffix{Suffix: pm.Suffix}
			set++
		}
		if set != 1 {
			return nil, fmt.Errorf("[%d]: set exactly one of exact, prefix and suffix", i)
		}
		out = append(out, &rbacv3.Permission{Rule: &rbacv3.Permission_UrlPath{
			UrlPath: &matcher.PathMatcher{Rule: &matcher.PathMatcher_Path{Path: sm}},
		}})
	}
	return out, nil
}

// hostPermissions match :authority without regard to case; "*.example.com"
// is the suffix ".example.com" and "*" alone any host.
func hostPermissions(hosts []string) []*rbacv3.Permission {
	out := make([]*rbacv3.Permission, 0, len(hosts))
	for _, h := range hosts {
		switch {
		case h == "*":
			out = append(out, anyPermission())
		case strings.HasPrefix(h, "*"):
			out = append(out, headerPermission(":authority", &matcher.StringMatcher{
				MatchPattern: &matcher.StringMatcher_Suffix{Suffix: h[1:]}, IgnoreCase: true,
			}))
		default:
			out = append(out, headerPermission(":authority", rbacExactMatcher(h, true)))
		}
	}
	return out
}

func headerPermission(name string, sm *matcher.StringMatcher) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_Header{Header: rbacHeaderMatcher(name, sm)}}
}

func rbacHeaderMatcher(name string, sm *matcher.StringMatcher) *route.HeaderMatcher {
	return &route.HeaderMatcher{Name: name, HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{StringMatch: sm}}
}

func rbacExactMatcher(s string, ignoreCase bool) *matcher.StringMatcher {
	return &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: s}, IgnoreCase: ignoreCase}
}

func anyPermission() *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_Any{Any: true}}
}

func orRules(ps []*rbacv3.Permission) *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_OrRules{OrRules: &rbacv3.Permission_Set{Rules: ps}}}
}

// rulePrincipal is and_ids of or_ids over the sources and one header
// principal per condition; any when the rule has neither.
func rulePrincipal(td spiffeid.TrustDomain, ns string, action v1alpha1.AuthorizationAction, rule v1alpha1.AuthorizationRule) (*rbacv3.Principal, error) {
	var and []*rbacv3.Principal
	if len(rule.From) > 0 {
		entries := make([]*rbacv3.Principal, 0, len(rule.From))
		for i, src := range rule.From {
			p, err := sourcePrincipal(td, ns, action, src)
			if err != nil {
				return nil, fmt.Errorf("from[%d]: %w", i, err)
			}
			entries = append(entries, p)
		}
		and = append(and, orIDs(entries))
	}
	for _, c := range rule.When {
		and = append(and, conditionPrincipal(c))
	}
	if len(and) == 0 {
		return anyPrincipal(), nil
	}
	return andIDs(and), nil
}

// conditionPrincipal holds when header c.Header has one of c.Values (if
// any) and none of c.NotValues.
func conditionPrincipal(c v1alpha1.Condition) *rbacv3.Principal {
	values := func(vs []string) *rbacv3.Principal {
		ids := make([]*rbacv3.Principal, 0, len(vs))
		for _, v := range vs {
			ids = append(ids, &rbacv3.Principal{Identifier: &rbacv3.Principal_Header{Header: rbacHeaderMatcher(c.Header, rbacExactMatcher(v, false))}})
		}
		return orIDs(ids)
	}
	var parts []*rbacv3.Principal
	if len(c.Values) > 0 {
		parts = append(parts, values(c.Values))
	}
	if len(c.NotValues) > 0 {
		parts = append(parts, notID(values(c.NotValues)))
	}
	switch len(parts) {
	case 0:
		return anyPrincipal()
	case 1:
		return parts[0]
	default:
		return andIDs(parts)
	}
}

// sourcePrincipal is and_ids over src's set fields (any when none is),
// each or_ids over its values. A not identity field requires a verified
// peer in ALLOW and AUDIT rules, so that plaintext never matches them.
func sourcePrincipal(td spiffeid.TrustDomain, ns string, action v1alpha1.AuthorizationAction, src v1alpha1.Source) (*rbacv3.Principal, error) {
	var and []*rbacv3.Principal
	add := func(ids []*rbacv3.Principal) {
		if len(ids) > 0 {
			and = append(and, orIDs(ids))
		}
	}
	addNot := func(ids []*rbacv3.Principal, identity bool) {
		if len(ids) == 0 {
			return
		}
		not := notID(orIDs(ids))
		if identity && action != v1alpha1.ActionDeny {
			not = andIDs([]*rbacv3.Principal{authenticated(nil), not})
		}
		and = append(and, not)
	}
	add(principalIDs(src.Principals))
	addNot(principalIDs(src.NotPrincipals), true)
	add(namespaceIDs(td, src.Namespaces))
	addNot(namespaceIDs(td, src.NotNamespaces), true)
	add(serviceAccountIDs(td, ns, src.ServiceAccounts))
	addNot(serviceAccountIDs(td, ns, src.NotServiceAccounts), true)
	ips, err := ipIDs(src.IPBlocks)
	if err != nil {
		return nil, fmt.Errorf("ipBlocks: %w", err)
	}
	add(ips)
	if ips, err = ipIDs(src.NotIPBlocks); err != nil {
		return nil, fmt.Errorf("notIpBlocks: %w", err)
	}
	addNot(ips, false)
	if len(and) == 0 {
		return anyPrincipal(), nil
	}
	return andIDs(and), nil
}

// principalIDs match SPIFFE IDs literally; a leading "*" makes a suffix, a
// trailing one a prefix, and "*" alone any verified peer.
func principalIDs(principals []string) []*rbacv3.Principal {
	out := make([]*rbacv3.Principal, 0, len(principals))
	for _, p := range principals {
		var sm *matcher.StringMatcher
		switch {
		case p == "*":
		case strings.HasPrefix(p, "*"):
			sm = &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Suffix{Suffix: p[1:]}}
		case strings.HasSuffix(p, "*"):
			sm = &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: p[:len(p)-1]}}
		default:
			sm = rbacExactMatcher(p, false)
		}
		out = append(out, authenticated(sm))
	}
	return out
}

// namespaceIDs match the SPIFFE IDs of every service account of each
// namespace.
func namespaceIDs(td spiffeid.TrustDomain, namespaces []string) []*rbacv3.Principal {
	out := make([]*rbacv3.Principal, 0, len(namespaces))
	for _, ns := range namespaces {
		out = append(out, authenticated(&matcher.StringMatcher{
			MatchPattern: &matcher.StringMatcher_Prefix{Prefix: td.IDString() + "/ns/" + ns + "/sa/"},
		}))
	}
	return out
}

// serviceAccountIDs match the SPIFFE ID of each "<namespace>/<name>", or
// "<name>" in namespace ns.
func serviceAccountIDs(td spiffeid.TrustDomain, ns string, sas []string) []*rbacv3.Principal {
	out := make([]*rbacv3.Principal, 0, len(sas))
	for _, sa := range sas {
		saNS, name, ok := strings.Cut(sa, "/")
		if !ok {
			saNS, name = ns, sa
		}
		out = append(out, authenticated(rbacExactMatcher(td.IDString()+"/ns/"+saNS+"/sa/"+name, false)))
	}
	return out
}

func ipIDs(blocks []string) ([]*rbacv3.Principal, error) {
	out := make([]*rbacv3.Principal, 0, len(blocks))
	for _, b := range blocks {
		r, err := rbacCidrRange(b)
		if err != nil {
			return nil, err
		}
		out = append(out, &rbacv3.Principal{Identifier: &rbacv3.Principal_DirectRemoteIp{DirectRemoteIp: r}})
	}
	return out, nil
}

// cidrRange parses an IP (a /32 or /128) or a CIDR, masked to its prefix.
func rbacCidrRange(s string) (*core.CidrRange, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return nil, fmt.Errorf("%q is not an IP or a CIDR: %w", s, err)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP or a CIDR: %w", s, err)
		}
		if a.Zone() != "" {
			return nil, errors.New("an IP block cannot have a zone")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	p = p.Masked()
	return &core.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))}, nil //nolint:gosec // Bits is 0-128
}

// authenticated matches a verified peer whose SPIFFE ID sm matches (any
// verified peer when sm is nil).
func authenticated(sm *matcher.StringMatcher) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Authenticated_{
		Authenticated: &rbacv3.Principal_Authenticated{PrincipalName: sm},
	}}
}

func anyPrincipal() *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Any{Any: true}}
}

func orIDs(ids []*rbacv3.Principal) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_OrIds{OrIds: &rbacv3.Principal_Set{Ids: ids}}}
}

func andIDs(ids []*rbacv3.Principal) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_AndIds{AndIds: &rbacv3.Principal_Set{Ids: ids}}}
}

func notID(id *rbacv3.Principal) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_NotId{NotId: id}}
}
