package route_test

import (
	"net/http"
	"testing"
)

// domainsConfig has one virtual host per kind of domain; each routes
// everything to a cluster named after it.
const domainsConfig = `{"name":"domains","virtual_hosts":[
 {"name":"exact","domains":["foo.example.com","api.local:8080","[::1]"],"routes":[{"match":{"prefix":"/"},"route":{"cluster":"exact"}}]},
 {"name":"suffix-long","domains":["*.example.com"],"routes":[{"match":{"prefix":"/"},"route":{"cluster":"suffix-long"}}]},
 {"name":"suffix-short","domains":["*.com"],"routes":[{"match":{"prefix":"/"},"route":{"cluster":"suffix-short"}}]},
 {"name":"suffix-dash","domains":["*-bar.foo.org"],"routes":[{"match":{"prefix":"/"},"route":{"cluster":"suffix-dash"}}]},
 {"name":"prefix-short","domains":["foo.*"],"routes":[{"match":{"prefix":"/"},"route":{"cluster":"prefix-short"}}]},
 {"name":"prefix-long","domains":["foo.bar.*"],"routes":[{"match":{"prefix":"/"},"route":{"cluster":"prefix-long"}}]},
 {"name":"any","domains":["*"],"routes":[{"match":{"prefix":"/"},"route":{"cluster":"any"}}]}
]}`

func TestMatchVirtualHost(t *testing.T) {
	tbl := compile(t, parse(t, domainsConfig))
	noPort := compile(t, parse(t, `{"name":"np","ignore_port_in_host_matching":true,"virtual_hosts":[
	 {"name":"exact","domains":["api.local:8080","api.local"],"routes":[{"match":{"prefix":"/"},"route":{"cluster":"bare"}}]}]}`))
	noAny := compile(t, parse(t, `{"name":"x","virtual_hosts":[
	 {"name":"only","domains":["only.example"],"routes":[{"match":{"prefix":"/"},"route":{"cluster":"only"}}]}]}`))
	for _, tc := range []struct {
		name, host string
		onlyPort   bool
		noAny      bool
		want       string
	}{
		{name: "exact", host: "foo.example.com", want: "cluster exact"},
		{name: "exact beats suffix", host: "FOO.Example.COM", want: "cluster exact"},
		{name: "port stripped for a domain without port", host: "foo.example.com:8443", want: "cluster exact"},
		{name: "domain with port", host: "api.local:8080", want: "cluster exact"},
		{name: "domain with another port", host: "api.local:9090", want: "cluster any"},
		{name: "domain with port needs it", host: "api.local", want: "cluster any"},
		{name: "ipv6 literal with port", host: "[::1]:8080", want: "cluster exact"},
		{name: "ipv6 literal", host: "[::1]", want: "cluster exact"},
		{name: "longest suffix", host: "bar.example.com", want: "cluster suffix-long"},
		{name: "longest suffix with port", host: "bar.example.com:80", want: "cluster suffix-long"},
		{name: "shorter suffix", host: "example.com", want: "cluster suffix-short"},
		{name: "suffix not on a label boundary", host: "x-bar.foo.org", want: "cluster suffix-dash"},
		{name: "wildcard needs a character", host: "-bar.foo.org", want: "cluster any"},
		{name: "suffix beats prefix", host: "foo.bar.com", want: "cluster suffix-short"},
		{name: "longest prefix", host: "foo.bar.net", want: "cluster prefix-long"},
		{name: "shorter prefix", host: "foo.net", want: "cluster prefix-short"},
		{name: "prefix with port", host: "foo.net:81", want: "cluster prefix-short"},
		{name: "catch-all", host: "other.net", want: "cluster any"},
		{name: "empty authority", host: "", want: "cluster any"},
		{name: "ignore_port_in_host_matching", host: "api.local:9999", onlyPort: true, want: "cluster bare"},
		{name: "no catch-all", host: "other.example", noAny: true, want: "no match"},
		{name: "no catch-all, known host", host: "only.example:80", noAny: true, want: "cluster only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req(http.MethodGet, "/")
			r.Host = tc.host
			tb := tbl
			switch {
			case tc.onlyPort:
				tb = noPort
			case tc.noAny:
				tb = noAny
			}
			if got := summary(tb.Match(r, nil)); got != tc.want {
				t.Errorf("Match(host %q) = %s, want %s", tc.host, got, tc.want)
			}
		})
	}
}

func TestMatchRoute(t *testing.T) {
	for _, tc := range []struct {
		name   string
		routes string // JSON routes of the only virtual host
		req    *http.Request
		want   string
	}{
		// Path specifiers.
		{"prefix", `{"match":{"prefix":"/api"},"route":{"cluster":"a"}}`, req("GET", "/api/v1"), "cluster a"},
		{"prefix is not segment-aware", `{"match":{"prefix":"/api"},"route":{"cluster":"a"}}`, req("GET", "/apix"), "cluster a"},
		{"prefix miss", `{"match":{"prefix":"/api"},"route":{"cluster":"a"}}`, req("GET", "/ap"), "no match"},
		{"prefix is case-sensitive", `{"match":{"prefix":"/api"},"route":{"cluster":"a"}}`, req("GET", "/API"), "no match"},
		{"prefix case-insensitive", `{"match":{"prefix":"/Api","case_sensitive":false},"route":{"cluster":"a"}}`, req("GET", "/aPI/x"), "cluster a"},
		{"prefix reaches into the query", `{"match":{"prefix":"/search?q="},"route":{"cluster":"a"}}`, req("GET", "/search?q=go"), "cluster a"},
		{"prefix on the raw path", `{"match":{"prefix":"/a%2F"},"route":{"cluster":"a"}}`, req("GET", "/a%2Fb"), "cluster a"},
		{"raw path is not decoded", `{"match":{"prefix":"/a/b"},"route":{"cluster":"a"}}`, req("GET", "/a%2Fb"), "no match"},
		{"path", `{"match":{"path":"/exact"},"route":{"cluster":"a"}}`, req("GET", "/exact?x=1"), "cluster a"},
		{"path is exact", `{"match":{"path":"/exact"},"route":{"cluster":"a"}}`, req("GET", "/exact/"), "no match"},
		{"path case-insensitive", `{"match":{"path":"/Exact","case_sensitive":false},"route":{"cluster":"a"}}`, req("GET", "/EXACT"), "cluster a"},
		{"safe_regex", `{"match":{"safe_regex":{"regex":"/v[0-9]+/.*"}},"route":{"cluster":"a"}}`, req("GET", "/v12/items?x=1"), "cluster a"},
		{"safe_regex matches the whole path", `{"match":{"safe_regex":{"regex":"/v[0-9]+"}},"route":{"cluster":"a"}}`, req("GET", "/v12/items"), "no match"},
		{"safe_regex is anchored at the start", `{"match":{"safe_regex":{"regex":"/v1|/v2"}},"route":{"cluster":"a"}}`, req("GET", "/x/v1"), "no match"},
		{"safe_regex alternation", `{"match":{"safe_regex":{"regex":"/v1|/v2"}},"route":{"cluster":"a"}}`, req("GET", "/v2"), "cluster a"},
		{"path_separated_prefix exact", `{"match":{"path_separated_prefix":"/api/dev"},"route":{"cluster":"a"}}`, req("GET", "/api/dev"), "cluster a"},
		{"path_separated_prefix slash", `{"match":{"path_separated_prefix":"/api/dev"},"route":{"cluster":"a"}}`, req("GET", "/api/dev/"), "cluster a"},
		{"path_separated_prefix deeper", `{"match":{"path_separated_prefix":"/api/dev"},"route":{"cluster":"a"}}`, req("GET", "/api/dev/v1"), "cluster a"},
		{"path_separated_prefix query", `{"match":{"path_separated_prefix":"/api/dev"},"route":{"cluster":"a"}}`, req("GET", "/api/dev?param=true"), "cluster a"},
		{"path_separated_prefix segment", `{"match":{"path_separated_prefix":"/api/dev"},"route":{"cluster":"a"}}`, req("GET", "/api/developer"), "no match"},
		{"path_separated_prefix case-insensitive", `{"match":{"path_separated_prefix":"/API","case_sensitive":false},"route":{"cluster":"a"}}`, req("GET", "/api/x"), "cluster a"},
		{"first match wins", `{"match":{"prefix":"/a"},"route":{"cluster":"first"}},{"match":{"prefix":"/a/b"},"route":{"cluster":"second"}}`, req("GET", "/a/b"), "cluster first"},
		{"falls through to a later route", `{"match":{"prefix":"/x"},"route":{"cluster":"first"}},{"match":{"prefix":"/"},"route":{"cluster":"second"}}`, req("GET", "/a/b"), "cluster second"},

		// Headers.
		{":method", `{"match":{"prefix":"/","headers":[{"name":":method","string_match":{"exact":"POST"}}]},"route":{"cluster":"a"}}`, req("POST", "/"), "cluster a"},
		{":method miss", `{"match":{"prefix":"/","headers":[{"name":":method","string_match":{"exact":"POST"}}]},"route":{"cluster":"a"}}`, req("GET", "/"), "no match"},
		{":authority", `{"match":{"prefix":"/","headers":[{"name":":authority","string_match":{"exact":"svc:8080"}}]},"route":{"cluster":"a"}}`, req("GET", "http://svc:8080/"), "cluster a"},
		{"host is :authority", `{"match":{"prefix":"/","headers":[{"name":"host","string_match":{"prefix":"svc"}}]},"route":{"cluster":"a"}}`, req("GET", "http://svc:8080/"), "cluster a"},
		{":path has the query", `{"match":{"prefix":"/","headers":[{"name":":path","string_match":{"exact":"/p?q=1"}}]},"route":{"cluster":"a"}}`, req("GET", "/p?q=1"), "cluster a"},
		{":scheme https", `{"match":{"prefix":"/","headers":[{"name":":scheme","string_match":{"exact":"https"}}]},"route":{"cluster":"a"}}`, req("GET", "https://svc/"), "cluster a"},
		{":scheme http", `{"match":{"prefix":"/","headers":[{"name":":scheme","string_match":{"exact":"https"}}]},"route":{"cluster":"a"}}`, req("GET", "/"), "no match"},
		{"exact", `{"match":{"prefix":"/","headers":[{"name":"x-env","string_match":{"exact":"canary"}}]},"route":{"cluster":"a"}}`, req("GET", "/", "X-Env: canary"), "cluster a"},
		{"exact is case-sensitive", `{"match":{"prefix":"/","headers":[{"name":"x-env","string_match":{"exact":"canary"}}]},"route":{"cluster":"a"}}`, req("GET", "/", "X-Env: Canary"), "no match"},
		{"exact ignore_case", `{"match":{"prefix":"/","headers":[{"name":"X-ENV","string_match":{"exact":"Canary","ignore_case":true}}]},"route":{"cluster":"a"}}`, req("GET", "/", "x-env: cAnArY"), "cluster a"},
		{"exact empty", `{"match":{"prefix":"/","headers":[{"name":"x-env","string_match":{"exact":""}}]},"route":{"cluster":"a"}}`, req("GET", "/", "X-Env:"), "cluster a"},
		{"prefix", `{"match":{"prefix":"/","headers":[{"name":"user-agent","string_match":{"prefix":"curl/"}}]},"route":{"cluster":"a"}}`, req("GET", "/", "User-Agent: curl/8.1"), "cluster a"},
		{"prefix ignore_case", `{"match":{"prefix":"/","headers":[{"name":"user-agent","string_match":{"prefix":"CURL/","ignore_case":true}}]},"route":{"cluster":"a"}}`, req("GET", "/", "User-Agent: curl/8.1"), "cluster a"},
		{"suffix", `{"match":{"prefix":"/","headers":[{"name":"x-user","string_match":{"suffix":"@example.com"}}]},"route":{"cluster":"a"}}`, req("GET", "/", "X-User: ann@example.com"), "cluster a"},
		{"suffix ignore_case", `{"match":{"prefix":"/","headers":[{"name":"x-user","string_match":{"suffix":"@EXAMPLE.com","ignore_case":true}}]},"route":{"cluster":"a"}}`, req("GET", "/", "X-User: ann@Example.COM"), "cluster a"},
		{"contains", `{"match":{"prefix":"/","headers":[{"name":"cookie","string_match":{"contains":"beta=1"}}]},"route":{"cluster":"a"}}`, req("GET", "/", "Cookie: a=b; beta=1; c=d"), "cluster a"},
		{"contains ignore_case", `{"match":{"prefix":"/","headers":[{"name":"cookie","string_match":{"contains":"BETA=1","ignore_case":true}}]},"route":{"cluster":"a"}}`, req("GET", "/", "Cookie: a=b; beta=1"), "cluster a"},
		{"safe_regex is a full match", `{"match":{"prefix":"/","headers":[{"name":"x-id","string_match":{"safe_regex":{"regex":"\\d{3}"}}}]},"route":{"cluster":"a"}}`, req("GET", "/", "X-Id: 1234"), "no match"},
		{"safe_regex inverted", `{"match":{"prefix":"/","headers":[{"name":"x-id","string_match":{"safe_regex":{"regex":"\\d{3}"}},"invert_match":true}]},"route":{"cluster":"a"}}`, req("GET", "/", "X-Id: 1234"), "cluster a"},
		{"values are joined", `{"match":{"prefix":"/","headers":[{"name":"x-a","string_match":{"exact":"1,2"}}]},"route":{"cluster":"a"}}`, req("GET", "/", "X-A: 1", "X-A: 2"), "cluster a"},
		{"missing header fails", `{"match":{"prefix":"/","headers":[{"name":"x-a","string_match":{"exact":"1"}}]},"route":{"cluster":"a"}}`, req("GET", "/"), "no match"},
		{"missing header fails inverted", `{"match":{"prefix":"/","headers":[{"name":"x-a","string_match":{"exact":"1"},"invert_match":true}]},"route":{"cluster":"a"}}`, req("GET", "/"), "no match"},
		{"treat_missing_header_as_empty", `{"match":{"prefix":"/","headers":[{"name":"x-a","string_match":{"safe_regex":{"regex":"^$"}},"treat_missing_header_as_empty":true}]},"route":{"cluster":"a"}}`, req("GET", "/"), "cluster a"},
		{"present_match", `{"match":{"prefix":"/","headers":[{"name":"x-debug","present_match":true}]},"route":{"cluster":"a"}}`, req("GET", "/", "X-Debug: "), "cluster a"},
		{"present_match missing", `{"match":{"prefix":"/","headers":[{"name":"x-debug","present_match":true}]},"route":{"cluster":"a"}}`, req("GET", "/"), "no match"},
		{"present_match false", `{"match":{"prefix":"/","headers":[{"name":"x-debug","present_match":false}]},"route":{"cluster":"a"}}`, req("GET", "/"), "cluster a"},
		{"present_match false present", `{"match":{"prefix":"/","headers":[{"name":"x-debug","present_match":false}]},"route":{"cluster":"a"}}`, req("GET", "/", "X-Debug: 1"), "no match"},
		{"present_match inverted missing", `{"match":{"prefix":"/","headers":[{"name":"x-debug","present_match":true,"invert_match":true}]},"route":{"cluster":"a"}}`, req("GET", "/"), "cluster a"},
		{"no specifier is presence", `{"match":{"prefix":"/","headers":[{"name":"x-debug"}]},"route":{"cluster":"a"}}`, req("GET", "/", "X-Debug: 1"), "cluster a"},
		{"no specifier missing", `{"match":{"prefix":"/","headers":[{"name":"x-debug"}]},"route":{"cluster":"a"}}`, req("GET", "/"), "no match"},
		{"range", `{"match":{"prefix":"/","headers":[{"name":"x-n","range_match":{"start":"100","end":"200"}}]},"route":{"cluster":"a"}}`, req("GET", "/", "X-N: 150"), "cluster a"},
		{"range start inclusive", `{"match":{"prefix":"/","headers":[{"name":"x-n","range_match":{"start":"-10","end":"0"}}]},"route":{"cluster":"a"}}`, req("GET", "/", "X-N: -10"), "cluster a"},
		{"range end exclusive", `{"match":{"prefix":"/","headers":[{"name":"x-n","range_match":{"start":"100","end":"200"}}]},"route":{"cluster":"a"}}`, req("GET", "/", "X-N: 200"), "no match"},
		{"range not a number", `{"match":{"prefix":"/","headers":[{"name":"x-n","range_match":{"start":"100","end":"200"}}]},"route":{"cluster":"a"}}`, req("GET", "/", "X-N: 1e2"), "no match"},
		{"range inverted", `{"match":{"prefix":"/","headers":[{"name":"x-n","range_match":{"start":"-10","end":"0"},"invert_match":true}]},"route":{"cluster":"a"}}`, req("GET", "/", "X-N: -1"), "no match"},
		{"range missing as empty inverted", `{"match":{"prefix":"/","headers":[{"name":"x-n","range_match":{"start":"0","end":"10"},"invert_match":true,"treat_missing_header_as_empty":true}]},"route":{"cluster":"a"}}`, req("GET", "/"), "cluster a"},
		{"range missing inverted", `{"match":{"prefix":"/","headers":[{"name":"x-n","range_match":{"start":"0","end":"10"},"invert_match":true}]},"route":{"cluster":"a"}}`, req("GET", "/"), "no match"},
		{"all headers must match", `{"match":{"prefix":"/","headers":[{"name":"x-a","present_match":true},{"name":"x-b","present_match":true}]},"route":{"cluster":"a"}}`, req("GET", "/", "X-A: 1"), "no match"},

		// Query parameters.
		{"query exact", `{"match":{"prefix":"/","query_parameters":[{"name":"v","string_match":{"exact":"2"}}]},"route":{"cluster":"a"}}`, req("GET", "/?a=1&v=2"), "cluster a"},
		{"query first value", `{"match":{"prefix":"/","query_parameters":[{"name":"v","string_match":{"exact":"2"}}]},"route":{"cluster":"a"}}`, req("GET", "/?v=1&v=2"), "no match"},
		{"query decoded", `{"match":{"prefix":"/","query_parameters":[{"name":"q","string_match":{"exact":"a b/c"}}]},"route":{"cluster":"a"}}`, req("GET", "/?q=a%20b%2Fc"), "cluster a"},
		{"query present", `{"match":{"prefix":"/","query_parameters":[{"name":"debug","present_match":true}]},"route":{"cluster":"a"}}`, req("GET", "/?debug"), "cluster a"},
		{"query missing", `{"match":{"prefix":"/","query_parameters":[{"name":"debug","present_match":true}]},"route":{"cluster":"a"}}`, req("GET", "/?debugger=1"), "no match"},
		{"query regex", `{"match":{"prefix":"/","query_parameters":[{"name":"id","string_match":{"safe_regex":{"regex":"[0-9]+"}}}]},"route":{"cluster":"a"}}`, req("GET", "/?id=42"), "cluster a"},

		// Forwarding actions.
		{"prefix_rewrite", `{"match":{"prefix":"/api/"},"route":{"cluster":"a","prefix_rewrite":"/v2/"}}`, req("GET", "/api/users?id=1"), "cluster a path /v2/users?id=1"},
		{"prefix_rewrite to root", `{"match":{"prefix":"/api"},"route":{"cluster":"a","prefix_rewrite":"/"}}`, req("GET", "/api"), "cluster a path /"},
		{"prefix_rewrite case-insensitive", `{"match":{"prefix":"/API/","case_sensitive":false},"route":{"cluster":"a","prefix_rewrite":"/"}}`, req("GET", "/api/x"), "cluster a path /x"},
		{"prefix_rewrite on a path route", `{"match":{"path":"/old"},"route":{"cluster":"a","prefix_rewrite":"/new"}}`, req("GET", "/old?k=v"), "cluster a path /new?k=v"},
		{"prefix_rewrite on a separated prefix", `{"match":{"path_separated_prefix":"/svc"},"route":{"cluster":"a","prefix_rewrite":"/internal"}}`, req("GET", "/svc/a"), "cluster a path /internal/a"},
		{"regex_rewrite", `{"match":{"prefix":"/service"},"route":{"cluster":"a","regex_rewrite":{"pattern":{"regex":"^/service/([^/]+)(/.*)$"},"substitution":"\\2/instance/\\1"}}}`, req("GET", "/service/foo/v1/api?x=1"), "cluster a path /v1/api/instance/foo?x=1"},
		{"regex_rewrite every match", `{"match":{"prefix":"/"},"route":{"cluster":"a","regex_rewrite":{"pattern":{"regex":"one"},"substitution":"two"}}}`, req("GET", "/xxx/one/yyy/one/zzz"), "cluster a path /xxx/two/yyy/two/zzz"},
		{"regex_rewrite literal dollar", `{"match":{"prefix":"/"},"route":{"cluster":"a","regex_rewrite":{"pattern":{"regex":"/p"},"substitution":"/$1"}}}`, req("GET", "/p"), "cluster a path /$1"},
		{"host_rewrite_literal", `{"match":{"prefix":"/"},"route":{"cluster":"a","host_rewrite_literal":"backend.internal"}}`, req("GET", "/"), "cluster a host backend.internal"},
		{"auto_host_rewrite", `{"match":{"prefix":"/"},"route":{"cluster":"a","auto_host_rewrite":true}}`, req("GET", "/"), "cluster a auto_host"},

		// Redirects.
		{"https_redirect drops :80", `{"match":{"prefix":"/"},"redirect":{"https_redirect":true}}`, req("GET", "http://example.com:80/a?b=c"), "redirect 301 https://example.com/a?b=c"},
		{"https_redirect keeps another port", `{"match":{"prefix":"/"},"redirect":{"https_redirect":true}}`, req("GET", "http://example.com:8080/a"), "redirect 301 https://example.com:8080/a"},
		{"scheme_redirect drops :443", `{"match":{"prefix":"/"},"redirect":{"scheme_redirect":"http"}}`, req("GET", "https://example.com:443/a"), "redirect 301 http://example.com/a"},
		{"same scheme keeps :80", `{"match":{"prefix":"/"},"redirect":{"scheme_redirect":"http","response_code":"FOUND"}}`, req("GET", "http://example.com:80/a"), "redirect 302 http://example.com:80/a"},
		{"host_redirect", `{"match":{"prefix":"/"},"redirect":{"host_redirect":"new.example.com","response_code":"SEE_OTHER"}}`, req("GET", "http://old.example.com:8080/a"), "redirect 303 http://new.example.com/a"},
		{"port_redirect replaces the port", `{"match":{"prefix":"/"},"redirect":{"port_redirect":8443,"https_redirect":true,"response_code":"TEMPORARY_REDIRECT"}}`, req("GET", "http://example.com:8080/a"), "redirect 307 https://example.com:8443/a"},
		{"port_redirect ipv6", `{"match":{"prefix":"/"},"redirect":{"port_redirect":81}}`, req("GET", "http://[::1]:80/a"), "redirect 301 http://[::1]:81/a"},
		{"path_redirect keeps the query", `{"match":{"prefix":"/"},"redirect":{"path_redirect":"/new","response_code":"PERMANENT_REDIRECT"}}`, req("GET", "http://h/old?x=1"), "redirect 308 http://h/new?x=1"},
		{"path_redirect with its own query", `{"match":{"prefix":"/"},"redirect":{"path_redirect":"/new?y=2","strip_query":true}}`, req("GET", "http://h/old?x=1"), "redirect 301 http://h/new?y=2"},
		{"strip_query", `{"match":{"prefix":"/"},"redirect":{"path_redirect":"/new","strip_query":true}}`, req("GET", "http://h/old?x=1"), "redirect 301 http://h/new"},
		{"strip_query alone", `{"match":{"prefix":"/"},"redirect":{"strip_query":true,"host_redirect":"h2"}}`, req("GET", "http://h/old?x=1"), "redirect 301 http://h2/old"},
		{"redirect prefix_rewrite", `{"match":{"prefix":"/docs/"},"redirect":{"prefix_rewrite":"/documentation/"}}`, req("GET", "http://h/docs/a?x=1"), "redirect 301 http://h/documentation/a?x=1"},
		{"redirect regex_rewrite", `{"match":{"prefix":"/"},"redirect":{"regex_rewrite":{"pattern":{"regex":"^/u/(\\w+)$"},"substitution":"/users/\\1"}}}`, req("GET", "http://h/u/ann"), "redirect 301 http://h/users/ann"},

		// Direct responses.
		{"direct_response", `{"match":{"prefix":"/"},"direct_response":{"status":503,"body":{"inline_string":"down"}}}`, req("GET", "/"), `direct 503 "down"`},
		{"direct_response bytes", `{"match":{"prefix":"/"},"direct_response":{"status":200,"body":{"inline_bytes":"b2s="}}}`, req("GET", "/"), `direct 200 "ok"`},
		{"direct_response no body", `{"match":{"prefix":"/"},"direct_response":{"status":204}}`, req("GET", "/"), `direct 204 ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl := compile(t, routes(t, tc.routes))
			if got := summary(tbl.Match(tc.req, nil)); got != tc.want {
				t.Errorf("Match(%s %s) = %s, want %s", tc.req.Method, tc.req.URL, got, tc.want)
			}
		})
	}
}
