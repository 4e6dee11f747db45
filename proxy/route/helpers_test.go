package route_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/weftmesh/weft/proxy/route"
)

// parse reads a RouteConfiguration written in its JSON form.
func parse(t testing.TB, js string) *routev3.RouteConfiguration {
	t.Helper()
	rc := &routev3.RouteConfiguration{}
	if err := protojson.Unmarshal([]byte(js), rc); err != nil {
		t.Fatalf("bad test configuration: %v\n%s", err, js)
	}
	return rc
}

// routes is a configuration "test" with one virtual host "vh" for every
// domain and the given routes (JSON objects, comma-separated).
func routes(t testing.TB, routesJSON string) *routev3.RouteConfiguration {
	t.Helper()
	return parse(t, `{"name":"test","virtual_hosts":[{"name":"vh","domains":["*"],"routes":[`+routesJSON+`]}]}`)
}

func compile(t testing.TB, rc *routev3.RouteConfiguration) *route.Table {
	t.Helper()
	tbl, err := route.Compile(rc)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return tbl
}

// req builds a server-side request for target (absolute URLs set the
// authority and, for https, TLS) with headers given as "Name: value".
func req(method, target string, headers ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		r.Header.Add(name, strings.TrimSpace(value))
	}
	return r
}

// summary writes what a Decision says in one line.
func summary(d *route.Decision, ok bool) string {
	switch {
	case !ok:
		return "no match"
	case d.Direct != nil:
		return fmt.Sprintf("direct %d %q", d.Direct.Status, d.Direct.Body)
	case d.Redirect != nil:
		return fmt.Sprintf("redirect %d %s", d.Redirect.Status, d.Redirect.Location)
	}
	s := "cluster " + d.Cluster
	if d.Path != "" {
		s += " path " + d.Path
	}
	if d.Host != "" {
		s += " host " + d.Host
	}
	if d.AutoHostRewrite {
		s += " auto_host"
	}
	return s
}

// fixed returns a "random" source that always yields v.
func fixed(v uint64) func() uint64 { return func() uint64 { return v } }
