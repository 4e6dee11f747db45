package route_test

import (
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/weftmesh/weft/proxy/route"
)

func TestCompileErrors(t *testing.T) {
	vh := func(routesJSON string) string {
		return `{"name":"x","virtual_hosts":[{"name":"vh","domains":["*"],"routes":[` + routesJSON + `]}]}`
	}
	for _, tc := range []struct {
		name string
		js   string
		want []string
	}{
		{"bad regex", vh(`{"match":{"prefix":"/"},"route":{"cluster":"a"}},{"match":{"prefix":"/"},"route":{"cluster":"a"}},{"match":{"safe_regex":{"regex":"(a"}},"route":{"cluster":"a"}}`), []string{
			"route_config \"x\": virtual_hosts[0].routes[2].match.safe_regex.regex: error parsing regexp: missing closing ): `(a`",
		}},
		{"unsupported fields everywhere", `{"name":"x","validate_clusters":true,"virtual_hosts":[{"name":"vh","domains":["*"],"require_tls":"ALL","routes":[
			{"match":{"prefix":"/","grpc":{}},"route":{"cluster":"a","idle_timeout":"1s","retry_policy":{"retry_on":"5xx","retry_host_predicate":[{"name":"p"}]}},"decorator":{"operation":"op"}}]}]}`, []string{
			`route_config "x": validate_clusters: unsupported field`,
			`route_config "x": virtual_hosts[0].require_tls: unsupported field`,
			`route_config "x": virtual_hosts[0].routes[0].decorator: unsupported field`,
			`route_config "x": virtual_hosts[0].routes[0].match.grpc: unsupported field`,
			`route_config "x": virtual_hosts[0].routes[0].route.idle_timeout: unsupported field`,
			`route_config "x": virtual_hosts[0].routes[0].route.retry_policy.retry_host_predicate: unsupported field`,
		}},
		{"unsupported specifiers", vh(`{"match":{"prefix":"/","headers":[{"name":"x","exact_match":"a"}],"query_parameters":[{"name":"q","string_match":{"custom":{"name":"c"}}}]},"route":{"cluster_header":"x-cluster","hash_policy":[{"query_parameter":{"name":"q"}}]}}`), []string{
			`route_config "x": virtual_hosts[0].routes[0].match.headers[0].exact_match: unsupported field`,
			`route_config "x": virtual_hosts[0].routes[0].match.query_parameters[0].string_match.custom: unsupported field`,
			`route_config "x": virtual_hosts[0].routes[0].route.cluster_header: unsupported field`,
			`route_config "x": virtual_hosts[0].routes[0].route.hash_policy[0].query_parameter: unsupported field`,
		}},
		{"missing parts", `{"name":"x","virtual_hosts":[{"domains":[],"routes":[{"route":{"cluster":"a"}},{"match":{}}]}]}`, []string{
			`route_config "x": virtual_hosts[0].name: empty`,
			`route_config "x": virtual_hosts[0].routes[0].match: missing`,
			`route_config "x": virtual_hosts[0].routes[1].match: one of prefix, path, safe_regex or path_separated_prefix is required`,
			`route_config "x": virtual_hosts[0].routes[1]: one of route, redirect or direct_response is required`,
			`route_config "x": virtual_hosts[0].domains: at least one domain is required`,
		}},
		{"domains", `{"name":"x","virtual_hosts":[
			{"name":"a","domains":["a.example","*","","*.b.*","a*b"],"routes":[]},
			{"name":"a","domains":["A.example","*"],"routes":[]}]}`, []string{
			`route_config "x": virtual_hosts[0].domains[2]: empty domain: ""`,
			`route_config "x": virtual_hosts[0].domains[3]: a wildcard must be the whole domain, its first or its last character: "*.b.*"`,
			`route_config "x": virtual_hosts[0].domains[4]: a wildcard must be the whole domain, its first or its last character: "a*b"`,
			`route_config "x": virtual_hosts[1].name: duplicate virtual host name "a" (also virtual_hosts[0])`,
			`route_config "x": virtual_hosts[1].domains[0]: duplicate domain "a.example" (also virtual_hosts[0].domains[0])`,
			`route_config "x": virtual_hosts[1].domains[1]: duplicate domain "*" (also virtual_hosts[0].domains[1])`,
		}},
		{"string matchers", vh(`{"match":{"prefix":"/","headers":[
			{"name":"a","string_match":{"prefix":""}},
			{"name":"b","string_match":{"safe_regex":{"regex":"x"},"ignore_case":true}},
			{"name":"c","string_match":{}},
			{"name":":status","present_match":true},
			{"name":"bad name","present_match":true}]},"route":{"cluster":"a"}}`), []string{
			`route_config "x": virtual_hosts[0].routes[0].match.headers[0].string_match: empty prefix`,
			`route_config "x": virtual_hosts[0].routes[0].match.headers[1].string_match.ignore_case: has no effect with safe_regex`,
			`route_config "x": virtual_hosts[0].routes[0].match.headers[2].string_match: one of exact, prefix, suffix, safe_regex or contains is required`,
			`route_config "x": virtual_hosts[0].routes[0].match.headers[3].name: unsupported pseudo-header ":status"`,
			`route_config "x": virtual_hosts[0].routes[0].match.headers[4].name: invalid header name "bad name"`,
		}},
		{"path specifiers", vh(`{"match":{"path_separated_prefix":"/api/"},"route":{"cluster":"a"}},{"match":{"safe_regex":{"regex":"/x"},"case_sensitive":false},"route":{"cluster":"a"}},{"match":{"safe_regex":{"regex":""}},"route":{"cluster":"a"}}`), []string{
			`route_config "x": virtual_hosts[0].routes[0].match.path_separated_prefix: must be non-empty, without '?' or '#', and not end in '/'`,
			`route_config "x": virtual_hosts[0].routes[1].match.case_sensitive: has no effect with safe_regex`,
			`route_config "x": virtual_hosts[0].routes[2].match.safe_regex.regex: empty`,
		}},
		{"route actions", vh(`{"match":{"prefix":"/"},"route":{"cluster":"","timeout":"-1s","prefix_rewrite":"/a","regex_rewrite":{"pattern":{"regex":"a"},"substitution":"b"}}},
			{"match":{"prefix":"/"},"route":{"cluster":"a","regex_rewrite":{"pattern":{"regex":"(a)"},"substitution":"\\2\\x"}}},
			{"match":{"prefix":"/"},"route":{"cluster":"a","host_rewrite_literal":""}}`), []string{
			`route_config "x": virtual_hosts[0].routes[0].route.cluster: empty`,
			`route_config "x": virtual_hosts[0].routes[0].route: only one of prefix_rewrite and regex_rewrite may be set`,
			`route_config "x": virtual_hosts[0].routes[0].route.timeout: must not be negative`,
			`route_config "x": virtual_hosts[0].routes[1].route.regex_rewrite.substitution: refers to group \2 but the pattern has fewer groups`,
			`route_config "x": virtual_hosts[0].routes[2].route.host_rewrite_literal: empty`,
		}},
		{"weighted clusters", vh(`{"match":{"prefix":"/"},"route":{"weighted_clusters":{"clusters":[{"name":"a","weight":0},{"name":"","weight":0,"cluster_header":"h"}]}}},
			{"match":{"prefix":"/"},"route":{"weighted_clusters":{"clusters":[],"runtime_key_prefix":"r"}}}`), []string{
			`route_config "x": virtual_hosts[0].routes[0].route.weighted_clusters.clusters[1].cluster_header: unsupported field`,
			`route_config "x": virtual_hosts[0].routes[0].route.weighted_clusters.clusters[1].name: empty`,
			`route_config "x": virtual_hosts[0].routes[0].route.weighted_clusters.clusters: the sum of the weights must be greater than 0`,
			`route_config "x": virtual_hosts[0].routes[1].route.weighted_clusters.runtime_key_prefix: unsupported field`,
			`route_config "x": virtual_hosts[0].routes[1].route.weighted_clusters.clusters: at least one cluster is required`,
		}},
		{"retry and hash policies", vh(`{"match":{"prefix":"/"},"route":{"cluster":"a",
			"retry_policy":{"retry_on":"5xx,retriable-headers,bogus","retriable_status_codes":[503,42],"retry_back_off":{"base_interval":"0.1s","max_interval":"0.05s"}},
			"hash_policy":[{"header":{"header_name":"bad name"}},{"cookie":{"name":"s","ttl":"1s"}},{"connection_properties":{"source_ip":false}},{"terminal":true}]}}`), []string{
			`route_config "x": virtual_hosts[0].routes[0].route.retry_policy.retry_on: unsupported condition "retriable-headers"`,
			`route_config "x": virtual_hosts[0].routes[0].route.retry_policy.retry_on: unsupported condition "bogus"`,
			`route_config "x": virtual_hosts[0].routes[0].route.retry_policy.retriable_status_codes[1]: 42 is not an HTTP status code`,
			`route_config "x": virtual_hosts[0].routes[0].route.retry_policy.retry_back_off.max_interval: must not be less than base_interval`,
			`route_config "x": virtual_hosts[0].routes[0].route.hash_policy[0].header.header_name: invalid header name "bad name"`,
			`route_config "x": virtual_hosts[0].routes[0].route.hash_policy[1].cookie.ttl: unsupported field`,
			`route_config "x": virtual_hosts[0].routes[0].route.hash_policy[2].connection_properties.source_ip: must be true`,
			`route_config "x": virtual_hosts[0].routes[0].route.hash_policy[3]: one of header, cookie or connection_properties is required`,
		}},
		{"redirect and direct response", `{"name":"x","max_direct_response_body_size_bytes":3,"virtual_hosts":[{"name":"vh","domains":["*"],"routes":[
			{"match":{"prefix":"/"},"redirect":{"scheme_redirect":"1http","host_redirect":"a/b","port_redirect":70000,"response_code":9}},
			{"match":{"prefix":"/"},"direct_response":{"status":99,"body":{"inline_string":"toolong"}}},
			{"match":{"prefix":"/"},"direct_response":{"status":200,"body":{"filename":"/etc/passwd"}}}]}]}`, []string{
			`route_config "x": virtual_hosts[0].routes[0].redirect.scheme_redirect: invalid scheme "1http"`,
			`route_config "x": virtual_hosts[0].routes[0].redirect.host_redirect: invalid host "a/b"`,
			`route_config "x": virtual_hosts[0].routes[0].redirect.port_redirect: 70000 is not a port`,
			`route_config "x": virtual_hosts[0].routes[0].redirect.response_code: unknown code 9`,
			`route_config "x": virtual_hosts[0].routes[1].direct_response.status: 99 is not in [200, 599]`,
			`route_config "x": virtual_hosts[0].routes[1].direct_response.body: 7 bytes is more than max_direct_response_body_size_bytes (3)`,
			`route_config "x": virtual_hosts[0].routes[2].direct_response.body.filename: unsupported field`,
		}},
		{"header mutations", `{"name":"x","request_headers_to_remove":["host",":path"],"response_headers_to_add":[{"header":{"key":"x-a","value":"%DOWNSTREAM_REMOTE_ADDRESS%"}}],
			"virtual_hosts":[{"name":"vh","domains":["*"],"request_headers_to_add":[{"header":{"key":"Host","value":"h"}},{"header":{"key":"x-b","value":"v","raw_value":"dg=="}},{"header":{"key":"x-c","value":"v"},"append":true}],
			"routes":[{"match":{"prefix":"/"},"route":{"cluster":"a"},"response_headers_to_add":[{"header":{"key":"x-d"},"append_action":9}],"response_headers_to_remove":["bad name"]}]}]}`, []string{
			`route_config "x": request_headers_to_remove[0]: pseudo-headers and host may not be modified`,
			`route_config "x": request_headers_to_remove[1]: pseudo-headers and host may not be modified`,
			`route_config "x": response_headers_to_add[0].header.value: substitution commands (%...%) are not supported; write %% for a literal %`,
			`route_config "x": virtual_hosts[0].request_headers_to_add[0].header.key: pseudo-headers and host may not be modified`,
			`route_config "x": virtual_hosts[0].request_headers_to_add[1].header: only one of value and raw_value may be set`,
			`route_config "x": virtual_hosts[0].request_headers_to_add[2].append: unsupported field`,
			`route_config "x": virtual_hosts[0].routes[0].response_headers_to_remove[0]: invalid header name "bad name"`,
			`route_config "x": virtual_hosts[0].routes[0].response_headers_to_add[0].append_action: unknown action 9`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl, err := route.Compile(parse(t, tc.js))
			if err == nil {
				t.Fatalf("Compile succeeded, want errors:\n%s", strings.Join(tc.want, "\n"))
			}
			if tbl != nil {
				t.Errorf("Compile returned a table with an error")
			}
			if got, want := err.Error(), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("Compile errors:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestCompileNil(t *testing.T) {
	if _, err := route.Compile(nil); err == nil || err.Error() != "route_config: missing" {
		t.Errorf("Compile(nil) = %v, want route_config: missing", err)
	}
}

func TestCompileNilEntries(t *testing.T) {
	rc := &routev3.RouteConfiguration{Name: "x", VirtualHosts: []*routev3.VirtualHost{nil, {
		Name: "vh", Domains: []string{"*"},
		Routes: []*routev3.Route{nil, {
			Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, Headers: []*routev3.HeaderMatcher{nil}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{HashPolicy: []*routev3.RouteAction_HashPolicy{nil}}},
		}},
	}}}
	_, err := route.Compile(rc)
	want := strings.Join([]string{
		`route_config "x": virtual_hosts[0].name: empty`,
		`route_config "x": virtual_hosts[0].domains: at least one domain is required`,
		`route_config "x": virtual_hosts[1].routes[0].match: missing`,
		`route_config "x": virtual_hosts[1].routes[0]: one of route, redirect or direct_response is required`,
		`route_config "x": virtual_hosts[1].routes[1].match.headers[0].name: invalid header name ""`,
		`route_config "x": virtual_hosts[1].routes[1].route: one of cluster or weighted_clusters is required`,
		`route_config "x": virtual_hosts[1].routes[1].route.hash_policy[0]: one of header, cookie or connection_properties is required`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("Compile errors:\n%v\nwant:\n%s", err, want)
	}
}

func TestCompileValid(t *testing.T) {
	// Everything the package supports, at once, compiles.
	tbl, err := route.Compile(parse(t, fullConfig))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if tbl.Name() != "full" {
		t.Errorf("Name() = %q, want full", tbl.Name())
	}
}
