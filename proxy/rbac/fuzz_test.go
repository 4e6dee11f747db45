package rbac_test

import (
	"net/http"
	"net/netip"
	"testing"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	httprbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	"google.golang.org/protobuf/proto"

	"github.com/weftmesh/weft/proxy/allowlist"
	"github.com/weftmesh/weft/proxy/rbac"
)

// FuzzCompileEvaluate compiles arbitrary HTTP RBAC filters and evaluates
// arbitrary requests against those that compile: neither may panic, and
// every decision must be well formed (a denial names its reason, and a
// DENY denial a policy of the filter).
func FuzzCompileEvaluate(f *testing.F) {
	for _, r := range []*rbacv3.RBAC{
		rules(denyA, map[string]*rbacv3.Policy{"ns/deny/rules[0]": pol(orPerm(path(exact("/admin")), path(fold(prefix("/admin/")))), notID(orIDs(namespace("ns"))))}),
		rules(allowA, map[string]*rbacv3.Policy{"ns/allow/rules[0]": pol(andPerm(headerPerm(":method", exact("GET")), port(8080)), andIDs(authn(nil), ipBlock("10.0.0.0", 8), headerID("x-env", suffix("prod"))))}),
		rules(auditA, map[string]*rbacv3.Policy{"ns/audit/rules[0]": pol(notPerm(presentPerm("x-debug", true)), anyID())}),
	} {
		b, err := proto.Marshal(&httprbacv3.RBAC{Rules: r})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "spiffe://cluster.local/ns/ns/sa/a", "10.1.2.3", "/admin;x=y/?q", "prod")
	}
	f.Fuzz(func(t *testing.T, config []byte, peer, ip, target, env string) {
		var cfg httprbacv3.RBAC
		if proto.Unmarshal(config, &cfg) != nil {
			return
		}
		p := allowlist.New("listener", "fuzz")
		filter := rbac.CompileHTTP(p, "typed_config", &cfg)
		if (filter == nil) != (p.Len() > 0) {
			t.Fatalf("filter %v with problems %v", filter, p.Err())
		}
		if filter == nil {
			return
		}
		c := &rbac.Chain{}
		c.Append(p, "typed_config", filter)
		addr, _ := netip.ParseAddr(ip)
		d := c.Evaluate(&rbac.Input{PeerID: peer, RemoteIP: addr, DestinationPort: 8080, Request: &rbac.Request{
			Method: "GET", Authority: "a.example", Path: target, Header: http.Header{"X-Env": {env}},
		}})
		switch {
		case d.Allowed && (d.Reason == rbac.ReasonDenied || d.Reason == rbac.ReasonNotAllowed):
			t.Fatalf("allowed with reason %q", d.Reason)
		case !d.Allowed && d.Reason == rbac.ReasonDenied:
			if _, ok := cfg.GetRules().GetPolicies()[d.Policy]; !ok || cfg.GetRules().GetAction() != rbacv3.RBAC_DENY {
				t.Fatalf("denied by %q, not a DENY policy of the filter", d.Policy)
			}
		case !d.Allowed && (d.Reason != rbac.ReasonNotAllowed || d.Policy != ""):
			t.Fatalf("malformed denial %+v", d)
		}
		if again := c.Evaluate(&rbac.Input{PeerID: peer, RemoteIP: addr, DestinationPort: 8080, Request: &rbac.Request{
			Method: "GET", Authority: "a.example", Path: target, Header: http.Header{"X-Env": {env}},
		}}); again.Allowed != d.Allowed || again.Policy != d.Policy {
			t.Fatalf("two evaluations disagree: %+v, then %+v", d, again)
		}
	})
}
