package dataplane_test

import (
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	httprbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// TestRBACValidation lists RBAC configurations the proxy refuses (NACKs),
// each with the error the control plane is shown, naming the field.
func TestRBACValidation(t *testing.T) {
	const (
		chain = `listener "inbound|9000": filter_chains[0].filters[0].typed_config.`
		tcp   = `listener "inbound|9000": filter_chains[0].`
	)
	allowAll := map[string]*rbacv3.Policy{"p": policy(perms(anyPermission()), anyPrincipal())}
	regex := &rbacv3.Principal{Identifier: &rbacv3.Principal_Authenticated_{Authenticated: &rbacv3.Principal_Authenticated{
		PrincipalName: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "spiffe://.*"}}},
	}}}
	tests := []struct {
		name   string
		listen func(t *testing.T) *listenerv3.Listener
		errors []string
	}{
		{"HTTP RBAC after the router", func(t *testing.T) *listenerv3.Listener {
			l := httpInboundListener(t, inboundName, "127.0.0.1:0")
			h := chainHCM(t, l)
			h.HttpFilters = append(h.HttpFilters, httpRBAC(t, rbacv3.RBAC_DENY, allowAll))
			setHCM(t, l, h)
			return l
		}, []string{
			chain + "http_filters[0].name: envoy.filters.http.router must be the last HTTP filter",
			chain + "http_filters[1].name: envoy.filters.http.rbac must come before envoy.filters.http.router",
		}},
		{"two DENY filters", func(t *testing.T) *listenerv3.Listener {
			return withRBAC(t, httpInboundListener(t, inboundName, "127.0.0.1:0"), "",
				httpRBAC(t, rbacv3.RBAC_DENY, allowAll), httpRBAC(t, rbacv3.RBAC_ALLOW, allowAll), httpRBAC(t, rbacv3.RBAC_DENY, allowAll))
		}, []string{chain + "http_filters[2].typed_config: second RBAC filter with action DENY on this chain"}},
		{"RBAC without the router", func(t *testing.T) *listenerv3.Listener {
			l := httpInboundListener(t, inboundName, "127.0.0.1:0")
			h := chainHCM(t, l)
			h.HttpFilters = []*hcmv3.HttpFilter{httpRBAC(t, rbacv3.RBAC_ALLOW, allowAll)}
			setHCM(t, l, h)
			return l
		}, []string{chain + "http_filters: want envoy.filters.http.router last, got none"}},
		{"shadow rules and a regex principal", func(t *testing.T) *listenerv3.Listener {
			f := &hcmv3.HttpFilter{Name: "envoy.filters.http.rbac", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &httprbacv3.RBAC{
				Rules:       &rbacv3.RBAC{Action: rbacv3.RBAC_ALLOW, Policies: map[string]*rbacv3.Policy{"ns/a/rules[0]": policy(perms(anyPermission()), regex)}},
				ShadowRules: &rbacv3.RBAC{},
			})}}
			return withRBAC(t, httpInboundListener(t, inboundName, "127.0.0.1:0"), "", f)
		}, []string{
			chain + "http_filters[0].typed_config.shadow_rules: unsupported field",
			chain + `http_filters[0].typed_config.rules.policies["ns/a/rules[0]"].principals[0].authenticated.principal_name.safe_regex: unsupported field`,
		}},
		{"network RBAC with HTTP rules", func(t *testing.T) *listenerv3.Listener {
			l := inboundListener(t, inboundName, "127.0.0.1:0", inboundName, "spiffe://cluster.local/")
			l.FilterChains[0].Filters = append([]*listenerv3.Filter{netRBAC(t, inboundName, rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{
				"p": policy(perms(andRules(methodIs("GET"), urlPath("prefix", "/a", false))), anyPrincipal()),
			})}, l.FilterChains[0].Filters...)
			return l
		}, []string{
			tcp + `filters[0].typed_config.rules.policies["p"].permissions[0].and_rules.rules[0].header: needs an HTTP request: not supported in envoy.filters.network.rbac`,
			tcp + `filters[0].typed_config.rules.policies["p"].permissions[0].and_rules.rules[1].url_path: needs an HTTP request: not supported in envoy.filters.network.rbac`,
		}},
		{"network RBAC twice ALLOW, without stat_prefix", func(t *testing.T) *listenerv3.Listener {
			l := inboundListener(t, inboundName, "127.0.0.1:0", inboundName, "spiffe://cluster.local/")
			l.FilterChains[0].Filters = append([]*listenerv3.Filter{
				netRBAC(t, "s", rbacv3.RBAC_ALLOW, allowAll), netRBAC(t, "s", rbacv3.RBAC_ALLOW, allowAll), netRBAC(t, "", rbacv3.RBAC_DENY, allowAll),
			}, l.FilterChains[0].Filters...)
			return l
		}, []string{
			tcp + "filters[1].typed_config: second RBAC filter with action ALLOW on this chain",
			tcp + "filters[2].typed_config.stat_prefix: missing",
		}},
		{"network RBAC before an HTTP connection manager", func(t *testing.T) *listenerv3.Listener {
			l := httpInboundListener(t, inboundName, "127.0.0.1:0")
			l.FilterChains[0].Filters = append([]*listenerv3.Filter{netRBAC(t, inboundName, rbacv3.RBAC_ALLOW, allowAll)}, l.FilterChains[0].Filters...)
			return l
		}, []string{tcp + "filters[1]: envoy.filters.network.rbac filters are supported before tcp_proxy only; HTTP chains take envoy.filters.http.rbac in http_filters"}},
		{"network RBAC after tcp_proxy", func(t *testing.T) *listenerv3.Listener {
			l := inboundListener(t, inboundName, "127.0.0.1:0", inboundName, "spiffe://cluster.local/")
			l.FilterChains[0].Filters = append(l.FilterChains[0].Filters, netRBAC(t, inboundName, rbacv3.RBAC_DENY, allowAll))
			return l
		}, []string{tcp + "filters: want exactly one network filter, got 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp, _ := newDataplane(t, newCA(t, "cluster.local"), serverID)
			err := dp.OnListeners(t.Context(), []*listenerv3.Listener{tt.listen(t)})
			checkErrors(t, err, tt.errors)
			if _, bound := dp.ListenerAddr(inboundName); bound {
				t.Error("an invalid listener set was applied")
			}
		})
	}
}
