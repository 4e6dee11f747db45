package rbac

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	httprbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	netrbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/weftmesh/weft/proxy/allowlist"
)

// Filter names, as in the http_filters and filters lists.
const (
	HTTPFilterName    = "envoy.filters.http.rbac"
	NetworkFilterName = "envoy.filters.network.rbac"
)

// CompileHTTP compiles the typed_config of an envoy.filters.http.rbac
// filter found at path, recording every problem in p. It returns nil when
// there was one.
func CompileHTTP(p *allowlist.Problems, path string, cfg *httprbacv3.RBAC) *Filter {
	before := p.Len()
	p.OnlyFields(path, cfg, "rules")
	f := compileRules(p, allowlist.Field(path, "rules"), cfg.GetRules(), true)
	if p.Len() > before {
		return nil
	}
	return f
}

// CompileNetwork compiles the typed_config of an envoy.filters.network.rbac
// filter found at path, recording every problem in p. It returns nil when
// there was one. A TCP connection has no HTTP request: header and
// url_path rules are refused rather than left to never match.
func CompileNetwork(p *allowlist.Problems, path string, cfg *netrbacv3.RBAC) *Filter {
	before := p.Len()
	p.OnlyFields(path, cfg, "stat_prefix", "rules")
	if cfg.GetStatPrefix() == "" {
		p.Addf(allowlist.Field(path, "stat_prefix"), "missing")
	}
	f := compileRules(p, allowlist.Field(path, "rules"), cfg.GetRules(), false)
	if p.Len() > before {
		return nil
	}
	return f
}

// Append adds f, the filter compiled from path, to the chain. A chain
// holds at most one filter per action: a second one is a problem.
func (c *Chain) Append(p *allowlist.Problems, path string, f *Filter) {
	if f == nil {
		return
	}
	for _, g := range c.filters {
		if g.action == f.action {
			p.Addf(path, "second RBAC filter with action %s on this chain", f.action)
			return
		}
	}
	c.filters = append(c.filters, f)
}

// compiler compiles the rules of one filter; http tells whether they may
// look at the HTTP request.
type compiler struct {
	p    *allowlist.Problems
	http bool
}

func compileRules(p *allowlist.Problems, path string, r *rbacv3.RBAC, http bool) *Filter {
	if r == nil {
		p.Addf(path, "missing")
		return nil
	}
	c := &compiler{p: p, http: http}
	p.OnlyFields(path, r, "action", "policies")
	f := &Filter{}
	switch r.GetAction() {
	case rbacv3.RBAC_ALLOW:
		f.action = Allow
	case rbacv3.RBAC_DENY:
		f.action = Deny
	case rbacv3.RBAC_LOG:
		f.action = Log
	default:
		p.Addf(allowlist.Field(path, "action"), "unsupported action %s", r.GetAction())
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range r.GetPolicies() {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		ppath := fmt.Sprintf("%s[%q]", allowlist.Field(path, "policies"), k)
		if pol := c.policy(ppath, r.GetPolicies()[k]); pol != nil {
			pol.key = k
			f.policies = append(f.policies, *pol)
		}
	}
	return f
}

func (c *compiler) policy(path string, pol *rbacv3.Policy) *policy {
	if pol == nil {
		c.p.Addf(path, "missing")
		return nil
	}
	c.p.OnlyFields(path, pol, "permissions", "principals")
	out := &policy{}
	if len(pol.GetPermissions()) == 0 {
		c.p.Addf(allowlist.Field(path, "permissions"), "want at least one permission")
	}
	if len(pol.GetPrincipals()) == 0 {
		c.p.Addf(allowlist.Field(path, "principals"), "want at least one principal")
	}
	for i, pm := range pol.GetPermissions() {
		out.permissions = append(out.permissions, c.permission(allowlist.Index(allowlist.Field(path, "permissions"), i), pm))
	}
	for i, id := range pol.GetPrincipals() {
		out.principals = append(out.principals, c.principal(allowlist.Index(allowlist.Field(path, "principals"), i), id))
	}
	return out
}

func (c *compiler) permission(path string, pm *rbacv3.Permission) matcher {
	if pm == nil {
		c.p.Addf(path, "missing")
		return nil
	}
	c.p.OnlyFields(path, pm, "any", "and_rules", "or_rules", "not_rule", "header", "url_path", "destination_port")
	switch r := pm.GetRule().(type) {
	case *rbacv3.Permission_Any:
		if !r.Any {
			c.p.Addf(allowlist.Field(path, "any"), "must be true")
		}
		return anyMatcher{}
	case *rbacv3.Permission_AndRules:
		return andMatcher(c.permissionSet(allowlist.Field(path, "and_rules"), r.AndRules))
	case *rbacv3.Permission_OrRules:
		return orMatcher(c.permissionSet(allowlist.Field(path, "or_rules"), r.OrRules))
	case *rbacv3.Permission_NotRule:
		return notMatcher{c.permission(allowlist.Field(path, "not_rule"), r.NotRule)}
	case *rbacv3.Permission_Header:
		return c.header(allowlist.Field(path, "header"), r.Header)
	case *rbacv3.Permission_UrlPath:
		return c.urlPath(allowlist.Field(path, "url_path"), r.UrlPath)
	case *rbacv3.Permission_DestinationPort:
		if r.DestinationPort == 0 || r.DestinationPort > 65535 {
			c.p.Addf(allowlist.Field(path, "destination_port"), "must be in [1, 65535], got %d", r.DestinationPort)
		}
		return portMatcher(uint16(min(r.DestinationPort, 65535)))
	case nil:
		c.p.Addf(path, "one of any, and_rules, or_rules, not_rule, header, url_path or destination_port is required")
	}
	return nil // other rules are reported by OnlyFields
}

func (c *compiler) permissionSet(path string, s *rbacv3.Permission_Set) []matcher {
	c.p.OnlyFields(path, s, "rules")
	if len(s.GetRules()) == 0 {
		c.p.Addf(allowlist.Field(path, "rules"), "want at least one rule")
	}
	out := make([]matcher, 0, len(s.GetRules()))
	for i, r := range s.GetRules() {
		out = append(out, c.permission(allowlist.Index(allowlist.Field(path, "rules"), i), r))
	}
	return out
}

func (c *compiler) principal(path string, id *rbacv3.Principal) matcher {
	if id == nil {
		c.p.Addf(path, "missing")
		return nil
	}
	c.p.OnlyFields(path, id, "any", "and_ids", "or_ids", "not_id", "authenticated", "direct_remote_ip", "header")
	switch r := id.GetIdentifier().(type) {
	case *rbacv3.Principal_Any:
		if !r.Any {
			c.p.Addf(allowlist.Field(path, "any"), "must be true")
		}
		return anyMatcher{}
	case *rbacv3.Principal_AndIds:
		return andMatcher(c.principalSet(allowlist.Field(path, "and_ids"), r.AndIds))
	case *rbacv3.Principal_OrIds:
		return orMatcher(c.principalSet(allowlist.Field(path, "or_ids"), r.OrIds))
	case *rbacv3.Principal_NotId:
		return notMatcher{c.principal(allowlist.Field(path, "not_id"), r.NotId)}
	case *rbacv3.Principal_Authenticated_:
		apath := allowlist.Field(path, "authenticated")
		c.p.OnlyFields(apath, r.Authenticated, "principal_name")
		m := authenticatedMatcher{}
		if sm := r.Authenticated.GetPrincipalName(); sm != nil {
			m.name = c.stringMatcher(allowlist.Field(apath, "principal_name"), sm)
		}
		return m
	case *rbacv3.Principal_DirectRemoteIp:
		return c.cidr(allowlist.Field(path, "direct_remote_ip"), r.DirectRemoteIp)
	case *rbacv3.Principal_Header:
		return c.header(allowlist.Field(path, "header"), r.Header)
	case nil:
		c.p.Addf(path, "one of any, and_ids, or_ids, not_id, authenticated, direct_remote_ip or header is required")
	}
	return nil // other identifiers are reported by OnlyFields
}

func (c *compiler) principalSet(path string, s *rbacv3.Principal_Set) []matcher {
	c.p.OnlyFields(path, s, "ids")
	if len(s.GetIds()) == 0 {
		c.p.Addf(allowlist.Field(path, "ids"), "want at least one id")
	}
	out := make([]matcher, 0, len(s.GetIds()))
	for i, id := range s.GetIds() {
		out = append(out, c.principal(allowlist.Index(allowlist.Field(path, "ids"), i), id))
	}
	return out
}

// cidr compiles direct_remote_ip. prefix_len is required: Envoy reads a
// missing one as 0, which would match every address.
func (c *compiler) cidr(path string, r *corev3.CidrRange) matcher {
	c.p.OnlyFields(path, r, "address_prefix", "prefix_len")
	addr, err := netip.ParseAddr(r.GetAddressPrefix())
	if err != nil || addr.Zone() != "" {
		c.p.Addf(allowlist.Field(path, "address_prefix"), "not an IP address: %q", r.GetAddressPrefix())
		return nil
	}
	if r.GetPrefixLen() == nil {
		c.p.Addf(allowlist.Field(path, "prefix_len"), "missing")
		return nil
	}
	addr = addr.Unmap()
	bits := r.GetPrefixLen().GetValue()
	if int(bits) > addr.BitLen() {
		c.p.Addf(allowlist.Field(path, "prefix_len"), "must be at most %d for %s, got %d", addr.BitLen(), addr, bits)
		return nil
	}
	prefix, err := addr.Prefix(int(bits))
	if err != nil {
		c.p.Wrap(allowlist.Field(path, "prefix_len"), err)
		return nil
	}
	return remoteIPMatcher{prefix: prefix}
}

// pseudoHeaders are the pseudo-headers a header rule may name.
var pseudoHeaders = []string{":method", ":authority", ":path"}

func (c *compiler) header(path string, h *routev3.HeaderMatcher) matcher {
	if !c.http {
		c.p.Addf(path, "needs an HTTP request: not supported in %s", NetworkFilterName)
		return nil
	}
	c.p.OnlyFields(path, h, "name", "string_match", "present_match")
	name := lowerASCII(h.GetName())
	switch {
	case name == "":
		c.p.Addf(allowlist.Field(path, "name"), "missing")
	case strings.HasPrefix(name, ":") && !slices.Contains(pseudoHeaders, name):
		c.p.Addf(allowlist.Field(path, "name"), "unsupported pseudo-header %q, want one of %q", name, pseudoHeaders)
	}
	m := &headerMatcher{name: name}
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_StringMatch:
		m.value = c.stringMatcher(allowlist.Field(path, "string_match"), s.StringMatch)
	case *routev3.HeaderMatcher_PresentMatch:
		m.present, m.want = true, s.PresentMatch
	case nil:
		c.p.Addf(path, "one of string_match or present_match is required")
	}
	return m
}

func (c *compiler) urlPath(path string, pm *matcherv3.PathMatcher) matcher {
	if !c.http {
		c.p.Addf(path, "needs an HTTP request: not supported in %s", NetworkFilterName)
		return nil
	}
	c.p.OnlyFields(path, pm, "path")
	if pm.GetPath() == nil {
		c.p.Addf(allowlist.Field(path, "path"), "missing")
		return nil
	}
	return pathMatcher{c.stringMatcher(allowlist.Field(path, "path"), pm.GetPath())}
}

// stringMatcher compiles exact, prefix and suffix matchers; regular
// expressions and contains are refused, so every name is literal.
func (c *compiler) stringMatcher(path string, sm *matcherv3.StringMatcher) *stringMatcher {
	c.p.OnlyFields(path, sm, "exact", "prefix", "suffix", "ignore_case")
	m := &stringMatcher{ignoreCase: sm.GetIgnoreCase()}
	switch s := sm.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		m.kind, m.value = exactMatch, s.Exact
	case *matcherv3.StringMatcher_Prefix:
		m.kind, m.value = prefixMatch, s.Prefix
		if s.Prefix == "" {
			c.p.Addf(allowlist.Field(path, "prefix"), "empty")
		}
	case *matcherv3.StringMatcher_Suffix:
		m.kind, m.value = suffixMatch, s.Suffix
		if s.Suffix == "" {
			c.p.Addf(allowlist.Field(path, "suffix"), "empty")
		}
	case nil:
		c.p.Addf(path, "one of exact, prefix or suffix is required")
	}
	if m.ignoreCase {
		m.value = lowerASCII(m.value)
	}
	return m
}
