package route_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/weftmesh/weft/proxy/route"
)

func TestRequestMirrorPolicies(t *testing.T) {
	tab := compile(t, routes(t, `{"match":{"prefix":"/"},"route":{"cluster":"app","request_mirror_policies":[
		{"cluster":"shadow-all"},
		{"cluster":"shadow-none","runtime_fraction":{"default_value":{"numerator":0,"denominator":"HUNDRED"},"runtime_key":"k"}},
		{"cluster":"shadow-tenth","runtime_fraction":{"default_value":{"numerator":1000,"denominator":"TEN_THOUSAND"}}}]}}`))
	d, ok := tab.Match(req("GET", "/x"), nil)
	if !ok || d.Route == nil {
		t.Fatal("no route matched")
	}
	want := []route.MirrorPolicy{{Cluster: "shadow-all", Numerator: 100, Denominator: 100},
		{Cluster: "shadow-none", Numerator: 0, Denominator: 100},
		{Cluster: "shadow-tenth", Numerator: 1000, Denominator: 10000}}
	if !slices.Equal(d.Route.Mirrors, want) {
		t.Fatalf("mirrors %+v, want %+v", d.Route.Mirrors, want)
	}
	counts := make([]int, 3)
	for range 2000 {
		for i, m := range d.Route.Mirrors {
			if m.Sampled() {
				counts[i]++
			}
		}
	}
	if counts[0] != 2000 || counts[1] != 0 || counts[2] < 100 || counts[2] > 320 {
		t.Errorf("sampled %v of 2000 requests, want all, none and about 200", counts)
	}

	for _, tt := range []struct{ name, js, want string }{
		{"no cluster", `{"cluster":""}`, "request_mirror_policies[0].cluster: empty"},
		{"unknown field", `{"cluster":"s","trace_sampled":true}`, "request_mirror_policies[0].trace_sampled"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := route.Compile(routes(t, `{"match":{"prefix":"/"},"route":{"cluster":"app","request_mirror_policies":[`+tt.js+`]}}`))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compile: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
