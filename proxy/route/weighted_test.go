package route_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestWeightedSplit(t *testing.T) {
	weights := map[string]uint32{"a": 50, "b": 30, "c": 15, "d": 4, "e": 1}
	tbl := compile(t, routes(t, `{"match":{"prefix":"/"},"route":{"weighted_clusters":{"clusters":[
		{"name":"a","weight":50},{"name":"b","weight":30},{"name":"zero","weight":0},{"name":"c","weight":15},{"name":"d","weight":4},{"name":"e","weight":1}]}}}`))
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 10000
	counts := map[string]int{}
	r := req("GET", "/")
	for range n {
		d, ok := tbl.Match(r, rng.Uint64)
		if !ok {
			t.Fatal("no match")
		}
		counts[d.Cluster]++
	}
	if counts["zero"] != 0 {
		t.Errorf("cluster with weight 0 got %d requests", counts["zero"])
	}
	for name, w := range weights {
		got := float64(counts[name]) / n * 100
		if want := float64(w); got < want-2 || got > want+2 {
			t.Errorf("cluster %s got %.2f%% of requests, want %v%% ± 2", name, got, want)
		}
	}
	t.Logf("split over %d requests: %v", n, counts)
}

func TestWeightedDefaultRandom(t *testing.T) {
	tbl := compile(t, routes(t, `{"match":{"prefix":"/"},"route":{"weighted_clusters":{"clusters":[{"name":"a","weight":1},{"name":"b","weight":1}]}}}`))
	seen := map[string]bool{}
	for i := 0; i < 200 && len(seen) < 2; i++ {
		d, _ := tbl.Match(req("GET", "/"), nil)
		seen[d.Cluster] = true
	}
	if len(seen) != 2 {
		t.Errorf("200 picks with the default source chose only %v", seen)
	}
}

// benchConfig is a mesh-sized configuration: 50 virtual hosts with exact
// and wildcard domains, each with 20 routes of mixed kinds.
func benchConfig() string {
	vhosts := ""
	for v := range 50 {
		rs := ""
		for r := range 20 {
			var m string
			switch r % 4 {
			case 0:
				m = fmt.Sprintf(`{"prefix":"/p%d/"}`, r)
			case 1:
				m = fmt.Sprintf(`{"path":"/exact/%d"}`, r)
			case 2:
				m = fmt.Sprintf(`{"safe_regex":{"regex":"/re%d/[0-9]+"}}`, r)
			default:
				m = fmt.Sprintf(`{"prefix":"/h%d","headers":[{"name":"x-tenant","string_match":{"exact":"t%d"}},{"name":":method","string_match":{"exact":"GET"}}]}`, r, r)
			}
			if rs != "" {
				rs += ","
			}
			rs += fmt.Sprintf(`{"name":"r%d","match":%s,"route":{"weighted_clusters":{"clusters":[{"name":"c%d-a","weight":90},{"name":"c%d-b","weight":10}]},"prefix_rewrite":"/"}}`, r, m, r, r)
		}
		if vhosts != "" {
			vhosts += ","
		}
		vhosts += fmt.Sprintf(`{"name":"vh%d","domains":["svc%d.ns.svc.cluster.local","svc%d","*.svc%d.example"],
			"request_headers_to_add":[{"header":{"key":"x-vh","value":"%d"}}],"routes":[%s]}`, v, v, v, v, v, rs)
	}
	return `{"name":"bench","virtual_hosts":[` + vhosts + `]}`
}

func BenchmarkMatch(b *testing.B) {
	tbl := compile(b, parse(b, benchConfig()))
	rng := rand.New(rand.NewPCG(1, 2))
	for _, bc := range []struct{ name, target string }{
		{"first route", "http://svc25.ns.svc.cluster.local:8080/p0/items"},
		{"header route, last", "http://svc25/h19/x"},
		{"regex route", "http://a.svc49.example/re18/12345"},
		{"no match", "http://svc3/none"},
	} {
		r := req("GET", bc.target, "X-Tenant: t19")
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tbl.Match(r, rng.Uint64)
			}
		})
	}
}
