package main

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weftmesh/weft/proxy/explain"
)

// TestExplainAgreesWithTheProxies runs a real mesh (control plane,
// four sidecars, two apps that answer with their name) and, for each
// request of a table, asks `weftctl explain` what the sidecars will do,
// then sends the request for real and compares: the cluster explain
// names belongs to the backend that answered, its allow/deny is the
// 200/403 the client got, and the policy it names is the one the
// destination proxy counted the denial under.
func TestExplainAgreesWithTheProxies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a control plane and four proxies")
	}
	m := newExplainMesh(t)
	clusterOf := map[string]string{ // the app's answer → its Service's cluster
		"backend-1":  "outbound|9000||backend.shop.svc.cluster.local",
		"backend-v2": "outbound|9000||backend-v2.shop.svc.cluster.local",
	}
	proxyOf := map[string]string{"backend-1": "backend-1", "backend-v2": "backend-v2-1"}

	// The configuration is complete once the DENY policy is in force.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, _ := send(t, explainNet+"2:9000", "GET", "/admin", nil)
		if code == http.StatusForbidden {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the policies never came into force: GET /admin answered %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}

	tests := []struct {
		name, from, method, target string
		headers                    []string
		// wantStatus and wantPolicy are what explain must predict (and
		// the proxies do): the deciding policy key and reason.
		wantStatus         int
		wantPolicy, reason string
	}{
		{"allowed GET", "frontend-1", "GET", "/public", nil, 200, "shop/allow-frontend/rules[0]", "allowed"},
		{"method not allowed", "frontend-1", "POST", "/public", nil, 403, "", "not_allowed"},
		{"denied path", "frontend-1", "GET", "/admin", nil, 403, "shop/deny-admin/rules[0]", "denied"},
		{"denied path, other case", "frontend-1", "GET", "/ADMIN/users", nil, 403, "shop/deny-admin/rules[0]", "denied"},
		{"denied path with parameters", "frontend-1", "GET", "/admin;x=y", nil, 403, "shop/deny-admin/rules[0]", "denied"},
		{"denied path after normalization", "frontend-1", "GET", "/app/../admin", nil, 403, "shop/deny-admin/rules[0]", "denied"},
		{"header route to v2", "frontend-1", "GET", "/public", []string{"X-Version: v2"}, 200, "", "no_policy"},
		{"header route to v2, denied path", "frontend-1", "GET", "/admin/x", []string{"x-version: v2"}, 403, "shop/deny-admin/rules[0]", "denied"},
		{"header that matches no route", "frontend-1", "GET", "/public", []string{"X-Version: v3"}, 200, "shop/allow-frontend/rules[0]", "allowed"},
		{"prefix rule, any method", "frontend-1", "DELETE", "/api/items?q=1", nil, 200, "shop/allow-frontend/rules[1]", "allowed"},
		{"other service account", "intruder-1", "GET", "/public", nil, 403, "", "not_allowed"},
		{"other service account, denied path", "intruder-1", "GET", "/admin", nil, 403, "shop/deny-admin/rules[0]", "denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := explainNet + map[string]string{"frontend-1": "2", "intruder-1": "4"}[tt.from] + ":9000"
			// Explain first, against each backend: exactly one of them
			// serves the endpoint the route leads to.
			var rep *explain.Report
			for _, to := range []string{"backend-1", "backend-v2-1"} {
				args := []string{"--from-admin-url", m.admin(tt.from), "--to-admin-url", m.admin(to)}
				for _, h := range tt.headers {
					args = append(args, "-H", h)
				}
				r, stderr, code := explainJSON(t, append(args, tt.method, "http://"+src+tt.target)...)
				if code != 0 {
					t.Fatalf("weftctl explain: exit %d: %s", code, stderr)
				}
				if r.Destination != nil {
					if rep != nil {
						t.Fatalf("both backends claim the request: %+v and %+v", rep.Destination, r.Destination)
					}
					rep = r
				}
			}
			if rep == nil {
				t.Fatal("explain found no backend serving the request")
			}
			d := rep.Destination
			if len(rep.Source.Clusters) != 1 || rep.Source.Clusters[0].Name != d.Cluster {
				t.Errorf("source clusters %+v, destination reached through %q", rep.Source.Clusters, d.Cluster)
			}
			if d.Authz == nil {
				t.Fatalf("explain decided nothing at the destination: %s", rep.Outcome.Summary)
			}
			if d.Transport != "mtls" || d.Authz.Reason != tt.reason || d.Authz.Policy != tt.wantPolicy {
				t.Errorf("explain: transport %s, authz %+v; want mtls, reason %q, policy %q", d.Transport, d.Authz, tt.reason, tt.wantPolicy)
			}
			if predicted := map[bool]int{true: 200, false: 403}[d.Authz.Allowed]; predicted != tt.wantStatus {
				t.Errorf("explain predicts %d (%s), want %d", predicted, rep.Outcome.Summary, tt.wantStatus)
			}

			// Then for real.
			var name string // the app behind the proxy explain reached
			for app, p := range proxyOf {
				if m.admin(p) == d.Proxy {
					name = app
				}
			}
			before := m.denials(proxyOf[name])
			code, body, err := send(t, src, tt.method, tt.target, tt.headers)
			if err != nil {
				t.Fatalf("sending %s %s: %v", tt.method, tt.target, err)
			}
			if code != tt.wantStatus {
				t.Errorf("the proxies answered %d %q, explain predicted %s", code, body, rep.Outcome.Summary)
			}
			if code == http.StatusOK && clusterOf[body] != d.Cluster {
				t.Errorf("%s answered; explain named cluster %s", body, d.Cluster)
			}
			if code == http.StatusForbidden {
				after := m.denials(proxyOf[name])
				key := tt.wantPolicy + "|" + tt.reason
				if explainCounted(after[key])-explainCounted(before[key]) != 1 {
					t.Errorf("%s did not count the denial under policy %q reason %q: before %v, after %v", proxyOf[name], tt.wantPolicy, tt.reason, before, after)
				}
			}
		})
	}

	t.Run("weighted split", func(t *testing.T) {
		src := explainNet + "2:9000"
		seenByExplain := map[string]bool{}
		for _, to := range []string{"backend-1", "backend-v2-1"} {
			rep, stderr, code := explainJSON(t, "--from-admin-url", m.admin("frontend-1"), "--to-admin-url", m.admin(to), "GET", "http://"+src+"/split/a")
			if code != 0 {
				t.Fatalf("weftctl explain: exit %d: %s", code, stderr)
			}
			cs := rep.Source.Clusters
			if len(cs) != 2 || cs[0].Weight != 50 || cs[1].Weight != 50 || cs[0].TotalWeight != 100 {
				t.Fatalf("explain lists the split as %+v, want two clusters of weight 50/100", cs)
			}
			if rep.Destination == nil || rep.Destination.Authz == nil || !rep.Destination.Authz.Allowed {
				t.Fatalf("explain toward %s: %+v, want the request allowed", to, rep.Destination)
			}
			seenByExplain[rep.Destination.Cluster] = true
		}
		seen := map[string]int{}
		for range 40 {
			code, body, err := send(t, src, "GET", "/split/a", nil)
			if err != nil || code != http.StatusOK {
				t.Fatalf("GET /split/a: %d %q %v", code, body, err)
			}
			if !seenByExplain[clusterOf[body]] {
				t.Errorf("%s answered, which explain did not list (%v)", body, seenByExplain)
			}
			seen[body]++
		}
		if seen["backend-1"] == 0 || seen["backend-v2"] == 0 {
			t.Errorf("the 50/50 split sent %v over 40 requests", seen)
		}
	})

	t.Run("no listener", func(t *testing.T) {
		_, stderr, code := explainJSON(t, "--from-admin-url", m.admin("frontend-1"), "GET", "http://"+explainNet+"2:9999/")
		if code != 1 || !strings.Contains(stderr, "no listener for "+explainNet+"2:9999") {
			t.Errorf("exit %d, stderr %q; want 1 and the missing listener named", code, stderr)
		}
		if _, _, err := send(t, explainNet+"2:9999", "GET", "/", nil); err == nil {
			t.Error("a request to an address without a listener was answered")
		}
	})

	t.Run("text", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), []string{"explain", "--from-admin-url", m.admin("frontend-1"), "--to-admin-url", m.admin("backend-1"),
			"GET", "http://" + explainNet + "2:9000/admin"}, strings.NewReader(""), &stdout, &stderr)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		for _, want := range []string{
			"listener    outbound|backend.shop|9000 on " + explainNet + "2:9000",
			"cluster     outbound|9000||backend.shop.svc.cluster.local (EDS, ROUND_ROBIN, mTLS, HTTP/2)",
			"authz       denied by shop/deny-admin (rules[0])",
			"outcome: 403 RBAC: denied by shop/deny-admin (rules[0])",
		} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("the report lacks %q:\n%s", want, stdout.String())
			}
		}
	})
}

// counted parses a counter's value; 0 when absent.
func explainCounted(v string) float64 {
	f, _ := strconv.ParseFloat(v, 64)
	return f
}
