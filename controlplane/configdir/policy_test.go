package configdir

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// goodPolicies is what testdata/good/20-policies.yaml loads into, with
// the CRDs' defaults applied: namespace default, mtls mode UNSET, action
// ALLOW, targetRef kind Service, and for routes the parentRef group and
// kind as written, backendRef group "" / kind Service / weight 1, and a
// PathPrefix "/" match for a rule without matches.
func goodPolicies() model.Policies {
	meshMeta := func(k string) metav1.TypeMeta {
		return metav1.TypeMeta{APIVersion: "mesh.weft.dev/v1alpha1", Kind: k}
	}
	gwMeta := func(k string) metav1.TypeMeta {
		return metav1.TypeMeta{APIVersion: "gateway.networking.k8s.io/v1", Kind: k}
	}
	obj := func(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }
	svcParent := func(name string, port *gwv1.PortNumber) gwv1.ParentReference {
		return gwv1.ParentReference{Group: ptr(gwv1.Group("")), Kind: ptr(gwv1.Kind("Service")), Name: gwv1.ObjectName(name), Port: port}
	}
	backend := func(name string, port gwv1.PortNumber, weight int32) gwv1.BackendRef {
		return gwv1.BackendRef{
			BackendObjectReference: gwv1.BackendObjectReference{
				Group: ptr(gwv1.Group("")), Kind: ptr(gwv1.Kind("Service")), Name: gwv1.ObjectName(name), Port: &port,
			},
			Weight: &weight,
		}
	}
	return model.Policies{
		PeerAuthentications: []v1alpha1.PeerAuthentication{
			{
				TypeMeta: meshMeta("PeerAuthentication"), ObjectMeta: obj("data", "db-legacy"),
				Spec: v1alpha1.PeerAuthenticationSpec{
					Selector:      &v1alpha1.WorkloadSelector{MatchLabels: map[string]string{"app": "db"}},
					MTLS:          &v1alpha1.MutualTLS{Mode: v1alpha1.MTLSUnset},
					PortLevelMTLS: []v1alpha1.PortMutualTLS{{Port: 15432, Mode: v1alpha1.MTLSPermissive}},
				},
			},
			{
				TypeMeta: meshMeta("PeerAuthentication"), ObjectMeta: obj("weft-system", "default"),
				Spec: v1alpha1.PeerAuthenticationSpec{MTLS: &v1alpha1.MutualTLS{Mode: v1alpha1.MTLSStrict}},
			},
		},
		AuthorizationPolicies: []v1alpha1.AuthorizationPolicy{
			{
				TypeMeta: meshMeta("AuthorizationPolicy"), ObjectMeta: obj("default", "no-admin"),
				Spec: v1alpha1.AuthorizationPolicySpec{
					Action: v1alpha1.ActionDeny,
					Rules: []v1alpha1.AuthorizationRule{{
						To: []v1alpha1.Operation{{Paths: []v1alpha1.PathMatch{{Prefix: "/admin", IgnoreCase: true}}}},
					}},
				},
			},
			{
				TypeMeta: meshMeta("AuthorizationPolicy"), ObjectMeta: obj("default", "web-public"),
				Spec: v1alpha1.AuthorizationPolicySpec{
					Selector: &v1alpha1.WorkloadSelector{MatchLabels: map[string]string{"app": "web"}},
					Action:   v1alpha1.ActionAllow,
					Rules: []v1alpha1.AuthorizationRule{{
						From: []v1alpha1.Source{{ServiceAccounts: []string{"web"}, IPBlocks: []string{"127.0.0.0/8"}}},
						To:   []v1alpha1.Operation{{Methods: []string{"GET"}, Paths: []v1alpha1.PathMatch{{Prefix: "/public"}}}},
					}},
				},
			},
		},
		TrafficPolicies: []v1alpha1.TrafficPolicy{{
			TypeMeta: meshMeta("TrafficPolicy"), ObjectMeta: obj("data", "db"),
			Spec: v1alpha1.TrafficPolicySpec{
				TargetRef:      v1alpha1.ServiceReference{Kind: "Service", Name: "db"},
				LoadBalancer:   &v1alpha1.LoadBalancer{Algorithm: v1alpha1.LeastRequest},
				ConnectionPool: &v1alpha1.ConnectionPool{MaxConnections: ptr[int32](100)},
				Timeout:        &metav1.Duration{Duration: 2e9},
				Retries:        &v1alpha1.Retries{Attempts: 2},
			},
		}},
		HTTPRoutes: []gwv1.HTTPRoute{{
			TypeMeta: gwMeta("HTTPRoute"), ObjectMeta: obj("default", "web-canary"),
			Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{svcParent("web", ptr[gwv1.PortNumber](80))}},
				Rules: []gwv1.HTTPRouteRule{
					{
						Matches: []gwv1.HTTPRouteMatch{{
							Path:    &gwv1.HTTPPathMatch{Type: ptr(gwv1.PathMatchPathPrefix), Value: ptr("/v2")},
							Headers: []gwv1.HTTPHeaderMatch{{Type: ptr(gwv1.HeaderMatchExact), Name: "x-canary", Value: "true"}},
						}},
						BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: backend("web-v2", 80, 1)}},
						Timeouts:    &gwv1.HTTPRouteTimeouts{Request: ptr(gwv1.Duration("5s"))},
					},
					{
						Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr(gwv1.PathMatchPathPrefix), Value: ptr("/")}}},
						BackendRefs: []gwv1.HTTPBackendRef{
							{BackendRef: backend("web", 80, 90)},
							{BackendRef: backend("web-v2", 80, 1)},
						},
					},
				},
			},
		}},
		GRPCRoutes: []gwv1.GRPCRoute{{
			TypeMeta: gwMeta("GRPCRoute"), ObjectMeta: obj("data", "db-api"),
			Spec: gwv1.GRPCRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{svcParent("db", nil)}},
				Rules: []gwv1.GRPCRouteRule{{
					Matches: []gwv1.GRPCRouteMatch{{Method: &gwv1.GRPCMethodMatch{
						Type: ptr(gwv1.GRPCMethodMatchExact), Service: ptr("weft.db.v1.Store"), Method: ptr("Get"),
					}}},
					BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: backend("db", 5432, 1)}},
				}},
			},
		}},
	}
}

// validPolicyDocs are documents of each kind that use many fields and
// load; they also seed FuzzLoad.
var validPolicyDocs = []string{
	paHead + "  selector: {matchLabels: {app: a}}\n  mtls: {}\n  portLevelMtls: [{port: 80, mode: DISABLE}]\n",
	apHead + "  action: DENY\n  rules:\n    - from: [{notIpBlocks: [10.0.0.0/8], namespaces: [a]}]\n" +
		"      to: [{ports: [80], paths: [{suffix: .php, ignoreCase: true}]}]\n      when: [{header: x-a, values: [b]}]\n",
	tpHead + "  targetRef: {name: web}\n  loadBalancer: {algorithm: RING_HASH, hashOn: {header: x-user}}\n" +
		"  outlierDetection: {consecutive5xxErrors: 5, interval: 10s}\n  retries: {attempts: 3, retryOn: [5xx, reset]}\n",
	httpHead + svcParent + "  hostnames: [web.example.com]\n  rules:\n    - matches: [{path: {type: RegularExpression, value: '/a.*'}, method: GET}]\n" +
		"      filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /b}}}]\n" +
		"      backendRefs: [{name: web, port: 80, weight: 0}]\n      timeouts: {request: 10s, backendRequest: 1s}\n",
	grpcHead + svcParent + "  rules:\n    - matches: [{method: {type: RegularExpression, service: 'a\\..*'}}]\n" +
		"      filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x, value: z}]}}]\n",
}

func TestLoadValidPolicies(t *testing.T) {
	for i, doc := range validPolicyDocs {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			if _, err := build(testTD, []source{{name: "doc.yaml", data: []byte(doc)}}); err != nil {
				t.Errorf("build:\n%v\ndocument:\n%s", err, doc)
			}
		})
	}
}

// TestLoadPolicyDefaults loads one small document of each kind and checks
// the defaults the API server would have applied.
func TestLoadPolicyDefaults(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(*model.Policies) string // what is wrong, or ""
	}{
		{
			name: "PeerAuthentication mtls {} is UNSET, namespace default, status dropped",
			doc:  paHead + "  mtls: {}\nstatus:\n  conditions: []\n",
			check: func(p *model.Policies) string {
				pa := p.PeerAuthentications[0]
				if pa.Namespace != "default" || pa.Spec.MTLS == nil || pa.Spec.MTLS.Mode != v1alpha1.MTLSUnset || pa.Status.Conditions != nil {
					return "got " + pa.Namespace + "/" + pa.Name + " mode " + string(pa.Spec.MTLS.Mode)
				}
				return ""
			},
		},
		{
			name: "AuthorizationPolicy action ALLOW",
			doc:  apHead + "  rules:\n    - {}\n",
			check: func(p *model.Policies) string {
				if a := p.AuthorizationPolicies[0].Spec.Action; a != v1alpha1.ActionAllow {
					return "action " + string(a)
				}
				return ""
			},
		},
		{
			name: "TrafficPolicy targetRef kind Service",
			doc:  tpHead + "  targetRef:\n    name: web\n",
			check: func(p *model.Policies) string {
				if k := p.TrafficPolicies[0].Spec.TargetRef.Kind; k != "Service" {
					return "targetRef kind " + k
				}
				return ""
			},
		},
		{
			name: "HTTPRoute parentRef Gateway, backendRef Service weight 1, no rules",
			doc:  httpHead + "  parentRefs:\n    - name: gw\n",
			check: func(p *model.Policies) string {
				r := p.HTTPRoutes[0]
				ref := r.Spec.ParentRefs[0]
				if *ref.Group != "gateway.networking.k8s.io" || *ref.Kind != "Gateway" {
					return "parentRef " + string(*ref.Group) + "/" + string(*ref.Kind)
				}
				if len(r.Spec.Rules) != 1 || len(r.Spec.Rules[0].Matches) != 1 ||
					*r.Spec.Rules[0].Matches[0].Path.Type != gwv1.PathMatchPathPrefix || *r.Spec.Rules[0].Matches[0].Path.Value != "/" {
					return "rules not defaulted to one PathPrefix / match"
				}
				return ""
			},
		},
		{
			name: "HTTPRoute match and filter defaults",
			doc: httpHead + "  parentRefs: [{group: '', kind: Service, name: web}]\n  rules:\n" +
				"    - matches:\n        - path: {value: /a}\n          queryParams: [{name: q, value: v}]\n        - method: GET\n" +
				"      filters:\n        - type: RequestRedirect\n          requestRedirect: {scheme: https}\n",
			check: func(p *model.Policies) string {
				rule := p.HTTPRoutes[0].Spec.Rules[0]
				m0, m1 := rule.Matches[0], rule.Matches[1]
				switch {
				case *m0.Path.Type != gwv1.PathMatchPathPrefix:
					return "path type " + string(*m0.Path.Type)
				case *m0.QueryParams[0].Type != gwv1.QueryParamMatchExact:
					return "query type " + string(*m0.QueryParams[0].Type)
				case *m1.Path.Type != gwv1.PathMatchPathPrefix || *m1.Path.Value != "/":
					return "method-only match has no PathPrefix / path"
				case *rule.Filters[0].RequestRedirect.StatusCode != 302:
					return "redirect status not 302"
				}
				return ""
			},
		},
		{
			name: "GRPCRoute method type Exact, backendRef defaults",
			doc: grpcHead + "  parentRefs: [{group: '', kind: Service, name: web}]\n  rules:\n" +
				"    - matches: [{method: {service: a.B}, headers: [{name: x, value: v1}]}]\n" +
				"      backendRefs: [{name: web, port: 80, kind: Service}]\n",
			check: func(p *model.Policies) string {
				rule := p.GRPCRoutes[0].Spec.Rules[0]
				b := rule.BackendRefs[0]
				switch {
				case *rule.Matches[0].Method.Type != gwv1.GRPCMethodMatchExact:
					return "method type " + string(*rule.Matches[0].Method.Type)
				case *rule.Matches[0].Headers[0].Type != gwv1.GRPCHeaderMatchExact:
					return "header type not Exact"
				case *b.Group != "" || *b.Kind != "Service" || *b.Weight != 1:
					return "backendRef not defaulted"
				}
				return ""
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "p.yaml"), tt.doc)
			mesh, err := Load(dir, testTD)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if msg := tt.check(&mesh.Policies); msg != "" {
				t.Errorf("%s; policies:\n%+v", msg, mesh.Policies)
			}
		})
	}
}

// The heads start a document of each kind; metadata.name is on line 4 and
// spec on line 5.
const (
	paHead   = "apiVersion: mesh.weft.dev/v1alpha1\nkind: PeerAuthentication\nmetadata:\n  name: p\nspec:\n"
	apHead   = "apiVersion: mesh.weft.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata:\n  name: p\nspec:\n"
	tpHead   = "apiVersion: mesh.weft.dev/v1alpha1\nkind: TrafficPolicy\nmetadata:\n  name: p\nspec:\n"
	httpHead = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: r\nspec:\n"
	grpcHead = "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata:\n  name: r\nspec:\n"
	// svcParent is a parentRefs line (line 6) naming Service web.
	svcParent = "  parentRefs: [{group: '', kind: Service, name: web, port: 80}]\n"
)

// TestLoadPolicyProblems checks what a user sees for a bad policy or
// route: each problem at its file, line and field.
func TestLoadPolicyProblems(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		// want holds one prefix per expected problem, in order.
		want []string
	}{
		// Decoding: strict, for every kind.
		{
			name: "PeerAuthentication unknown field",
			doc:  paHead + "  mtls:\n    mod: STRICT\n",
			want: []string{"p.yaml:7: spec.mtls.mod: unknown field"},
		},
		{
			name: "PeerAuthentication wrong type",
			doc:  paHead + "  selector: {matchLabels: {app: a}}\n  portLevelMtls:\n    - {port: '80', mode: STRICT}\n    - {port: http, mode: STRICT}\n",
			want: []string{"p.yaml:8: spec.portLevelMtls[0].port: cannot use string as int32"},
		},
		{
			name: "AuthorizationPolicy unknown field in a rule",
			doc:  apHead + "  rules:\n    - from:\n        - principal: [x]\n",
			want: []string{"p.yaml:8: spec.rules[0].from[0].principal: unknown field"},
		},
		{
			name: "TrafficPolicy wrong type",
			doc:  tpHead + "  targetRef: {name: web}\n  connectionPool:\n    maxConnections: many\n",
			want: []string{"p.yaml:8: spec.connectionPool.maxConnections: cannot use string as int32"},
		},
		{
			name: "HTTPRoute unknown field",
			doc:  httpHead + svcParent + "  rules:\n    - backendRef: [{name: web, port: 80}]\n",
			want: []string{"p.yaml:8: spec.rules[0].backendRef: unknown field"},
		},
		{
			name: "GRPCRoute wrong type",
			doc:  grpcHead + svcParent + "  rules:\n    - backendRefs: [{name: web, port: 80, weight: heavy}]\n",
			want: []string{"p.yaml:8: spec.rules[0].backendRefs[0].weight: cannot use string as int32"},
		},
		{
			name: "policy without spec",
			doc:  "apiVersion: mesh.weft.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata:\n  name: p\n",
			want: []string{"p.yaml:1: spec: Required value"},
		},
		{
			name: "policy name not a DNS subdomain",
			doc:  strings.Replace(tpHead, "name: p", "name: P_1", 1) + "  targetRef: {name: web}\n",
			want: []string{"p.yaml:4: metadata.name: a lowercase RFC 1123 subdomain must consist of"},
		},

		// The API package's validation, at the offending field's line.
		{
			name: "PeerAuthentication unknown mode",
			doc:  paHead + "  mtls:\n    mode: STRICTER\n",
			want: []string{`p.yaml:7: spec.mtls.mode: Unsupported value: "STRICTER"`},
		},
		{
			name: "AuthorizationPolicy unknown action",
			doc:  apHead + "  action: DROP\n",
			want: []string{`p.yaml:6: spec.action: Unsupported value: "DROP"`},
		},
		{
			name: "AuthorizationPolicy malformed CIDR",
			doc:  apHead + "  rules:\n    - from:\n        - ipBlocks:\n            - 10.0.0.0/8\n            - 10.0.0.0/33\n",
			want: []string{"p.yaml:10: spec.rules[0].from[0].ipBlocks[1]: Invalid value: \"10.0.0.0/33\""},
		},
		{
			name: "DENY with a rule that matches everything",
			doc:  apHead + "  action: DENY\n  rules:\n    - {}\n",
			want: []string{"p.yaml:8: spec.rules[0]"},
		},
		{
			name: "TrafficPolicy without a target",
			doc:  tpHead + "  loadBalancer: {algorithm: RANDOM}\n",
			want: []string{"p.yaml:5: spec.targetRef.name: Required value"},
		},

		// Routes.
		{
			name: "HTTPRoute without parentRefs",
			doc:  httpHead + "  rules:\n    - backendRefs: [{name: web, port: 80}]\n",
			want: []string{"p.yaml:5: spec.parentRefs: Required value: a mesh route needs a parentRef naming a Service"},
		},
		{
			name: "HTTPRoute with an empty list of rules",
			doc:  httpHead + svcParent + "  rules: []\n",
			want: []string{"p.yaml:7: spec.rules: Required value: must have at least 1 item"},
		},
		{
			name: "GRPCRoute without parentRefs or spec",
			doc:  "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata:\n  name: r\n",
			want: []string{"p.yaml:1: spec.parentRefs: Required value"},
		},
		{
			name: "parentRef without a name, with a bad port, twice",
			doc: httpHead + "  parentRefs:\n    - {group: '', kind: Service, name: web}\n    - {group: '', kind: Service, name: web}\n" +
				"    - {group: '', kind: Service, port: 0}\n",
			want: []string{
				"p.yaml:8: spec.parentRefs[1]: Duplicate value",
				"p.yaml:9: spec.parentRefs[2].name: Required value",
				"p.yaml:9: spec.parentRefs[2].port: Invalid value: 0: must be between 1 and 65535",
			},
		},
		{
			name: "backendRefs: weight, Service port, name",
			doc: httpHead + svcParent + "  rules:\n    - backendRefs:\n" +
				"        - {name: web, port: 80, weight: 1000001}\n" + // line 9
				"        - {name: web}\n" + // line 10
				"        - {name: '', port: 80, weight: -1}\n" + // line 11
				"        - {name: bucket, group: example.com, kind: Bucket}\n", // line 12: not a Service, no port needed
			want: []string{
				"p.yaml:9: spec.rules[0].backendRefs[0].weight: Invalid value: 1000001: must be between 0 and 1000000",
				"p.yaml:10: spec.rules[0].backendRefs[1].port: Required value: Must have port for Service reference",
				"p.yaml:11: spec.rules[0].backendRefs[2].name: Required value",
				"p.yaml:11: spec.rules[0].backendRefs[2].weight: Invalid value: -1",
			},
		},
		{
			name: "paths",
			doc: httpHead + svcParent + "  rules:\n    - matches:\n" +
				"        - path: {value: api}\n" + // line 9
				"        - path: {type: Exact, value: /a//b}\n" + // line 10
				"        - path: {type: RegularExpression, value: '/(a'}\n" + // line 11
				"        - path: {type: Glob, value: /a}\n", // line 12
			want: []string{
				"p.yaml:9: spec.rules[0].matches[0].path.value: Invalid value: \"api\": value must be an absolute path and start with '/'",
				"p.yaml:10: spec.rules[0].matches[1].path.value: Invalid value: \"/a//b\": must not contain '//'",
				"p.yaml:11: spec.rules[0].matches[2].path.value: Invalid value: \"/(a\": must be a valid RE2 regular expression",
				"p.yaml:12: spec.rules[0].matches[3].path.type: Unsupported value: \"Glob\"",
			},
		},
		{
			name: "timeouts",
			doc: httpHead + svcParent + "  rules:\n    - timeouts: {request: 1.5s}\n" + // line 8
				"    - timeouts: {request: 1s, backendRequest: 2s}\n" + // line 9
				"    - timeouts: {request: 0s, backendRequest: 100000h}\n", // line 10
			want: []string{
				"p.yaml:8: spec.rules[0].timeouts.request: Invalid value: \"1.5s\": must be a Gateway API duration",
				"p.yaml:9: spec.rules[1].timeouts.backendRequest: Invalid value: \"2s\": backendRequest timeout cannot be longer than request timeout",
				"p.yaml:10: spec.rules[2].timeouts.backendRequest: Invalid value: \"100000h\": must be a Gateway API duration",
			},
		},
		{
			name: "filters",
			doc: httpHead + svcParent + "  rules:\n    - backendRefs: [{name: web, port: 80}]\n      filters:\n" + // filters: line 9
				"        - type: RequestRedirect\n          requestRedirect: {statusCode: 200}\n" + // lines 10-11
				"        - type: RequestHeaderModifier\n" + // line 12
				"        - type: URLRewrite\n          urlRewrite: {hostname: a.b}\n" + // lines 13-14
				"    - matches: [{path: {type: Exact, value: /a}}]\n" + // line 15
				"      filters:\n        - type: URLRewrite\n          urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}\n" + // line 18
				"        - type: URLRewrite\n          requestRedirect: {}\n", // lines 19-20
			want: []string{
				"p.yaml:9: spec.rules[0].filters: Invalid value: \"\": May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both",
				"p.yaml:10: spec.rules[0].filters[0]: Invalid value: \"RequestRedirect\": RequestRedirect filter must not be used together with backendRefs",
				"p.yaml:11: spec.rules[0].filters[0].requestRedirect.statusCode: Unsupported value: \"200\"",
				"p.yaml:12: spec.rules[0].filters[1].requestHeaderModifier: Required value: filter.requestHeaderModifier must be specified for RequestHeaderModifier filter.type",
				"p.yaml:18: spec.rules[1].filters[0].urlRewrite.path.replacePrefixMatch: Invalid value: \"/b\": When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified",
				"p.yaml:19: spec.rules[1].filters[1].type: Invalid value: \"URLRewrite\": URLRewrite filter cannot be repeated",
				"p.yaml:19: spec.rules[1].filters[1].urlRewrite: Required value: filter.urlRewrite must be specified for URLRewrite filter.type",
				"p.yaml:20: spec.rules[1].filters[1].requestRedirect: Invalid value: \"\": filter.requestRedirect must be nil if the filter.type is not RequestRedirect",
			},
		},
		{
			name: "GRPCRoute method and header matches",
			doc: grpcHead + svcParent + "  rules:\n    - matches:\n" +
				"        - method: {service: 'a/b', method: Get}\n" + // line 9
				"        - method: {type: Exact}\n" + // line 10
				"          headers: [{name: x, value: a}, {name: x, value: b}]\n", // line 11
			want: []string{
				"p.yaml:9: spec.rules[0].matches[0].method.service: Invalid value: \"a/b\": service must only contain valid characters",
				"p.yaml:10: spec.rules[0].matches[1].method: Invalid value: \"\": One or both of 'service' or 'method' must be specified",
				"p.yaml:11: spec.rules[0].matches[1].headers[1].name: Duplicate value: \"x\"",
			},
		},

		// Duplicates are per kind.
		{
			name: "duplicate AuthorizationPolicy",
			doc:  apHead + "  action: AUDIT\n---\n" + apHead + "  action: DENY\n  rules: [{from: [{namespaces: [a]}]}]\n",
			want: []string{"p.yaml:11: metadata.name: duplicate AuthorizationPolicy default/p (first defined at p.yaml:4)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "p.yaml"), tt.doc)
			mesh, err := Load(dir, testTD)
			var cfgErr *Error
			if !errors.As(err, &cfgErr) {
				t.Fatalf("Load error = %v (%T), want *Error", err, err)
			}
			if mesh != nil {
				t.Errorf("Load returned a mesh along with its error")
			}
			got := strings.Split(cfgErr.Error(), "\n")
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems:\n%s\nwant %d:\n%s", len(got), cfgErr, len(tt.want), strings.Join(tt.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %d:\n got %s\nwant %s...", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestLoadPolicyKindsShareNames: names are unique per kind only, as in
// Kubernetes.
func TestLoadPolicyKindsShareNames(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), apHead+"  action: AUDIT\n---\n"+
		paHead+"  mtls: {mode: STRICT}\n---\n"+
		tpHead+"  targetRef: {name: p}\n---\n"+
		strings.Replace(httpHead, "name: r", "name: p", 1)+svcParent+"---\n"+
		strings.Replace(grpcHead, "name: r", "name: p", 1)+svcParent)
	mesh, err := Load(dir, testTD)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	p := mesh.Policies
	if len(p.AuthorizationPolicies) != 1 || len(p.PeerAuthentications) != 1 || len(p.TrafficPolicies) != 1 ||
		len(p.HTTPRoutes) != 1 || len(p.GRPCRoutes) != 1 {
		t.Errorf("policies = %+v, want one of each kind", p)
	}
}

// TestWatcherPolicies: a policy edit reaches the control plane, a broken
// one is refused with its line and the last good policies stay in force.
func TestWatcherPolicies(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "authz.yaml")
	writeFile(t, path, apHead+"  action: DENY\n  rules: [{to: [{paths: [{prefix: /admin}]}]}]\n")
	r := startWatcher(t, dir)
	actions := func(m *model.Mesh) string {
		var out []string
		for _, ap := range m.Policies.AuthorizationPolicies {
			out = append(out, ap.Name+"="+string(ap.Spec.Action))
		}
		return strings.Join(out, ",")
	}
	if got := actions(r.next()); got != "p=DENY" {
		t.Fatalf("first mesh: policies %q, want p=DENY", got)
	}

	writeFile(t, path, apHead+"  action: DENY\n  rules: [{to: [{paths: [{prefx: /admin}]}]}]\n")
	r.waitReloadErrors(1)
	r.quiet()
	if want := `file=authz.yaml line=7 field=spec.rules[0].to[0].paths[0].prefx reason="unknown field"`; !strings.Contains(r.logs.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, r.logs)
	}

	writeFile(t, path, apHead+"  action: AUDIT\n  rules: [{to: [{paths: [{prefix: /admin}]}]}]\n")
	if got := actions(r.next()); got != "p=AUDIT" {
		t.Fatalf("after fixing authz.yaml: policies %q, want p=AUDIT", got)
	}

	writeFile(t, filepath.Join(dir, "route.yaml"), httpHead+svcParent)
	if m := r.next(); len(m.Policies.HTTPRoutes) != 1 || m.Policies.HTTPRoutes[0].Name != "r" {
		t.Fatalf("after adding route.yaml: routes %+v, want default/r", m.Policies.HTTPRoutes)
	}
	if err := os.Remove(filepath.Join(dir, "route.yaml")); err != nil {
		t.Fatal(err)
	}
	if m := r.next(); len(m.Policies.HTTPRoutes) != 0 {
		t.Fatalf("after removing route.yaml: routes %+v, want none", m.Policies.HTTPRoutes)
	}
	r.stop()
}

func TestFromFieldPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"spec", "spec"},
		{"spec.rules[0].from[1].ipBlocks[2]", "spec.rules[0].from[1].ipBlocks[2]"},
		{"spec.selector.matchLabels[app.kubernetes.io/name]", `spec.selector.matchLabels["app.kubernetes.io/name"]`},
		{"spec.selector.matchLabels[app]", "spec.selector.matchLabels.app"},
		{"", ""},
		{"spec[", "spec["},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := fromFieldPath(tt.in); string(got) != tt.want {
				t.Errorf("fromFieldPath(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	// A key path finds its line.
	doc := "spec:\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: x\n"
	n := parseNode(t, doc)
	if got := lineOf(n, fromFieldPath("spec.selector.matchLabels[app.kubernetes.io/name]")); got != 4 {
		t.Errorf("line of a label key = %d, want 4", got)
	}
}

func parseNode(t *testing.T, doc string) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		t.Fatal(err)
	}
	return n.Content[0]
}
