package route_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/proxy/route"
)

// trafficGolden is the translator's golden output for a client of
// Services with HTTPRoutes, GRPCRoutes and TrafficPolicies. Only the file
// is read: the proxy imports nothing of the control plane.
const trafficGolden = "../../controlplane/translate/testdata/traffic/productpage-outbound.golden.yaml"

// goldenTables compiles every RouteConfiguration of a translator golden
// file, keyed by name.
func goldenTables(t *testing.T, path string) map[string]*route.Table {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Routes []json.RawMessage `json:"routes"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]*route.Table{}
	for _, r := range doc.Routes {
		rc := &routev3.RouteConfiguration{}
		if err := protojson.Unmarshal(r, rc); err != nil {
			t.Fatal(err)
		}
		out[rc.GetName()] = compile(t, rc)
	}
	return out
}

// TestTranslatedWeightedSplit checks that the translator's 90/10 HTTPRoute
// rule really sends 90% of requests to reviews-v1 and 10% to reviews-v2
// once the proxy compiles it.
func TestTranslatedWeightedSplit(t *testing.T) {
	tbl := goldenTables(t, trafficGolden)["outbound|reviews.store|80"]
	if tbl == nil {
		t.Fatal("no route configuration outbound|reviews.store|80 in the golden file")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 10000
	counts := map[string]int{}
	r := req("GET", "http://reviews.store:80/reviews/1")
	for range n {
		d, ok := tbl.Match(r, rng.Uint64)
		if !ok || d.Cluster == "" {
			t.Fatalf("GET /reviews/1: %s, want a weighted cluster", summary(d, ok))
		}
		counts[d.Cluster]++
	}
	for cluster, want := range map[string]float64{
		"outbound|80||reviews-v1.store.svc.cluster.local": 90,
		"outbound|80||reviews-v2.store.svc.cluster.local": 10,
	} {
		if got := float64(counts[cluster]) / n * 100; got < want-2 || got > want+2 {
			t.Errorf("%s got %.1f%% of requests, want %v%% ± 2", cluster, got, want)
		}
	}
	if len(counts) != 2 {
		t.Errorf("requests went to %v, want the two versions only", counts)
	}
}

// TestTranslatedRoutes runs requests through the translated routes of an
// HTTPRoute and a GRPCRoute: matches, precedence, rewrites, redirects and
// the 500 of rules the proxy cannot run.
func TestTranslatedRoutes(t *testing.T) {
	tables := goldenTables(t, trafficGolden)
	for _, tc := range []struct {
		name    string
		table   string
		method  string
		target  string
		headers []string
		want    string
	}{
		{"canary header", "outbound|reviews.store|80", "GET", "http://reviews/x", []string{"X-Canary: true"},
			"cluster outbound|80||reviews-v2.store.svc.cluster.local"},
		{"exact path and method", "outbound|reviews.store|80", "POST", "http://reviews/reviews/admin", []string{"X-Canary: true"},
			"cluster outbound|80||reviews-v1.store.svc.cluster.local"},
		{"prefix and query, rewritten", "outbound|reviews.store|80", "GET", "http://reviews/api/v1/items?debug=1", nil,
			"cluster outbound|80||reviews-v1.store.svc.cluster.local path /v1/items?debug=1 host reviews.internal"},
		{"prefix is element-wise", "outbound|reviews.store|80", "GET", "http://reviews/api/v1x?debug=1", []string{"X-Canary: true"},
			"cluster outbound|80||reviews-v2.store.svc.cluster.local"},
		{"redirect", "outbound|reviews.store|80", "GET", "http://reviews/old/page?a=1", nil,
			"redirect 301 https://reviews.example.com/new/page?a=1"},
		{"unsupported filter", "outbound|reviews.store|80", "GET", "http://reviews/items/42", nil, `direct 500 ""`},
		{"missing backend", "outbound|reviews.store|80", "GET", "http://reviews/missing", nil, `direct 500 ""`},
		{"backend of another kind", "outbound|reviews.store|80", "GET", "http://reviews/ext/a", nil, `direct 500 ""`},
		{"full path rewrite", "outbound|reviews.store|80", "GET", "http://reviews/a/b?q=1", []string{"X-User: u42"},
			"cluster outbound|80||reviews-v1.store.svc.cluster.local path /user?q=1"},
		{"gRPC method and header", "outbound|greeter.store|50051", "POST", "http://greeter/helloworld.Greeter/SayHello", []string{"X-Tenant: blue"},
			"cluster outbound|50051||greeter-v2.store.svc.cluster.local"},
		{"gRPC method of any service", "outbound|greeter.store|50051", "POST", "http://greeter/grpc.health.v1.Health/Check", nil,
			"cluster outbound|50051||greeter.store.svc.cluster.local"},
		{"gRPC other method", "outbound|greeter.store|50051", "POST", "http://greeter/other.Svc/Call", nil,
			"cluster outbound|50051||greeter.store.svc.cluster.local"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl := tables[tc.table]
			if tbl == nil {
				t.Fatalf("no route configuration %s", tc.table)
			}
			d, ok := tbl.Match(req(tc.method, tc.target, tc.headers...), fixed(0))
			if got := summary(d, ok); got != tc.want {
				t.Errorf("%s %s: %s, want %s", tc.method, tc.target, got, tc.want)
			}
		})
	}
}

// TestTranslatedTrafficPolicy checks what a TrafficPolicy puts on routes:
// timeout, retries and the hash on a header.
func TestTranslatedTrafficPolicy(t *testing.T) {
	tbl := goldenTables(t, trafficGolden)["outbound|ratings.store|80"]
	d, ok := tbl.Match(req("GET", "http://ratings/r"), nil)
	if !ok || d.Route == nil {
		t.Fatalf("GET /r: %s", summary(d, ok))
	}
	rt := d.Route
	if rt.Timeout.Seconds() != 3 || rt.Retry == nil || rt.Retry.NumRetries != 2 || rt.Retry.PerTryTimeout.Seconds() != 1 {
		t.Errorf("route timeout %v retry %+v, want 3s and 2 retries of at most 1s", rt.Timeout, rt.Retry)
	}
	if len(rt.HashPolicy) != 1 || rt.HashPolicy[0].Kind != route.HashHeader || rt.HashPolicy[0].Name != "X-User" {
		t.Errorf("hash policy %+v, want the X-User header", rt.HashPolicy)
	}
}
