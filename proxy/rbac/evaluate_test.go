package rbac_test

import (
	"net/http"
	"net/netip"
	"slices"
	"testing"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"

	"github.com/weftmesh/weft/proxy/rbac"
)

const (
	allowA  = rbacv3.RBAC_ALLOW
	denyA   = rbacv3.RBAC_DENY
	auditA  = rbacv3.RBAC_LOG
	alice   = "spiffe://cluster.local/ns/shop/sa/alice"
	bob     = "spiffe://cluster.local/ns/shop/sa/bob"
	mallory = "spiffe://cluster.local/ns/other/sa/mallory"
	// dotted has the dots and regex characters that must stay literal.
	dotted = "spiffe://cluster.local/ns/a.b/sa/c+d"
)

// req is an HTTP input from peer (plaintext when "") at 10.0.0.1 to
// port 8080.
func req(peer, method, target string, header ...string) *rbac.Input {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Add(header[i], header[i+1])
	}
	return &rbac.Input{
		PeerID: peer, RemoteIP: netip.MustParseAddr("10.0.0.1"), DestinationPort: 8080,
		Request: &rbac.Request{Method: method, Authority: "shop.example.com", Path: target, Header: h},
	}
}

func withIP(in *rbac.Input, ip string) *rbac.Input {
	in.RemoteIP = netip.MustParseAddr(ip)
	return in
}

func withPort(in *rbac.Input, p uint16) *rbac.Input {
	in.DestinationPort = p
	return in
}

func withAuthority(in *rbac.Input, a string) *rbac.Input {
	in.Request.Authority = a
	return in
}

func allowed(policy string, audited ...string) rbac.Decision {
	d := rbac.Decision{Allowed: true, Audited: audited}
	if policy != "" {
		d.Reason, d.Policy = rbac.ReasonAllowed, policy
	}
	return d
}

func denied(policy string, audited ...string) rbac.Decision {
	return rbac.Decision{Reason: rbac.ReasonDenied, Policy: policy, Audited: audited}
}

func notAllowed(audited ...string) rbac.Decision {
	return rbac.Decision{Reason: rbac.ReasonNotAllowed, Audited: audited}
}

type check struct {
	in   *rbac.Input
	want rbac.Decision
}

// TestEvaluate is the table of policy evaluation the issue asks for:
// ALLOW/DENY/AUDIT precedence, not forms, empty identity, literal
// matching, case folding, ports, IP blocks and headers. Each check says
// what the client sees: allowed, or denied by which policy and why.
func TestEvaluate(t *testing.T) {
	tests := []struct {
		name   string
		rules  []*rbacv3.RBAC
		checks []check
	}{
		{"no filter allows everything", nil, []check{
			{req("", "GET", "/"), allowed("")},
		}},
		{"ALLOW admits only what a policy matches", []*rbacv3.RBAC{
			rules(allowA, map[string]*rbacv3.Policy{"shop/public/rules[0]": pol(andPerm(headerPerm(":method", exact("GET")), path(exact("/public"))), authn(exact(alice)))}),
		}, []check{
			{req(alice, "GET", "/public"), allowed("shop/public/rules[0]")},
			{req(alice, "GET", "/public?x=1"), allowed("shop/public/rules[0]")},
			{req(alice, "POST", "/public"), notAllowed()},
			{req(bob, "GET", "/public"), notAllowed()},
			{req(alice, "GET", "/private"), notAllowed()},
		}},
		{"ALLOW without policies denies everything", []*rbacv3.RBAC{rules(allowA, nil)}, []check{
			{req(alice, "GET", "/"), notAllowed()},
		}},
		{"DENY wins over ALLOW", []*rbacv3.RBAC{
			rules(denyA, map[string]*rbacv3.Policy{"shop/no-admin/rules[0]": pol(path(prefix("/admin")), anyID())}),
			rules(allowA, map[string]*rbacv3.Policy{"shop/all/rules[0]": pol(anyPerm(), anyID())}),
		}, []check{
			{req(alice, "GET", "/admin/users"), denied("shop/no-admin/rules[0]")},
			{req(alice, "GET", "/shop"), allowed("shop/all/rules[0]")},
		}},
		{"DENY reports its first matching policy by key", []*rbacv3.RBAC{
			rules(denyA, map[string]*rbacv3.Policy{
				"shop/b/rules[0]": pol(anyPerm(), anyID()),
				"shop/a/rules[1]": pol(anyPerm(), authn(exact(bob))),
				"shop/a/rules[0]": pol(path(exact("/x")), anyID()),
			}),
		}, []check{
			{req(bob, "GET", "/x"), denied("shop/a/rules[0]")},
			{req(bob, "GET", "/y"), denied("shop/a/rules[1]")},
			{req(alice, "GET", "/y"), denied("shop/b/rules[0]")},
		}},
		{"AUDIT only records, before DENY and ALLOW decide", []*rbacv3.RBAC{
			rules(auditA, map[string]*rbacv3.Policy{
				"shop/audit-admin/rules[0]": pol(path(prefix("/admin")), anyID()),
				"shop/audit-bob/rules[0]":   pol(anyPerm(), authn(exact(bob))),
				"shop/audit-post/rules[0]":  pol(headerPerm(":method", exact("POST")), anyID()),
			}),
			rules(denyA, map[string]*rbacv3.Policy{"shop/deny/rules[0]": pol(path(exact("/admin/drop")), anyID())}),
			rules(allowA, map[string]*rbacv3.Policy{"shop/allow/rules[0]": pol(path(prefix("/admin")), anyID())}),
		}, []check{
			{req(bob, "GET", "/admin/users"), allowed("shop/allow/rules[0]", "shop/audit-admin/rules[0]", "shop/audit-bob/rules[0]")},
			{req(alice, "GET", "/admin/drop"), denied("shop/deny/rules[0]", "shop/audit-admin/rules[0]")},
			{req(bob, "GET", "/other"), notAllowed("shop/audit-bob/rules[0]")},
			{req(alice, "GET", "/other"), notAllowed()},
		}},
		{"AUDIT alone allows everything", []*rbacv3.RBAC{
			rules(auditA, map[string]*rbacv3.Policy{"shop/audit/rules[0]": pol(anyPerm(), anyID())}),
		}, []check{
			{req("", "GET", "/"), allowed("", "shop/audit/rules[0]")},
		}},
		{"not_rule: DENY everything but /public", []*rbacv3.RBAC{
			rules(denyA, map[string]*rbacv3.Policy{"shop/only-public/rules[0]": pol(notPerm(orPerm(path(exact("/public")), path(prefix("/public/")))), anyID())}),
		}, []check{
			{req(alice, "GET", "/public"), allowed("")},
			{req(alice, "GET", "/public/a"), allowed("")},
			{req(alice, "GET", "/publicity"), denied("shop/only-public/rules[0]")},
		}},
		{"not_id in DENY (notNamespaces) denies plaintext", []*rbacv3.RBAC{
			rules(denyA, map[string]*rbacv3.Policy{"shop/ns-only/rules[0]": pol(anyPerm(), notID(orIDs(namespace("shop"))))}),
		}, []check{
			{req(alice, "GET", "/"), allowed("")},
			{req(mallory, "GET", "/"), denied("shop/ns-only/rules[0]")},
			{req("", "GET", "/"), denied("shop/ns-only/rules[0]")},
		}},
		{"not_id in ALLOW (notNamespaces) requires a verified peer", []*rbacv3.RBAC{
			rules(allowA, map[string]*rbacv3.Policy{"shop/not-other/rules[0]": pol(anyPerm(), andIDs(authn(nil), notID(orIDs(namespace("other")))))}),
		}, []check{
			{req(alice, "GET", "/"), allowed("shop/not-other/rules[0]")},
			{req(mallory, "GET", "/"), notAllowed()},
			{req("", "GET", "/"), notAllowed()},
		}},
		{"empty identity never matches a principal or namespace", []*rbacv3.RBAC{
			rules(allowA, map[string]*rbacv3.Policy{
				"shop/any-peer/rules[0]": pol(path(exact("/any")), authn(nil)),
				"shop/empty/rules[0]":    pol(path(exact("/empty")), authn(exact(""))),
				"shop/ns/rules[0]":       pol(path(exact("/ns")), namespace("shop")),
				"shop/suffix/rules[0]":   pol(path(exact("/suffix")), authn(suffix("/sa/alice"))),
			}),
		}, []check{
			{req("", "GET", "/any"), notAllowed()},
			{req("", "GET", "/empty"), notAllowed()},
			{req("", "GET", "/ns"), notAllowed()},
			{req("", "GET", "/suffix"), notAllowed()},
			{req(alice, "GET", "/any"), allowed("shop/any-peer/rules[0]")},
			{req(alice, "GET", "/ns"), allowed("shop/ns/rules[0]")},
			{req(alice, "GET", "/suffix"), allowed("shop/suffix/rules[0]")},
		}},
		{"not_id around authenticated matches plaintext", []*rbacv3.RBAC{
			rules(allowA, map[string]*rbacv3.Policy{"shop/plaintext/rules[0]": pol(anyPerm(), notID(authn(nil)))}),
		}, []check{
			{req("", "GET", "/"), allowed("shop/plaintext/rules[0]")},
			{req(alice, "GET", "/"), notAllowed()},
		}},
		{"names with dots and regex characters are literal", []*rbacv3.RBAC{
			rules(allowA, map[string]*rbacv3.Policy{
				"a.b/sa/rules[0]": pol(path(exact("/sa")), authn(exact(dotted))),
				"a.b/ns/rules[0]": pol(path(exact("/ns")), namespace("a.b")),
				"a.b/p/rules[0]":  pol(path(exact("/v1.0/a*")), anyID()),
				"a.b/h/rules[0]":  pol(headerPerm("x-tag", exact("a.*")), anyID()),
			}),
		}, []check{
			{req(dotted, "GET", "/sa"), allowed("a.b/sa/rules[0]")},
			{req("spiffe://cluster.local/ns/aXb/sa/c+d", "GET", "/sa"), notAllowed()},
			{req("spiffe://cluster.local/ns/a.b/sa/cd", "GET", "/sa"), notAllowed()},
			{req("spiffe://cluster.local/ns/a.b/sa/ccd", "GET", "/sa"), notAllowed()},
			{req("spiffe://cluster.local/ns/a.b/sa/c+d/x", "GET", "/sa"), notAllowed()},
			{req("spiffe://cluster.local/ns/a.b/sa/x", "GET", "/ns"), allowed("a.b/ns/rules[0]")},
			{req("spiffe://cluster.local/ns/aXb/sa/x", "GET", "/ns"), notAllowed()},
			{req("spiffe://cluster.local/ns/a.bc/sa/x", "GET", "/ns"), notAllowed()},
			{req("spiffe://cluster.local/ns/a.b/sa/x", "GET", "/v1.0/a*"), allowed("a.b/p/rules[0]")},
			{req("spiffe://cluster.local/ns/a.b/sa/x", "GET", "/v1x0/aaa"), notAllowed()},
			{req("", "GET", "/", "X-Tag", "a.*"), allowed("a.b/h/rules[0]")},
			{req("", "GET", "/", "X-Tag", "abc"), notAllowed()},
		}},
		{"ignore_case folds ASCII only, and only when set", []*rbacv3.RBAC{
			rules(denyA, map[string]*rbacv3.Policy{
				"shop/admin-any-case/rules[0]": pol(path(fold(prefix("/admin"))), anyID()),
				"shop/kelvin/rules[0]":         pol(path(exact("/K")), anyID()),
				"shop/k/rules[0]":              pol(path(fold(exact("/k"))), anyID()),
			}),
		}, []check{
			{req(alice, "GET", "/ADMIN"), denied("shop/admin-any-case/rules[0]")},
			{req(alice, "GET", "/AdMiN/x"), denied("shop/admin-any-case/rules[0]")},
			{req(alice, "GET", "/K"), denied("shop/k/rules[0]")},
			{req(alice, "GET", "/\u212a"), allowed("")}, // the Kelvin sign is not K
			{req(alice, "GET", "/k"), denied("shop/k/rules[0]")},
		}},
		{"case matters without ignore_case", []*rbacv3.RBAC{
			rules(denyA, map[string]*rbacv3.Policy{"shop/admin/rules[0]": pol(path(prefix("/admin")), anyID())}),
		}, []check{
			{req(alice, "GET", "/ADMIN"), allowed("")},
			{req(alice, "GET", "/admin"), denied("shop/admin/rules[0]")},
		}},
		{"url_path ignores the query and path parameters", []*rbacv3.RBAC{
			rules(denyA, map[string]*rbacv3.Policy{"shop/admin/rules[0]": pol(orPerm(path(exact("/admin")), path(prefix("/admin/"))), anyID())}),
		}, []check{
			{req(alice, "GET", "/admin?x"), denied("shop/admin/rules[0]")},
			{req(alice, "GET", "/admin;x=y"), denied("shop/admin/rules[0]")},
			{req(alice, "GET", "/admin;x=y/z;a"), denied("shop/admin/rules[0]")},
			{req(alice, "GET", "/admin/"), denied("shop/admin/rules[0]")},
			{req(alice, "GET", "/;x/admin"), denied("shop/admin/rules[0]")},
			{req(alice, "GET", "/app/..;x/admin"), denied("shop/admin/rules[0]")},
			{req(alice, "GET", "/administrator"), allowed("")},
		}},
		{"hosts: suffix on :authority, case-insensitive", []*rbacv3.RBAC{
			rules(allowA, map[string]*rbacv3.Policy{"shop/host/rules[0]": pol(orPerm(headerPerm(":authority", fold(suffix(".example.com"))), headerPerm(":authority", fold(exact("example.com")))), anyID())}),
		}, []check{
			{withAuthority(req(alice, "GET", "/"), "API.Example.COM"), allowed("shop/host/rules[0]")},
			{withAuthority(req(alice, "GET", "/"), "example.com"), allowed("shop/host/rules[0]")},
			{withAuthority(req(alice, "GET", "/"), "example.com.evil"), notAllowed()},
			{withAuthority(req(alice, "GET", "/"), "evilexample.com"), notAllowed()},
		}},
		{"ports", []*rbacv3.RBAC{
			rules(allowA, map[string]*rbacv3.Policy{"shop/port/rules[0]": pol(orPerm(port(8080), port(9090)), anyID())}),
		}, []check{
			{req(alice, "GET", "/"), allowed("shop/port/rules[0]")},
			{withPort(req(alice, "GET", "/"), 9090), allowed("shop/port/rules[0]")},
			{withPort(req(alice, "GET", "/"), 8081), notAllowed()},
		}},
		{"IP blocks", []*rbacv3.RBAC{
			rules(denyA, map[string]*rbacv3.Policy{"shop/ips/rules[0]": pol(anyPerm(), orIDs(ipBlock("10.0.0.0", 8), ipBlock("2001:db8::", 32), ipBlock("192.0.2.7", 32)))}),
		}, []check{
			{withIP(req(alice, "GET", "/"), "10.200.0.1"), denied("shop/ips/rules[0]")},
			{withIP(req(alice, "GET", "/"), "::ffff:10.1.2.3"), denied("shop/ips/rules[0]")},
			{withIP(req(alice, "GET", "/"), "11.0.0.1"), allowed("")},
			{withIP(req(alice, "GET", "/"), "2001:db8:1::1"), denied("shop/ips/rules[0]")},
			{withIP(req(alice, "GET", "/"), "2001:db9::1"), allowed("")},
			{withIP(req(alice, "GET", "/"), "192.0.2.7"), denied("shop/ips/rules[0]")},
			{withIP(req(alice, "GET", "/"), "192.0.2.8"), allowed("")},
		}},
		{"not IP block", []*rbacv3.RBAC{
			rules(allowA, map[string]*rbacv3.Policy{"shop/not-ips/rules[0]": pol(anyPerm(), notID(orIDs(ipBlock("10.0.0.0", 8))))}),
		}, []check{
			{withIP(req(alice, "GET", "/"), "10.1.1.1"), notAllowed()},
			{withIP(req(alice, "GET", "/"), "127.0.0.1"), allowed("shop/not-ips/rules[0]")},
		}},
		{"headers: several values joined with a comma; presence", []*rbacv3.RBAC{
			rules(denyA, map[string]*rbacv3.Policy{
				"shop/joined/rules[0]":  pol(headerPerm("x-a", exact("1,2")), anyID()),
				"shop/absent/rules[0]":  pol(presentPerm("x-required", false), anyID()),
				"shop/present/rules[0]": pol(presentPerm("x-debug", true), anyID()),
			}),
		}, []check{
			{req(alice, "GET", "/", "X-A", "1", "X-A", "2", "X-Required", "y"), denied("shop/joined/rules[0]")},
			{req(alice, "GET", "/", "X-A", "1", "X-Required", "y"), allowed("")},
			{req(alice, "GET", "/"), denied("shop/absent/rules[0]")},
			{req(alice, "GET", "/", "X-Required", "", "X-Debug", ""), denied("shop/present/rules[0]")},
		}},
		{"when: header principals, and not values", []*rbacv3.RBAC{
			rules(allowA, map[string]*rbacv3.Policy{"shop/when/rules[0]": pol(anyPerm(), andIDs(
				orIDs(authn(exact(alice))),
				orIDs(headerID("x-env", exact("prod")), headerID("x-env", exact("staging"))),
				notID(orIDs(headerID("x-user", exact("root")))),
			))}),
		}, []check{
			{req(alice, "GET", "/", "X-Env", "prod"), allowed("shop/when/rules[0]")},
			{req(alice, "GET", "/", "X-Env", "staging", "X-User", "joe"), allowed("shop/when/rules[0]")},
			{req(alice, "GET", "/", "X-Env", "prod", "X-User", "root"), notAllowed()},
			{req(alice, "GET", "/", "X-Env", "Prod"), notAllowed()},
			{req(alice, "GET", "/"), notAllowed()},
			{req(bob, "GET", "/", "X-Env", "prod"), notAllowed()},
		}},
		{"host header and :method", []*rbacv3.RBAC{
			rules(denyA, map[string]*rbacv3.Policy{"shop/host/rules[0]": pol(andPerm(headerPerm("host", exact("internal")), headerPerm(":method", exact("DELETE"))), anyID())}),
		}, []check{
			{withAuthority(req(alice, "DELETE", "/"), "internal"), denied("shop/host/rules[0]")},
			{withAuthority(req(alice, "GET", "/"), "internal"), allowed("")},
		}},
		{"TCP: ports, principals and IPs without a request", []*rbacv3.RBAC{
			rules(allowA, map[string]*rbacv3.Policy{"db/tcp/rules[0]": pol(port(5432), orIDs(authn(exact(alice)), ipBlock("127.0.0.0", 8)))}),
		}, []check{
			{&rbac.Input{PeerID: alice, RemoteIP: netip.MustParseAddr("10.0.0.1"), DestinationPort: 5432}, allowed("db/tcp/rules[0]")},
			{&rbac.Input{RemoteIP: netip.MustParseAddr("127.0.0.2"), DestinationPort: 5432}, allowed("db/tcp/rules[0]")},
			{&rbac.Input{RemoteIP: netip.MustParseAddr("10.0.0.1"), DestinationPort: 5432}, notAllowed()},
			{&rbac.Input{PeerID: alice, DestinationPort: 5433}, notAllowed()},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := chain(t, tt.rules...)
			for _, ch := range tt.checks {
				got := c.Evaluate(ch.in)
				if !decisionEqual(got, ch.want) {
					desc := "TCP"
					if r := ch.in.Request; r != nil {
						desc = r.Method + " " + r.Path
					}
					t.Errorf("%s from %q at %s port %d: got %+v, want %+v", desc, ch.in.PeerID, ch.in.RemoteIP, ch.in.DestinationPort, got, ch.want)
				}
			}
		})
	}
}

func decisionEqual(a, b rbac.Decision) bool {
	return a.Allowed == b.Allowed && a.Reason == b.Reason && a.Policy == b.Policy && slices.Equal(a.Audited, b.Audited)
}

func TestURLPath(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/admin", "/admin"},
		{"/admin?x=1;y", "/admin"},
		{"/admin;x=y", "/admin"},
		{"/a;b/c;d/", "/a/c/"},
		{"/;x/admin", "/admin"},
		{"/.;x/admin", "/admin"},
		{"/app/..;x/admin;y", "/admin"},
		{"/", "/"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			if got := rbac.URLPath(tt.in); got != tt.want {
				t.Errorf("URLPath(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
