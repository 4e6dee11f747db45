package translate

import (
	"slices"
	"strings"
	"testing"
	"time"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// routeNames lists the names of the routes of client's RouteConfiguration
// for reviews:80 in the mesh trafficMesh builds, once edit has run on it.
func routeNames(t *testing.T, client model.NamespacedName, edit func(m *model.Mesh)) []string {
	t.Helper()
	mesh := func() *model.Mesh {
		m := trafficMesh()
		edit(m)
		m.Sort()
		return m
	}
	res := translateIn(t, mesh, client)
	var out []string
	for _, r := range find[*route.RouteConfiguration](t, res[resource.RouteType], storeRoutes("reviews", 80)).GetVirtualHosts()[0].GetRoutes() {
		out = append(out, r.GetName())
	}
	return out
}

// rulesRoute is an HTTPRoute on reviews:80 with one rule per match, each
// to reviews-v1.
func rulesRoute(name string, created time.Time, matches ...gwv1.HTTPRouteMatch) gwv1.HTTPRoute {
	r := gwv1.HTTPRoute{
		ObjectMeta: objectMeta("store", name, created),
		Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{
			ParentRefs: []gwv1.ParentReference{serviceParent("reviews", 80)},
		}},
	}
	for _, m := range matches {
		r.Spec.Rules = append(r.Spec.Rules, gwv1.HTTPRouteRule{
			Matches: []gwv1.HTTPRouteMatch{m}, BackendRefs: []gwv1.HTTPBackendRef{backendTo("reviews-v1", 80, 1)},
		})
	}
	return r
}

func TestRoutePrecedence(t *testing.T) {
	prefix := func(p string) gwv1.HTTPRouteMatch {
		return gwv1.HTTPRouteMatch{Path: pathMatch(gwv1.PathMatchPathPrefix, p)}
	}
	exact := func(p string) gwv1.HTTPRouteMatch {
		return gwv1.HTTPRouteMatch{Path: pathMatch(gwv1.PathMatchExact, p)}
	}
	regex := func(p string) gwv1.HTTPRouteMatch {
		return gwv1.HTTPRouteMatch{Path: pathMatch(gwv1.PathMatchRegularExpression, p)}
	}
	headers := func(m gwv1.HTTPRouteMatch, n int) gwv1.HTTPRouteMatch {
		for i := range n {
			m.Headers = append(m.Headers, gwv1.HTTPHeaderMatch{Name: gwv1.HTTPHeaderName("x-h" + itoa(uint32(i))), Value: "1"})
		}
		return m
	}
	query := func(m gwv1.HTTPRouteMatch, n int) gwv1.HTTPRouteMatch {
		for i := range n {
			m.QueryParams = append(m.QueryParams, gwv1.HTTPQueryParamMatch{Name: gwv1.HTTPHeaderName("q" + itoa(uint32(i))), Value: "1"})
		}
		return m
	}
	method := func(m gwv1.HTTPRouteMatch) gwv1.HTTPRouteMatch { m.Method = ptrTo(gwv1.HTTPMethodGet); return m }
	rule := func(route string, i int) string {
		return "HTTPRoute/store/" + route + "/rules[" + itoa(uint32(i)) + "]/matches[0]"
	}

	for _, tc := range []struct {
		name   string
		routes []gwv1.HTTPRoute
		want   []string
	}{
		{
			name:   "exact, then regex, then longest prefix",
			routes: []gwv1.HTTPRoute{rulesRoute("a", epoch, prefix("/"), prefix("/api"), exact("/api"), regex("/a.*"), prefix("/api/v1"))},
			want:   []string{rule("a", 2), rule("a", 3), rule("a", 4), rule("a", 1), rule("a", 0)},
		},
		{
			name:   "then method, headers, query parameters",
			routes: []gwv1.HTTPRoute{rulesRoute("a", epoch, prefix("/x"), query(prefix("/x"), 2), headers(prefix("/x"), 1), method(prefix("/x")), headers(prefix("/x"), 2))},
			want:   []string{rule("a", 3), rule("a", 4), rule("a", 2), rule("a", 1), rule("a", 0)},
		},
		{
			name: "ties: oldest route, then namespace/name, then rule order",
			routes: []gwv1.HTTPRoute{
				rulesRoute("young", epoch.Add(time.Minute), prefix("/p")),
				rulesRoute("old-b", epoch, prefix("/p")),
				rulesRoute("old-a", epoch, prefix("/p"), prefix("/p")),
			},
			want: []string{rule("old-a", 0), rule("old-a", 1), rule("old-b", 0), rule("young", 0)},
		},
		{
			name:   "a trailing slash does not make a prefix longer",
			routes: []gwv1.HTTPRoute{rulesRoute("a", epoch, prefix("/api/"), headers(prefix("/api"), 1))},
			want:   []string{rule("a", 1), rule("a", 0)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := routeNames(t, productpage, func(m *model.Mesh) { m.Policies.HTTPRoutes = tc.routes })
			want := append(slices.Clone(tc.want), "") // the Service's default route comes last
			if !slices.Equal(got, want) {
				t.Errorf("route order:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestCheckRoutes lists what Check says about trafficMesh's traffic
// policies and routes: each a user would otherwise never learn of.
func TestCheckRoutes(t *testing.T) {
	var got []string
	for _, p := range Check(trafficMesh()) {
		if p.Kind == kindTrafficPolicy || p.Kind == kindHTTPRoute || p.Kind == kindGRPCRoute {
			got = append(got, p.Kind+" "+p.Namespace+"/"+p.Name+" "+p.Reason+": "+p.Message)
		}
	}
	want := []string{
		"HTTPRoute store/db-route NotApplicable: parentRefs[0]: port 5432 of Service store/db is TCP; the route is not applied to it",
		"HTTPRoute store/reviews-split UnsupportedValue: rules[5]: filter ExtensionRef is not supported",
		"HTTPRoute store/reviews-split InvalidKind: rules[6]: backendRef store/ext: kind ConfigMap in group \"\" is not a Service",
		"HTTPRoute store/reviews-split BackendNotFound: rules[7]: backendRef store/nope: no such Service",
		"TrafficPolicy store/ghost TargetNotFound: targetRef: no Service store/ghost",
		"TrafficPolicy store/ratings-late Conflicted: TrafficPolicy store/ratings also targets Service store/ratings and wins (first by name); this one is ignored",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Check:\n got %q\nwant %q", got, want)
	}
}

// TestCheckAgreesWithProxy checks that every rule that Proxy turns into a
// 500 is one Check reports, and the other way round.
func TestCheckAgreesWithProxy(t *testing.T) {
	reported := map[string]bool{}
	for _, p := range Check(trafficMesh()) {
		if p.Kind == kindHTTPRoute && p.Name == "reviews-split" {
			rule, _, _ := strings.Cut(p.Message, ":")
			reported["HTTPRoute/"+p.Namespace+"/"+p.Name+"/"+rule+"/matches[0]"] = true
		}
	}
	res := translateIn(t, trafficMesh, productpage)
	failed := map[string]bool{}
	for _, r := range find[*route.RouteConfiguration](t, res[resource.RouteType], storeRoutes("reviews", 80)).GetVirtualHosts()[0].GetRoutes() {
		if r.GetDirectResponse().GetStatus() == 500 {
			failed[r.GetName()] = true
		}
	}
	if len(failed) != 3 {
		t.Errorf("%d rules answer 500, want 3: %v", len(failed), failed)
	}
	for name := range failed {
		if !reported[name] {
			t.Errorf("%s answers 500 but Check does not report it", name)
		}
	}
	for name := range reported {
		if !failed[name] {
			t.Errorf("Check reports %s but Proxy runs it", name)
		}
	}
}

// TestRulesTheProxyCannotRun covers rule translation failures one by one:
// each answers 500 and is reported with its reason.
func TestRulesTheProxyCannotRun(t *testing.T) {
	backend := []gwv1.HTTPBackendRef{backendTo("reviews-v1", 80, 1)}
	for _, tc := range []struct {
		name   string
		rule   gwv1.HTTPRouteRule
		reason string
		has    string
	}{
		{"Host is not modifiable", gwv1.HTTPRouteRule{Filters: []gwv1.HTTPRouteFilter{{
			Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: &gwv1.HTTPHeaderFilter{Set: []gwv1.HTTPHeader{{Name: "Host", Value: "x"}}},
		}}, BackendRefs: backend}, reasonUnsupportedValue, `header "Host" cannot be modified`},
		{"CORS", gwv1.HTTPRouteRule{Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterCORS, CORS: &gwv1.HTTPCORSFilter{}}}, BackendRefs: backend},
			reasonUnsupportedValue, "filter CORS is not supported"},
		{"bad regex", gwv1.HTTPRouteRule{Matches: []gwv1.HTTPRouteMatch{{Path: pathMatch(gwv1.PathMatchRegularExpression, "/a(")}}, BackendRefs: backend},
			reasonUnsupportedValue, "invalid regular expression"},
		{"no port", gwv1.HTTPRouteRule{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{
			BackendObjectReference: gwv1.BackendObjectReference{Name: "reviews-v1"},
		}}}}, reasonBackendNotFound, "needs a port"},
		{"missing port", gwv1.HTTPRouteRule{BackendRefs: []gwv1.HTTPBackendRef{backendTo("reviews-v1", 81, 1)}},
			reasonBackendNotFound, "has no port 81"},
		{"bad duration", gwv1.HTTPRouteRule{Timeouts: &gwv1.HTTPRouteTimeouts{Request: ptrTo(gwv1.Duration("1.5s"))}, BackendRefs: backend},
			reasonUnsupportedValue, "timeouts.request"},
		{"prefix rewrite of an exact match", gwv1.HTTPRouteRule{
			Matches: []gwv1.HTTPRouteMatch{{Path: pathMatch(gwv1.PathMatchExact, "/a")}},
			Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterURLRewrite, URLRewrite: &gwv1.HTTPURLRewriteFilter{
				Path: &gwv1.HTTPPathModifier{Type: gwv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: ptrTo("/b")},
			}}},
			BackendRefs: backend,
		}, reasonUnsupportedValue, "ReplacePrefixMatch needs PathPrefix"},
		{"session persistence", gwv1.HTTPRouteRule{SessionPersistence: &gwv1.SessionPersistence{}, BackendRefs: backend},
			reasonUnsupportedValue, "sessionPersistence"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f findings
			tr := translateHTTPRule(trafficMesh(), "store", &tc.rule, &f)
			if !tr.action.fail {
				t.Error("the rule is run; want a 500")
			}
			if len(f) == 0 || f[0].reason != tc.reason || !strings.Contains(f[0].message, tc.has) {
				t.Errorf("findings %v, want %s containing %q", f, tc.reason, tc.has)
			}
			r := tr.action.envoyRoute(trafficMesh(), "r", tr.matches[0], routeDefaults{})
			if r.GetDirectResponse().GetStatus() != 500 {
				t.Errorf("route %v, want direct_response 500", r)
			}
		})
	}
}

// TestPathRewrite checks ReplacePrefixMatch as Envoy fields: Gateway API
// replaces path elements, so "/" as a replacement must not leave "//".
func TestPathRewrite(t *testing.T) {
	for _, tc := range []struct {
		prefix, repl string
		wantPrefix   string
		wantRegex    string
	}{
		{"/foo", "/bar", "/bar", ""},
		{"/foo", "/bar/", "/bar", ""},
		{"/foo", "/", "", `^/foo/*`},
		{"", "/bar", "/bar/", ""},
		{"", "/", "", ""},
	} {
		t.Run(tc.prefix+"->"+tc.repl, func(t *testing.T) {
			pm := &gwv1.HTTPPathModifier{Type: gwv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: ptrTo(tc.repl)}
			prefix, re := pathRewrite(pm, matchEntry{isPrefix: true, prefix: tc.prefix})
			if prefix != tc.wantPrefix || re.GetPattern().GetRegex() != tc.wantRegex {
				t.Errorf("prefix_rewrite %q, regex_rewrite %v; want %q, %q", prefix, re, tc.wantPrefix, tc.wantRegex)
			}
			if re != nil && re.GetSubstitution() != "/" {
				t.Errorf("substitution %q, want /", re.GetSubstitution())
			}
		})
	}
}

// TestTrafficPolicyValuesLeftOut checks values the proxy refuses: they are
// moved to the nearest it runs, or left out, and reported.
func TestTrafficPolicyValuesLeftOut(t *testing.T) {
	tp := trafficPolicy("odd", "reviews", v1alpha1.TrafficPolicySpec{
		ConnectionPool: &v1alpha1.ConnectionPool{MaxRetries: ptrTo[int32](0), ConnectTimeout: durOf(0)},
		Timeout:        durOf(-time.Second),
	})
	var f findings
	c := baseCluster("c", 0)
	applyTrafficPolicy(c, &tp, &f)
	d := trafficRouteDefaults(&tp, &f)
	if got := c.GetCircuitBreakers().GetThresholds()[0].GetMaxRetries().GetValue(); got != 1 {
		t.Errorf("max_retries %d, want 1 (the proxy refuses 0)", got)
	}
	if c.GetConnectTimeout().AsDuration() != 5*time.Second {
		t.Errorf("connect timeout %v, want the 5s default", c.GetConnectTimeout().AsDuration())
	}
	if d.timeout != 0 {
		t.Errorf("route timeout %v, want none", d.timeout)
	}
	var msgs []string
	for _, x := range f {
		msgs = append(msgs, x.reason+": "+x.message)
	}
	want := []string{
		"UnsupportedValue: connectionPool.maxRetries: 0 is not supported, 1 is used",
		"UnsupportedValue: connectionPool.connectTimeout: 0s must be positive; the default is used",
		"UnsupportedValue: timeout: -1s is negative; no timeout is set",
	}
	if !slices.Equal(msgs, want) {
		t.Errorf("findings\n %q\nwant %q", msgs, want)
	}
}

// TestCheckServiceParentWithoutCoreGroup: `kind: Service` without
// `group: ""` takes Gateway API's default group and names nothing; the
// user is told rather than left with a route that does nothing.
func TestCheckServiceParentWithoutCoreGroup(t *testing.T) {
	m := trafficMesh()
	ref := serviceParent("reviews", 9080)
	ref.Group = ptrTo(gwv1.Group(gwv1.GroupName))
	m.Policies.HTTPRoutes = []gwv1.HTTPRoute{{
		ObjectMeta: metav1.ObjectMeta{Name: "slip", Namespace: "store"},
		Spec:       gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{ref}}},
	}}
	var got []string
	for _, p := range Check(m) {
		if p.Kind == kindHTTPRoute {
			got = append(got, p.Reason+": "+p.Message)
		}
	}
	want := []string{`NoMatchingParent: parentRefs[0]: kind Service needs group "" (the core group); this parentRef names nothing`}
	if !slices.Equal(got, want) {
		t.Errorf("Check:\n got %q\nwant %q", got, want)
	}
}

// TestServiceParentSectionName: in GAMMA a Service's sections are its
// named ports. A parentRef's sectionName attaches the route to that port
// alone (with port, both must hold); one that names no port is reported.
func TestServiceParentSectionName(t *testing.T) {
	m := trafficMesh()
	multi := model.NamespacedName{Namespace: "store", Name: "multi"}
	m.Services = append(m.Services, model.Service{Name: multi.Name, Namespace: multi.Namespace, Selector: map[string]string{"app": "multi"},
		Ports: []model.ServicePort{
			{Name: "http", Port: 80, TargetPort: 9080, AppProtocol: "http"},
			{Name: "admin", Port: 8080, TargetPort: 9090, AppProtocol: "http"},
		}})
	m.Sort()
	parent := func(port int32, section string) gwv1.ParentReference {
		ref := serviceParent("multi", port)
		if port == 0 {
			ref.Port = nil
		}
		if section != "" {
			ref.SectionName = ptrTo(gwv1.SectionName(section))
		}
		return ref
	}
	route := func(name string, ref gwv1.ParentReference) gwv1.HTTPRoute {
		return gwv1.HTTPRoute{
			ObjectMeta: objectMeta("store", name, epoch),
			Spec:       gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{ref}}},
		}
	}
	m.Policies.HTTPRoutes = []gwv1.HTTPRoute{
		route("by-name", parent(0, "admin")),
		route("by-both", parent(80, "http")),
		route("mismatched", parent(80, "admin")),
		route("no-such-name", parent(0, "metrics")),
		route("every-port", parent(0, "")),
	}
	names := func(rs []*gwv1.HTTPRoute) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return out
	}
	if got, want := names(m.HTTPRoutes(multi, 8080)), []string{"by-name", "every-port"}; !slices.Equal(got, want) {
		t.Errorf("routes on port 8080 (admin): %q, want %q", got, want)
	}
	if got, want := names(m.HTTPRoutes(multi, 80)), []string{"by-both", "every-port"}; !slices.Equal(got, want) {
		t.Errorf("routes on port 80 (http): %q, want %q", got, want)
	}
	var got []string
	for _, p := range Check(m) {
		if p.Kind == kindHTTPRoute {
			got = append(got, p.Name+" "+p.Reason+": "+p.Message)
		}
	}
	want := []string{
		"mismatched NoMatchingParent: parentRefs[0]: Service store/multi has no port 80 named admin",
		"no-such-name NoMatchingParent: parentRefs[0]: Service store/multi has no port named metrics",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Check:\n got %q\nwant %q", got, want)
	}
}
