package route_test

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/weftmesh/weft/proxy/route"
)

// fullConfig uses every supported field.
const fullConfig = `{"name":"full","most_specific_header_mutations_wins":false,"ignore_port_in_host_matching":false,"max_direct_response_body_size_bytes":100,
 "request_headers_to_add":[{"header":{"key":"x-level","value":"config"},"append_action":"OVERWRITE_IF_EXISTS_OR_ADD"}],
 "request_headers_to_remove":["x-config-drop"],
 "response_headers_to_add":[{"header":{"key":"x-resp","value":"config"}}],
 "response_headers_to_remove":["server"],
 "virtual_hosts":[{"name":"web","domains":["web.example","*.web.example","web.*","*"],
  "request_headers_to_add":[{"header":{"key":"x-level","value":"vhost"},"append_action":"OVERWRITE_IF_EXISTS_OR_ADD"}],
  "request_headers_to_remove":["x-vhost-drop"],
  "response_headers_to_add":[{"header":{"key":"x-resp","value":"vhost"}}],
  "response_headers_to_remove":["x-powered-by"],
  "routes":[
   {"name":"api","match":{"prefix":"/api/","case_sensitive":true,
     "headers":[{"name":"x-a","string_match":{"exact":"1","ignore_case":true},"invert_match":false,"treat_missing_header_as_empty":false}],
     "query_parameters":[{"name":"q","present_match":true}]},
    "route":{"cluster":"api","prefix_rewrite":"/","host_rewrite_literal":"api.internal","timeout":"2.5s",
     "retry_policy":{"retry_on":"5xx, connect-failure,retriable-status-codes","num_retries":3,"per_try_timeout":"0.5s","retriable_status_codes":[409],
      "retry_back_off":{"base_interval":"0.01s","max_interval":"1s"}},
     "hash_policy":[{"header":{"header_name":"x-user"}},{"cookie":{"name":"session"},"terminal":true},{"connection_properties":{"source_ip":true}},{"header":{"header_name":":authority"}}]},
    "request_headers_to_add":[{"header":{"key":"x-level","value":"route"},"append_action":"OVERWRITE_IF_EXISTS_OR_ADD"},{"header":{"key":"x-empty","value":""},"keep_empty_value":true}],
    "request_headers_to_remove":["x-route-drop"],
    "response_headers_to_add":[{"header":{"key":"x-resp","value":"route"}}],
    "response_headers_to_remove":["x-route-resp-drop"]},
   {"name":"split","match":{"path":"/split"},
    "route":{"weighted_clusters":{"clusters":[
      {"name":"v1","weight":90,"request_headers_to_add":[{"header":{"key":"x-version","value":"v1"}}],"request_headers_to_remove":["x-v"],
       "response_headers_to_add":[{"header":{"key":"x-served-by","value":"v1"}}],"response_headers_to_remove":["x-r"]},
      {"name":"v2","weight":10,"host_rewrite_literal":"v2.internal"}]},
     "retry_policy":{"retry_on":"gateway-error","retry_back_off":{"base_interval":"0.1s"}},"auto_host_rewrite":true}},
   {"name":"plain","match":{"safe_regex":{"regex":"/plain/[a-z]+"}},"route":{"cluster":"plain","timeout":"0s","retry_policy":{}}},
   {"match":{"path_separated_prefix":"/re"},"redirect":{"https_redirect":true,"host_redirect":"h","port_redirect":443,"path_redirect":"/x","response_code":"FOUND","strip_query":true}},
   {"match":{"prefix":"/"},"direct_response":{"status":404,"body":{"inline_string":"nope"}}}]}]}`

func TestRoutePolicies(t *testing.T) {
	tbl := compile(t, parse(t, fullConfig))
	for _, tc := range []struct {
		name string
		req  *http.Request
		want route.Route
	}{
		{"everything", req("GET", "http://web.example/api/x?q", "X-A: 1"), route.Route{
			Name: "api", VirtualHost: "web", Timeout: 2500 * time.Millisecond,
			Retry: &route.RetryPolicy{
				On:         route.RetryOn5xx | route.RetryOnConnectFailure | route.RetryOnRetriableStatusCodes,
				NumRetries: 3, PerTryTimeout: 500 * time.Millisecond, RetriableStatusCodes: []uint32{409},
				BackOff: route.BackOff{Base: 10 * time.Millisecond, Max: time.Second},
			},
			HashPolicy: []route.HashPolicy{
				{Kind: route.HashHeader, Name: "X-User"},
				{Kind: route.HashCookie, Name: "session", Terminal: true},
				{Kind: route.HashSourceIP},
				{Kind: route.HashHeader, Name: ":authority"},
			},
		}},
		{"defaults", req("GET", "http://web.example/split"), route.Route{
			Name: "split", VirtualHost: "web", Timeout: route.DefaultTimeout,
			Retry: &route.RetryPolicy{On: route.RetryOnGatewayError, NumRetries: 1,
				BackOff: route.BackOff{Base: 100 * time.Millisecond, Max: time.Second}},
		}},
		{"no timeout, default retry", req("GET", "http://web.example/plain/abc"), route.Route{
			Name: "plain", VirtualHost: "web",
			Retry: &route.RetryPolicy{NumRetries: 1, BackOff: route.BackOff{Base: 25 * time.Millisecond, Max: 250 * time.Millisecond}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := tbl.Match(tc.req, fixed(0))
			if !ok {
				t.Fatal("no match")
			}
			if !reflect.DeepEqual(*d.Route, tc.want) {
				t.Errorf("Route = %+v\nwant %+v", *d.Route, tc.want)
			}
			if d.Route.Retry != nil && !d.Route.Retry.On.Has(tc.want.Retry.On) {
				t.Errorf("On.Has(%b) is false for %b", tc.want.Retry.On, d.Route.Retry.On)
			}
		})
	}
	if d, ok := tbl.Match(req("GET", "http://web.example/api/x?q", "X-A: 1"), nil); !ok || d.Route.Retry.On.Has(route.RetryOnReset) {
		t.Errorf("retry_on without reset has it: %+v", d)
	}
}

func TestDecisionShape(t *testing.T) {
	tbl := compile(t, parse(t, fullConfig))
	for _, tc := range []struct {
		name string
		req  *http.Request
		rnd  uint64
		want string
	}{
		{"route", req("GET", "http://web.example:8080/api/x?q", "X-A: 1"), 0, "cluster api path /x?q host api.internal"},
		{"route header mismatch", req("GET", "http://web.example/api/x?q", "X-A: 2"), 0, `direct 404 "nope"`},
		{"weighted first", req("GET", "http://a.web.example/split"), 89, "cluster v1 auto_host"},
		{"weighted second", req("GET", "http://a.web.example/split"), 90, "cluster v2 host v2.internal"},
		{"weighted wraps", req("GET", "http://a.web.example/split"), 100 + 95, "cluster v2 host v2.internal"},
		{"redirect", req("GET", "http://web.example/re/a?b"), 0, "redirect 302 https://h:443/x"},
		{"direct", req("GET", "http://other/"), 0, `direct 404 "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := summary(tbl.Match(tc.req, fixed(tc.rnd))); got != tc.want {
				t.Errorf("Match = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestHeaderMutations(t *testing.T) {
	mostSpecific := `{"name":"ms","most_specific_header_mutations_wins":true,
	 "request_headers_to_add":[{"header":{"key":"x-level","value":"config"},"append_action":"OVERWRITE_IF_EXISTS_OR_ADD"}],
	 "virtual_hosts":[{"name":"vh","domains":["*"],
	  "request_headers_to_add":[{"header":{"key":"x-level","value":"vhost"},"append_action":"OVERWRITE_IF_EXISTS_OR_ADD"}],
	  "routes":[{"match":{"prefix":"/"},"route":{"cluster":"a"},
	   "request_headers_to_add":[{"header":{"key":"x-level","value":"route"},"append_action":"OVERWRITE_IF_EXISTS_OR_ADD"}]}]}]}`
	actions := `{"name":"act","virtual_hosts":[{"name":"vh","domains":["*"],"routes":[{"match":{"prefix":"/"},"route":{"cluster":"a"},
	 "request_headers_to_remove":["x-gone"],
	 "request_headers_to_add":[
	  {"header":{"key":"x-append","value":"b"}},
	  {"header":{"key":"x-if-absent","value":"new"},"append_action":"ADD_IF_ABSENT"},
	  {"header":{"key":"x-absent","value":"new"},"append_action":"ADD_IF_ABSENT"},
	  {"header":{"key":"x-over","value":"1"},"append_action":"OVERWRITE_IF_EXISTS_OR_ADD"},
	  {"header":{"key":"x-over","value":"2"},"append_action":"OVERWRITE_IF_EXISTS_OR_ADD"},
	  {"header":{"key":"x-if-exists","value":"new"},"append_action":"OVERWRITE_IF_EXISTS"},
	  {"header":{"key":"x-not-there","value":"new"},"append_action":"OVERWRITE_IF_EXISTS"},
	  {"header":{"key":"x-gone","value":"back"},"append_action":"ADD_IF_ABSENT"},
	  {"header":{"key":"x-skipped","value":""}},
	  {"header":{"key":"x-kept","value":""},"keep_empty_value":true},
	  {"header":{"key":"x-pct","value":"100%%"}},
	  {"header":{"key":"x-raw","raw_value":"cmF3"}}]}]}]}`
	for _, tc := range []struct {
		name     string
		config   string
		req      *http.Request
		rnd      uint64
		in       http.Header
		response bool
		want     http.Header
	}{
		{
			name: "least specific wins by default", config: fullConfig, req: req("GET", "http://web.example/api/?q", "X-A: 1"),
			in:   http.Header{"X-Level": {"client"}, "X-Route-Drop": {"1"}, "X-Vhost-Drop": {"1"}, "X-Config-Drop": {"1"}, "Keep": {"1"}},
			want: http.Header{"X-Level": {"config"}, "X-Empty": {""}, "Keep": {"1"}},
		},
		{
			name: "response levels", config: fullConfig, req: req("GET", "http://web.example/api/?q", "X-A: 1"), response: true,
			in:   http.Header{"Server": {"s"}, "X-Powered-By": {"p"}, "X-Route-Resp-Drop": {"d"}, "X-Resp": {"upstream"}},
			want: http.Header{"X-Resp": {"upstream", "route", "vhost", "config"}},
		},
		{
			name: "weighted cluster level first", config: fullConfig, req: req("GET", "http://web.example/split"), rnd: 0,
			in:   http.Header{"X-V": {"1"}, "X-Level": {"client"}},
			want: http.Header{"X-Version": {"v1"}, "X-Level": {"config"}},
		},
		{
			name: "weighted cluster response", config: fullConfig, req: req("GET", "http://web.example/split"), rnd: 0, response: true,
			in:   http.Header{"X-R": {"1"}},
			want: http.Header{"X-Served-By": {"v1"}, "X-Resp": {"vhost", "config"}},
		},
		{
			name: "other weighted cluster has none", config: fullConfig, req: req("GET", "http://web.example/split"), rnd: 95,
			in:   http.Header{"X-V": {"1"}},
			want: http.Header{"X-V": {"1"}, "X-Level": {"config"}},
		},
		{
			name: "most specific wins", config: mostSpecific, req: req("GET", "/"),
			in:   http.Header{},
			want: http.Header{"X-Level": {"route"}},
		},
		{
			name: "append actions", config: actions, req: req("GET", "/"),
			in: http.Header{"X-Append": {"a"}, "X-If-Absent": {"old"}, "X-Over": {"old", "older"},
				"X-If-Exists": {"old"}, "X-Gone": {"old"}, "X-Skipped": {"old"}},
			want: http.Header{"X-Append": {"a", "b"}, "X-If-Absent": {"old"}, "X-Absent": {"new"}, "X-Over": {"2"},
				"X-If-Exists": {"new"}, "X-Gone": {"back"}, "X-Skipped": {"old"}, "X-Kept": {""}, "X-Pct": {"100%"}, "X-Raw": {"raw"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := compile(t, parse(t, tc.config)).Match(tc.req, fixed(tc.rnd))
			if !ok {
				t.Fatal("no match")
			}
			ms := d.RequestHeaders
			if tc.response {
				ms = d.ResponseHeaders
			}
			h := tc.in.Clone()
			ms.Apply(h)
			if !reflect.DeepEqual(h, tc.want) {
				t.Errorf("headers = %v\nwant      %v", h, tc.want)
			}
		})
	}
}

func TestMatchDoesNotModifyRequest(t *testing.T) {
	tbl := compile(t, parse(t, fullConfig))
	r := req("GET", "http://web.example/api/x?q", "X-A: 1", "X-Level: client")
	before := r.Clone(t.Context())
	d, ok := tbl.Match(r, nil)
	if !ok {
		t.Fatal("no match")
	}
	d.RequestHeaders.Apply(r.Clone(t.Context()).Header)
	if r.Host != before.Host || r.URL.String() != before.URL.String() || !reflect.DeepEqual(r.Header, before.Header) {
		t.Errorf("request changed: %v %v %v", r.Host, r.URL, r.Header)
	}
}
