package rbac_test

import (
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	httprbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	netrbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	exprv1alpha1 "google.golang.org/genproto/googleapis/api/expr/v1alpha1"

	"github.com/weftmesh/weft/proxy/allowlist"
	"github.com/weftmesh/weft/proxy/rbac"
)

// single is one policy "p" with an ALLOW action.
func single(perm *rbacv3.Permission, id *rbacv3.Principal) *rbacv3.RBAC {
	return rules(allowA, map[string]*rbacv3.Policy{"p": pol(perm, id)})
}

// TestCompileRefuses lists what the proxy refuses (NACKs), each with the
// error the control plane is shown: the field path and why.
func TestCompileRefuses(t *testing.T) {
	const pre = `listener "l": f.`
	const pol0 = pre + `rules.policies["p"].`
	tests := []struct {
		name string
		http *httprbacv3.RBAC
		net  *netrbacv3.RBAC
		want []string
	}{
		{"missing rules", &httprbacv3.RBAC{}, nil, []string{pre + "rules: missing"}},
		{"shadow rules and matcher", &httprbacv3.RBAC{
			Rules: single(anyPerm(), anyID()), ShadowRules: single(anyPerm(), anyID()), Matcher: nil, RulesStatPrefix: "x",
		}, nil, []string{pre + "shadow_rules: unsupported field", pre + "rules_stat_prefix: unsupported field"}},
		{"audit logging options", &httprbacv3.RBAC{Rules: &rbacv3.RBAC{AuditLoggingOptions: &rbacv3.RBAC_AuditLoggingOptions{}}}, nil,
			[]string{pre + "rules.audit_logging_options: unsupported field"}},
		{"unknown action", &httprbacv3.RBAC{Rules: &rbacv3.RBAC{Action: 7}}, nil, []string{pre + "rules.action: unsupported action 7"}},
		{"condition", &httprbacv3.RBAC{Rules: rules(allowA, map[string]*rbacv3.Policy{"p": {
			Permissions: []*rbacv3.Permission{anyPerm()}, Principals: []*rbacv3.Principal{anyID()}, Condition: &exprv1alpha1.Expr{},
		}})}, nil, []string{pol0 + "condition: unsupported field"}},
		{"empty policy", &httprbacv3.RBAC{Rules: rules(allowA, map[string]*rbacv3.Policy{"p": {}})}, nil, []string{
			pol0 + "permissions: want at least one permission", pol0 + "principals: want at least one principal",
		}},
		{"regex and contains matchers", &httprbacv3.RBAC{Rules: single(
			path(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Contains{Contains: "admin"}}),
			authn(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "spiffe://.*"}}}),
		)}, nil, []string{
			pol0 + "permissions[0].url_path.path.contains: unsupported field",
			pol0 + "principals[0].authenticated.principal_name.safe_regex: unsupported field",
		}},
		{"metadata, server name and destination IP permissions", &httprbacv3.RBAC{Rules: rules(allowA, map[string]*rbacv3.Policy{"p": {
			Permissions: []*rbacv3.Permission{
				{Rule: &rbacv3.Permission_SourcedMetadata{SourcedMetadata: &rbacv3.SourcedMetadata{}}},
				{Rule: &rbacv3.Permission_RequestedServerName{RequestedServerName: exact("x")}},
				{Rule: &rbacv3.Permission_DestinationIp{DestinationIp: &corev3.CidrRange{}}},
				{},
			},
			Principals: []*rbacv3.Principal{anyID()},
		}})}, nil, []string{
			pol0 + "permissions[0].sourced_metadata: unsupported field",
			pol0 + "permissions[1].requested_server_name: unsupported field",
			pol0 + "permissions[2].destination_ip: unsupported field",
			pol0 + "permissions[3]: one of any, and_rules, or_rules, not_rule, header, url_path or destination_port is required",
		}},
		{"metadata, filter state and remote IP principals", &httprbacv3.RBAC{Rules: rules(allowA, map[string]*rbacv3.Policy{"p": {
			Permissions: []*rbacv3.Permission{anyPerm()},
			Principals: []*rbacv3.Principal{
				{Identifier: &rbacv3.Principal_SourcedMetadata{SourcedMetadata: &rbacv3.SourcedMetadata{}}},
				{Identifier: &rbacv3.Principal_FilterState{FilterState: &matcherv3.FilterStateMatcher{}}},
				{Identifier: &rbacv3.Principal_RemoteIp{RemoteIp: &corev3.CidrRange{}}},
			},
		}})}, nil, []string{
			pol0 + "principals[0].sourced_metadata: unsupported field",
			pol0 + "principals[1].filter_state: unsupported field",
			pol0 + "principals[2].remote_ip: unsupported field",
		}},
		{"header matchers beyond string and presence", &httprbacv3.RBAC{Rules: single(
			andPerm(
				&rbacv3.Permission{Rule: &rbacv3.Permission_Header{Header: &routev3.HeaderMatcher{Name: "x", InvertMatch: true, HeaderMatchSpecifier: &routev3.HeaderMatcher_RangeMatch{RangeMatch: &typev3.Int64Range{Start: 1, End: 2}}}}},
				headerPerm(":scheme", exact("https")),
				headerPerm("x", nil),
			),
			anyID(),
		)}, nil, []string{
			pol0 + "permissions[0].and_rules.rules[0].header.range_match: unsupported field",
			pol0 + "permissions[0].and_rules.rules[0].header.invert_match: unsupported field",
			pol0 + `permissions[0].and_rules.rules[1].header.name: unsupported pseudo-header ":scheme", want one of [":method" ":authority" ":path"]`,
			pol0 + "permissions[0].and_rules.rules[2].header.string_match: one of exact, prefix or suffix is required",
		}},
		{"empty sets, any false, empty prefix, bad port", &httprbacv3.RBAC{Rules: single(
			orPerm(andPerm(), &rbacv3.Permission{Rule: &rbacv3.Permission_Any{}}, path(prefix("")), port(70000)),
			orIDs(),
		)}, nil, []string{
			pol0 + "permissions[0].or_rules.rules[0].and_rules.rules: want at least one rule",
			pol0 + "permissions[0].or_rules.rules[1].any: must be true",
			pol0 + "permissions[0].or_rules.rules[2].url_path.path.prefix: empty",
			pol0 + "permissions[0].or_rules.rules[3].destination_port: must be in [1, 65535], got 70000",
			pol0 + "principals[0].or_ids.ids: want at least one id",
		}},
		{"IP blocks", &httprbacv3.RBAC{Rules: single(anyPerm(), orIDs(
			&rbacv3.Principal{Identifier: &rbacv3.Principal_DirectRemoteIp{DirectRemoteIp: &corev3.CidrRange{AddressPrefix: "10.0.0.0"}}},
			ipBlock("10.0.0.0/8", 8),
			ipBlock("10.0.0.0", 33),
		))}, nil, []string{
			pol0 + "principals[0].or_ids.ids[0].direct_remote_ip.prefix_len: missing",
			pol0 + `principals[0].or_ids.ids[1].direct_remote_ip.address_prefix: not an IP address: "10.0.0.0/8"`,
			pol0 + "principals[0].or_ids.ids[2].direct_remote_ip.prefix_len: must be at most 32 for 10.0.0.0, got 33",
		}},
		{"network filter without stat_prefix, continuous", nil, &netrbacv3.RBAC{
			Rules: single(anyPerm(), anyID()), EnforcementType: netrbacv3.RBAC_CONTINUOUS,
		}, []string{pre + "enforcement_type: unsupported field", pre + "stat_prefix: missing"}},
		{"network filter with HTTP rules", nil, &netrbacv3.RBAC{StatPrefix: "s", Rules: single(
			andPerm(path(exact("/a")), headerPerm(":method", exact("GET"))), headerID("x", exact("y")),
		)}, []string{
			pol0 + "permissions[0].and_rules.rules[0].url_path: needs an HTTP request: not supported in envoy.filters.network.rbac",
			pol0 + "permissions[0].and_rules.rules[1].header: needs an HTTP request: not supported in envoy.filters.network.rbac",
			pol0 + "principals[0].header: needs an HTTP request: not supported in envoy.filters.network.rbac",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := allowlist.New("listener", "l")
			var f *rbac.Filter
			if tt.http != nil {
				f = rbac.CompileHTTP(p, "f", tt.http)
			} else {
				f = rbac.CompileNetwork(p, "f", tt.net)
			}
			if f != nil {
				t.Error("a filter with problems was compiled")
			}
			var got []string
			for _, err := range p.Errs() {
				got = append(got, err.Error())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestChainRefusesTwoFiltersWithOneAction(t *testing.T) {
	p := allowlist.New("listener", "l")
	c := &rbac.Chain{}
	for i, a := range []rbacv3.RBAC_Action{denyA, allowA, denyA} {
		path := allowlist.Index("http_filters", i) + ".typed_config"
		c.Append(p, path, rbac.CompileHTTP(p, path, &httprbacv3.RBAC{Rules: rules(a, nil)}))
	}
	want := `listener "l": http_filters[2].typed_config: second RBAC filter with action DENY on this chain`
	if err := p.Err(); err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestNetworkFilterCompiles(t *testing.T) {
	p := allowlist.New("listener", "l")
	f := rbac.CompileNetwork(p, "f", &netrbacv3.RBAC{StatPrefix: "inbound|5432", Rules: rules(denyA, map[string]*rbacv3.Policy{
		"db/deny/rules[0]": pol(port(5432), notID(authn(nil))),
	})})
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	if f.Action() != rbac.Deny {
		t.Errorf("action %s, want DENY", f.Action())
	}
	c := &rbac.Chain{}
	c.Append(p, "f", f)
	if d := c.Evaluate(&rbac.Input{DestinationPort: 5432}); d.Allowed || d.Policy != "db/deny/rules[0]" {
		t.Errorf("plaintext connection to 5432: %+v, want denied by db/deny/rules[0]", d)
	}
}
