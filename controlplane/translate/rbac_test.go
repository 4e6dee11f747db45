package translate

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	tlsinspector "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacnetwork "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// These tests check the "Authorization" section of docs/xds.md.

// Shorthands for the expected JSON of the mapping table.
const (
	anyJSON  = `{"any":true}`
	authnAny = `{"authenticated":{}}`
)

func TestRulePermission(t *testing.T) {
	for _, tc := range []struct {
		name string
		to   []v1alpha1.Operation
		want string
	}{
		{"no to: any", nil, anyJSON},
		{"ports", []v1alpha1.Operation{{Ports: []int32{80, 443}}},
			`{"or_rules":{"rules":[{"and_rules":{"rules":[{"or_rules":{"rules":[{"destination_port":80},{"destination_port":443}]}}]}}]}}`},
		{"notPorts", []v1alpha1.Operation{{NotPorts: []int32{22}}},
			`{"or_rules":{"rules":[{"and_rules":{"rules":[{"not_rule":{"or_rules":{"rules":[{"destination_port":22}]}}}]}}]}}`},
		{"methods, case kept", []v1alpha1.Operation{{Methods: []string{"GET"}}},
			`{"or_rules":{"rules":[{"and_rules":{"rules":[{"or_rules":{"rules":[{"header":{"name":":method","string_match":{"exact":"GET"}}}]}}]}}]}}`},
		{"notMethods", []v1alpha1.Operation{{NotMethods: []string{"DELETE"}}},
			`{"or_rules":{"rules":[{"and_rules":{"rules":[{"not_rule":{"or_rules":{"rules":[{"header":{"name":":method","string_match":{"exact":"DELETE"}}}]}}}]}}]}}`},
		{"paths, each form", []v1alpha1.Operation{{Paths: []v1alpha1.PathMatch{{Exact: "/a.b"}, {Prefix: "/p/", IgnoreCase: true}, {Suffix: ".json"}}}},
			`{"or_rules":{"rules":[{"and_rules":{"rules":[{"or_rules":{"rules":[` +
				`{"url_path":{"path":{"exact":"/a.b"}}},` +
				`{"url_path":{"path":{"prefix":"/p/","ignore_case":true}}},` +
				`{"url_path":{"path":{"suffix":".json"}}}]}}]}}]}}`},
		{"notPaths", []v1alpha1.Operation{{NotPaths: []v1alpha1.PathMatch{{Prefix: "/admin"}}}},
			`{"or_rules":{"rules":[{"and_rules":{"rules":[{"not_rule":{"or_rules":{"rules":[{"url_path":{"path":{"prefix":"/admin"}}}]}}}]}}]}}`},
		{"hosts, wildcard is a suffix, case ignored", []v1alpha1.Operation{{Hosts: []string{"*.example.com", "API.example"}}},
			`{"or_rules":{"rules":[{"and_rules":{"rules":[{"or_rules":{"rules":[` +
				`{"header":{"name":":authority","string_match":{"suffix":".example.com","ignore_case":true}}},` +
				`{"header":{"name":":authority","string_match":{"exact":"API.example","ignore_case":true}}}]}}]}}]}}`},
		{"notHosts", []v1alpha1.Operation{{NotHosts: []string{"a.b"}}},
			`{"or_rules":{"rules":[{"and_rules":{"rules":[{"not_rule":{"or_rules":{"rules":[{"header":{"name":":authority","string_match":{"exact":"a.b","ignore_case":true}}}]}}}]}}]}}`},
		{"two entries, fields in doc order", []v1alpha1.Operation{{Methods: []string{"GET"}, Ports: []int32{80}}, {NotPorts: []int32{81}}},
			`{"or_rules":{"rules":[` +
				`{"and_rules":{"rules":[{"or_rules":{"rules":[{"destination_port":80}]}},{"or_rules":{"rules":[{"header":{"name":":method","string_match":{"exact":"GET"}}}]}}]}},` +
				`{"and_rules":{"rules":[{"not_rule":{"or_rules":{"rules":[{"destination_port":81}]}}}]}}]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := rulePermission(tc.to)
			if err != nil {
				t.Fatal(err)
			}
			wantJSON(t, p, tc.want)
		})
	}
}

func TestRulePrincipal(t *testing.T) {
	from := func(s v1alpha1.Source) v1alpha1.AuthorizationRule {
		return v1alpha1.AuthorizationRule{From: []v1alpha1.Source{s}}
	}
	// wrap is the and_ids/or_ids/and_ids nesting of one from entry with
	// one field.
	wrap := func(field string) string {
		return `{"and_ids":{"ids":[{"or_ids":{"ids":[{"and_ids":{"ids":[` + field + `]}}]}}]}}`
	}
	or := func(ids ...string) string {
		s := `{"or_ids":{"ids":[`
		for i, id := range ids {
			if i > 0 {
				s += ","
			}
			s += id
		}
		return s + `]}}`
	}
	authn := func(kind, v string) string {
		return `{"authenticated":{"principal_name":{"` + kind + `":"` + v + `"}}}`
	}
	failClosed := func(inner string) string { return `{"and_ids":{"ids":[` + authnAny + `,{"not_id":` + inner + `}]}}` }
	for _, tc := range []struct {
		name   string
		action v1alpha1.AuthorizationAction
		rule   v1alpha1.AuthorizationRule
		want   string
	}{
		{"no from, no when: any", v1alpha1.ActionAllow, v1alpha1.AuthorizationRule{}, anyJSON},
		{"principals: exact, any peer, prefix, suffix", v1alpha1.ActionAllow,
			from(v1alpha1.Source{Principals: []string{"spiffe://cluster.local/ns/a/sa/b.c", "*", "spiffe://cluster.local/ns/a/*", "*/sa/x"}}),
			wrap(or(authn("exact", "spiffe://cluster.local/ns/a/sa/b.c"), authnAny,
				authn("prefix", "spiffe://cluster.local/ns/a/"), authn("suffix", "/sa/x")))},
		{"notPrincipals in ALLOW need a verified peer", v1alpha1.ActionAllow,
			from(v1alpha1.Source{NotPrincipals: []string{"spiffe://cluster.local/ns/a/sa/b"}}),
			wrap(failClosed(or(authn("exact", "spiffe://cluster.local/ns/a/sa/b"))))},
		{"notPrincipals in AUDIT need a verified peer", v1alpha1.ActionAudit,
			from(v1alpha1.Source{NotPrincipals: []string{"*"}}),
			wrap(failClosed(or(authnAny)))},
		{"notPrincipals in DENY match plaintext", v1alpha1.ActionDeny,
			from(v1alpha1.Source{NotPrincipals: []string{"spiffe://cluster.local/ns/a/sa/b"}}),
			wrap(`{"not_id":` + or(authn("exact", "spiffe://cluster.local/ns/a/sa/b")) + `}`)},
		{"namespaces, dots literal", v1alpha1.ActionAllow,
			from(v1alpha1.Source{Namespaces: []string{"a", "b.c"}}),
			wrap(or(authn("prefix", "spiffe://cluster.local/ns/a/sa/"), authn("prefix", "spiffe://cluster.local/ns/b.c/sa/")))},
		{"notNamespaces in ALLOW", v1alpha1.ActionAllow,
			from(v1alpha1.Source{NotNamespaces: []string{"a"}}),
			wrap(failClosed(or(authn("prefix", "spiffe://cluster.local/ns/a/sa/"))))},
		{"notNamespaces in DENY", v1alpha1.ActionDeny,
			from(v1alpha1.Source{NotNamespaces: []string{"a"}}),
			wrap(`{"not_id":` + or(authn("prefix", "spiffe://cluster.local/ns/a/sa/")) + `}`)},
		{"serviceAccounts: the policy's namespace, or another", v1alpha1.ActionAllow,
			from(v1alpha1.Source{ServiceAccounts: []string{"web.v2", "ops/admin"}}),
			wrap(or(authn("exact", "spiffe://cluster.local/ns/pol/sa/web.v2"), authn("exact", "spiffe://cluster.local/ns/ops/sa/admin")))},
		{"notServiceAccounts in ALLOW", v1alpha1.ActionAllow,
			from(v1alpha1.Source{NotServiceAccounts: []string{"x"}}),
			wrap(failClosed(or(authn("exact", "spiffe://cluster.local/ns/pol/sa/x"))))},
		{"notServiceAccounts in DENY", v1alpha1.ActionDeny,
			from(v1alpha1.Source{NotServiceAccounts: []string{"x"}}),
			wrap(`{"not_id":` + or(authn("exact", "spiffe://cluster.local/ns/pol/sa/x")) + `}`)},
		{"ipBlocks: bare IPs are /32 and /128, CIDRs masked", v1alpha1.ActionAllow,
			from(v1alpha1.Source{IPBlocks: []string{"192.0.2.1", "2001:db8::1", "198.18.7.9/15"}}),
			wrap(or(`{"direct_remote_ip":{"address_prefix":"192.0.2.1","prefix_len":32}}`,
				`{"direct_remote_ip":{"address_prefix":"2001:db8::1","prefix_len":128}}`,
				`{"direct_remote_ip":{"address_prefix":"198.18.0.0","prefix_len":15}}`))},
		{"notIpBlocks are not identities: no verified peer needed", v1alpha1.ActionAllow,
			from(v1alpha1.Source{NotIPBlocks: []string{"192.0.2.0/24"}}),
			wrap(`{"not_id":` + or(`{"direct_remote_ip":{"address_prefix":"192.0.2.0","prefix_len":24}}`) + `}`)},
		{"fields of one entry in doc order", v1alpha1.ActionAllow,
			from(v1alpha1.Source{IPBlocks: []string{"192.0.2.1"}, Namespaces: []string{"a"}}),
			`{"and_ids":{"ids":[{"or_ids":{"ids":[{"and_ids":{"ids":[` +
				or(authn("prefix", "spiffe://cluster.local/ns/a/sa/")) + `,` +
				or(`{"direct_remote_ip":{"address_prefix":"192.0.2.1","prefix_len":32}}`) + `]}}]}}]}}`},
		{"when: values, notValues, both", v1alpha1.ActionAllow,
			v1alpha1.AuthorizationRule{When: []v1alpha1.Condition{
				{Header: "x-a", Values: []string{"1", "2"}},
				{Header: "x-b", NotValues: []string{"no"}},
				{Header: "x-c", Values: []string{"y"}, NotValues: []string{"n"}},
			}},
			`{"and_ids":{"ids":[` +
				or(`{"header":{"name":"x-a","string_match":{"exact":"1"}}}`, `{"header":{"name":"x-a","string_match":{"exact":"2"}}}`) + `,` +
				`{"not_id":` + or(`{"header":{"name":"x-b","string_match":{"exact":"no"}}}`) + `},` +
				`{"and_ids":{"ids":[` + or(`{"header":{"name":"x-c","string_match":{"exact":"y"}}}`) + `,{"not_id":` +
				or(`{"header":{"name":"x-c","string_match":{"exact":"n"}}}`) + `}]}}]}}`},
		{"from and when", v1alpha1.ActionDeny,
			v1alpha1.AuthorizationRule{
				From: []v1alpha1.Source{{Namespaces: []string{"a"}}, {IPBlocks: []string{"192.0.2.1"}}},
				When: []v1alpha1.Condition{{Header: "x-a", Values: []string{"1"}}},
			},
			`{"and_ids":{"ids":[{"or_ids":{"ids":[` +
				`{"and_ids":{"ids":[` + or(authn("prefix", "spiffe://cluster.local/ns/a/sa/")) + `]}},` +
				`{"and_ids":{"ids":[` + or(`{"direct_remote_ip":{"address_prefix":"192.0.2.1","prefix_len":32}}`) + `]}}]}},` +
				or(`{"header":{"name":"x-a","string_match":{"exact":"1"}}}`) + `]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := rulePrincipal(spiffeid.RequireTrustDomainFromString("cluster.local"), "pol", tc.action, tc.rule)
			if err != nil {
				t.Fatal(err)
			}
			wantJSON(t, p, tc.want)
		})
	}
}

func TestTCPRule(t *testing.T) {
	get := v1alpha1.Operation{Methods: []string{"GET"}}
	for _, tc := range []struct {
		name        string
		action      v1alpha1.AuthorizationAction
		rule        v1alpha1.AuthorizationRule
		keep        bool
		to          []v1alpha1.Operation
		unevaluated []string
	}{
		{"TCP fields only: unchanged", v1alpha1.ActionAllow,
			v1alpha1.AuthorizationRule{To: []v1alpha1.Operation{{Ports: []int32{9000}}}},
			true, []v1alpha1.Operation{{Ports: []int32{9000}}}, nil},
		{"ALLOW with methods: left out", v1alpha1.ActionAllow,
			v1alpha1.AuthorizationRule{To: []v1alpha1.Operation{get}}, false, nil, []string{"to[0].methods"}},
		{"AUDIT with paths: left out", v1alpha1.ActionAudit,
			v1alpha1.AuthorizationRule{To: []v1alpha1.Operation{{Paths: []v1alpha1.PathMatch{{Exact: "/"}}}}}, false, nil, []string{"to[0].paths"}},
		{"ALLOW with an HTTP and a TCP entry: keeps the TCP one", v1alpha1.ActionAllow,
			v1alpha1.AuthorizationRule{To: []v1alpha1.Operation{{NotHosts: []string{"a"}}, {Ports: []int32{9000}}}},
			true, []v1alpha1.Operation{{Ports: []int32{9000}}}, []string{"to[0].notHosts"}},
		{"ALLOW with when: left out", v1alpha1.ActionAllow,
			v1alpha1.AuthorizationRule{When: []v1alpha1.Condition{{Header: "x", Values: []string{"1"}}}}, false, nil, []string{"when"}},
		{"DENY keeps the ports of an HTTP entry", v1alpha1.ActionDeny,
			v1alpha1.AuthorizationRule{To: []v1alpha1.Operation{{Ports: []int32{9000}, NotPorts: []int32{1}, NotMethods: []string{"GET"}}}},
			true, []v1alpha1.Operation{{Ports: []int32{9000}, NotPorts: []int32{1}}}, []string{"to[0].notMethods"}},
		{"DENY with methods only: denies everything", v1alpha1.ActionDeny,
			v1alpha1.AuthorizationRule{To: []v1alpha1.Operation{get}, When: []v1alpha1.Condition{{Header: "x", Values: []string{"1"}}}},
			true, []v1alpha1.Operation{{}}, []string{"to[0].methods", "when"}},
		{"entry for another port: nothing to report", v1alpha1.ActionAllow,
			v1alpha1.AuthorizationRule{To: []v1alpha1.Operation{{Ports: []int32{8080}, Methods: []string{"GET"}}}},
			false, nil, nil},
		{"entry excluding the port: nothing to report", v1alpha1.ActionDeny,
			v1alpha1.AuthorizationRule{To: []v1alpha1.Operation{{NotPorts: []int32{9000}, Methods: []string{"GET"}}}, When: []v1alpha1.Condition{{Header: "x", Values: []string{"1"}}}},
			true, []v1alpha1.Operation{{NotPorts: []int32{9000}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			red := tcpRule(tc.rule, tc.action, 9000)
			if red.keep != tc.keep {
				t.Errorf("keep = %v, want %v", red.keep, tc.keep)
			}
			if tc.keep {
				got, _ := json.Marshal(red.rule.To)
				want, _ := json.Marshal(tc.to)
				if !bytes.Equal(got, want) {
					t.Errorf("to = %s, want %s", got, want)
				}
				if red.rule.When != nil {
					t.Errorf("when kept: %v", red.rule.When)
				}
			}
			if !slices.Equal(red.unevaluated, tc.unevaluated) {
				t.Errorf("unevaluated = %q, want %q", red.unevaluated, tc.unevaluated)
			}
			if (red.describe(tc.action, "rules[0]", 9000) == "") != (len(tc.unevaluated) == 0) {
				t.Errorf("describe = %q with unevaluated %q", red.describe(tc.action, "rules[0]", 9000), red.unevaluated)
			}
		})
	}
}

// TestRBACFilterPlacement checks the filters of every chain of api-1:
// audit, deny, allow in that order, HTTP filters before the router on
// HTTP chains, network filters before tcp_proxy on TCP chains (on the
// sniffed port too), keys of the form <namespace>/<name>/rules[<i>].
func TestRBACFilterPlacement(t *testing.T) {
	res := translateIn(t, policyMesh, model.NamespacedName{Namespace: "sec", Name: "api-1"})
	allRules := []string{"sec/api-allow/rules[0]", "sec/api-allow/rules[1]", "sec/api-allow/rules[2]", "sec/api-allow/rules[3]", "sec/api-allow/rules[4]"}
	tcpRules := []string{"sec/api-allow/rules[1]", "sec/api-allow/rules[2]"}
	deny := []string{"sec/api-deny/rules[0]", "sec/api-deny/rules[1]"}
	audit := []string{"weft-system/audit-outsiders/rules[0]"}
	for _, tc := range []struct {
		port   uint32
		chains []string // "http" or "tcp", per chain
	}{
		{8080, []string{"http", "http"}},
		{9000, []string{"tcp"}},
		{7000, []string{"http", "tcp", "http", "tcp"}},
	} {
		t.Run(itoa(tc.port), func(t *testing.T) {
			l := find[*listener.Listener](t, res[resource.ListenerType], InboundName(tc.port))
			if len(l.GetFilterChains()) != len(tc.chains) {
				t.Fatalf("%d chains, want %d", len(l.GetFilterChains()), len(tc.chains))
			}
			for i, fc := range l.GetFilterChains() {
				var rules []*rbacv3.RBAC
				if tc.chains[i] == "http" {
					m := unpack[*hcm.HttpConnectionManager](t, fc.GetFilters()[0].GetTypedConfig())
					hf := m.GetHttpFilters()
					if len(fc.GetFilters()) != 1 || len(hf) != 4 || hf[3].GetName() != "envoy.filters.http.router" {
						t.Fatalf("chain %d: http filters %v, want three RBAC filters and the router", i, hf)
					}
					for _, f := range hf[:3] {
						if f.GetName() != "envoy.filters.http.rbac" {
							t.Errorf("chain %d: http filter %q", i, f.GetName())
						}
						rules = append(rules, unpack[*rbachttp.RBAC](t, f.GetTypedConfig()).GetRules())
					}
				} else {
					fs := fc.GetFilters()
					if len(fs) != 4 || fs[3].GetName() != "envoy.filters.network.tcp_proxy" {
						t.Fatalf("chain %d: filters %v, want three RBAC filters and tcp_proxy", i, fs)
					}
					for _, f := range fs[:3] {
						if f.GetName() != "envoy.filters.network.rbac" {
							t.Errorf("chain %d: filter %q", i, f.GetName())
						}
						r := unpack[*rbacnetwork.RBAC](t, f.GetTypedConfig())
						if r.GetStatPrefix() != l.GetName() {
							t.Errorf("chain %d: stat prefix %q, want %q", i, r.GetStatPrefix(), l.GetName())
						}
						rules = append(rules, r.GetRules())
					}
				}
				allow := allRules
				if tc.chains[i] == "tcp" {
					allow = tcpRules
				}
				for j, want := range []struct {
					action rbacv3.RBAC_Action
					keys   []string
				}{{rbacv3.RBAC_LOG, audit}, {rbacv3.RBAC_DENY, deny}, {rbacv3.RBAC_ALLOW, allow}} {
					if rules[j].GetAction() != want.action {
						t.Errorf("chain %d filter %d: action %v, want %v", i, j, rules[j].GetAction(), want.action)
					}
					var keys []string
					for k := range rules[j].GetPolicies() {
						keys = append(keys, k)
					}
					slices.Sort(keys)
					if !slices.Equal(keys, want.keys) {
						t.Errorf("chain %d filter %d: keys %q, want %q", i, j, keys, want.keys)
					}
				}
			}
		})
	}
}

// TestAllowWithoutRulesDeniesAll: an ALLOW policy without rules still puts
// an ALLOW filter, with no policies, on the chain.
func TestAllowWithoutRulesDeniesAll(t *testing.T) {
	mesh := func() *model.Mesh {
		m := shopMesh()
		m.Policies.AuthorizationPolicies = []v1alpha1.AuthorizationPolicy{authzPolicy("shop", "nothing", nil, "")}
		return m
	}
	res := translateIn(t, mesh, model.NamespacedName{Namespace: "shop", Name: "backend"})
	for _, r := range res[resource.ListenerType] {
		for i, fc := range r.(*listener.Listener).GetFilterChains() {
			fs := fc.GetFilters()
			if len(fs) != 2 || fs[0].GetName() != "envoy.filters.network.rbac" {
				t.Fatalf("%s chain %d: filters %v, want RBAC then tcp_proxy", cache.GetResourceName(r), i, fs)
			}
			rules := unpack[*rbacnetwork.RBAC](t, fs[0].GetTypedConfig()).GetRules()
			if rules.GetAction() != rbacv3.RBAC_ALLOW || len(rules.GetPolicies()) != 0 {
				t.Errorf("%s chain %d: %v, want ALLOW without policies", cache.GetResourceName(r), i, rules)
			}
		}
	}
}

// TestPolicyConfigsValidate: the policy cases reach every new typed config
// (TestProxyValidates validates them all).
func TestPolicyConfigsValidate(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range goldenCases {
		res := translateIn(t, tc.mesh, tc.workload)
		for _, rs := range res {
			for _, r := range rs {
				validateDeep(t, cache.GetResourceName(r), r, seen)
			}
		}
	}
	for _, m := range []proto.Message{&rbachttp.RBAC{}, &rbacnetwork.RBAC{}, &tlsinspector.TlsInspector{}} {
		if name := string(m.ProtoReflect().Descriptor().FullName()); !seen[name] {
			t.Errorf("no %s in the golden cases", name)
		}
	}
}

// wantJSON compares m, as protojson with proto names, to want, both
// compacted.
func wantJSON(t *testing.T, m proto.Message, want string) {
	t.Helper()
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := canonicalJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	w, err := canonicalJSON([]byte(want))
	if err != nil {
		t.Fatalf("bad expectation %s: %v", want, err)
	}
	if got != w {
		t.Errorf("got  %s\nwant %s", got, w)
	}
}

// canonicalJSON re-encodes JSON with sorted keys and no spaces.
func canonicalJSON(b []byte) (string, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "", err
	}
	out, err := json.Marshal(v)
	return string(out), err
}
