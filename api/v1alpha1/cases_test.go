package v1alpha1_test

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// policyCase is one object as a user writes it, and what both the API
// server (the CRD's schema and CEL rules) and the Go validators must say
// about it: nothing when field is empty, else an error naming field (and
// containing msg, when set).
type policyCase struct {
	name  string
	kind  string // PeerAuthentication, AuthorizationPolicy or TrafficPolicy
	spec  string // YAML of the spec
	field string
	msg   string
	// badDuration: the object does not even decode in Go (a duration
	// that is not one), which standalone mode reports with the file.
	badDuration string
}

// policyCases are shared by the Go validator test and the envtest test, so
// the two refuse the same objects for the same reason.
var policyCases = []policyCase{
	// PeerAuthentication.
	{name: "mesh-wide strict", kind: "PeerAuthentication", spec: `mtls: {mode: STRICT}`},
	{name: "unset inherits", kind: "PeerAuthentication", spec: `mtls: {mode: UNSET}`},
	{name: "port-level with selector", kind: "PeerAuthentication", spec: `
selector: {matchLabels: {app: db}}
mtls: {mode: STRICT}
portLevelMtls: [{port: 9090, mode: PERMISSIVE}, {port: 8080, mode: DISABLE}]`},
	{name: "port-level without selector", kind: "PeerAuthentication", spec: `
portLevelMtls: [{port: 9090, mode: DISABLE}]`,
		field: "spec.portLevelMtls", msg: "portLevelMtls needs a selector"},
	{name: "unknown mode", kind: "PeerAuthentication", spec: `mtls: {mode: STRICTER}`,
		field: "spec.mtls.mode", msg: `Unsupported value: "STRICTER"`},
	{name: "port-level UNSET", kind: "PeerAuthentication", spec: `
selector: {matchLabels: {app: db}}
portLevelMtls: [{port: 9090, mode: UNSET}]`,
		field: "spec.portLevelMtls[0].mode", msg: "a port-level mode is STRICT, PERMISSIVE or DISABLE"},
	{name: "unknown port-level mode", kind: "PeerAuthentication", spec: `
selector: {matchLabels: {app: db}}
portLevelMtls: [{port: 9090, mode: LOOSE}]`,
		field: "spec.portLevelMtls[0].mode", msg: `Unsupported value: "LOOSE"`},
	{name: "port-level port 0", kind: "PeerAuthentication", spec: `
selector: {matchLabels: {app: db}}
portLevelMtls: [{port: 0, mode: STRICT}]`,
		field: "spec.portLevelMtls[0].port"},
	{name: "selector without labels", kind: "PeerAuthentication", spec: `
selector: {matchLabels: {}}
mtls: {mode: STRICT}`,
		field: "spec.selector.matchLabels"},

	// AuthorizationPolicy.
	{name: "allow-all rule", kind: "AuthorizationPolicy", spec: `rules: [{}]`},
	{name: "allow without rules denies all", kind: "AuthorizationPolicy", spec: `action: ALLOW`},
	{name: "deny admin", kind: "AuthorizationPolicy", spec: `
action: DENY
rules: [{to: [{paths: [{prefix: /admin, ignoreCase: true}, {exact: "", suffix: .php}]}]}]`},
	{name: "audit on a header", kind: "AuthorizationPolicy", spec: `
action: AUDIT
rules: [{when: [{header: x-debug, notValues: ["0"]}]}]`},
	{name: "every field", kind: "AuthorizationPolicy", spec: `
selector: {matchLabels: {app: web}}
action: ALLOW
rules:
- from:
  - principals: ["*", "spiffe://cluster.local/ns/a/sa/b", "*/sa/b", "spiffe://cluster.local/ns/a/*"]
    notPrincipals: ["spiffe://cluster.local/ns/a/sa/b.c"]
  - namespaces: [a, kube-system]
    notNamespaces: [b]
  - serviceAccounts: [reader, a/reader.v2]
    notServiceAccounts: [b/writer]
  - ipBlocks: [10.0.0.0/8, 192.168.1.7, "::1", "2001:db8::/32", 10.1.2.3/8]
    notIpBlocks: [10.9.0.0/16]
  to:
  - ports: [8080, 65535]
    notPorts: [1]
    methods: [GET, M-SEARCH]
    notMethods: [DELETE]
    paths: [{exact: /public}, {prefix: /api/}, {suffix: .json}]
    notPaths: [{prefix: /api/private}]
    hosts: ["*.example.com", "example.com:8080", "[::1]:80"]
    notHosts: [internal.example.com]
  when:
  - header: x-tenant
    values: [a, b]
    notValues: [c]
  - header: "X-Odd!#$%&'*+-.^_|~` + "`" + `"
    values: [""]`},
	{name: "unknown action", kind: "AuthorizationPolicy", spec: `action: PERMIT`,
		field: "spec.action", msg: `Unsupported value: "PERMIT"`},
	{name: "empty deny rule", kind: "AuthorizationPolicy", spec: `
action: DENY
rules: [{to: [{ports: [80]}]}, {}]`,
		field: "spec.rules", msg: "a DENY or AUDIT rule must set from, to or when"},
	{name: "empty audit rule", kind: "AuthorizationPolicy", spec: `
action: AUDIT
rules: [{}]`,
		field: "spec.rules", msg: "an empty rule would match every request"},
	{name: "CIDR prefix too long", kind: "AuthorizationPolicy", spec: `
rules: [{from: [{ipBlocks: [10.0.0.0/33]}]}]`,
		field: "spec.rules[0].from[0].ipBlocks[0]", msg: "an IP block must be an IP address or a CIDR"},
	{name: "not an IP", kind: "AuthorizationPolicy", spec: `
rules: [{from: [{notIpBlocks: [10.0.0.0/8, not-an-ip]}]}]`,
		field: "spec.rules[0].from[0].notIpBlocks[1]", msg: "an IP block must be an IP address or a CIDR"},
	{name: "IPv4-mapped IPv6", kind: "AuthorizationPolicy", spec: `
rules: [{from: [{ipBlocks: ["::ffff:10.0.0.1"]}]}]`,
		field: "spec.rules[0].from[0].ipBlocks[0]", msg: "an IP block must be an IP address or a CIDR"},
	{name: "two path kinds", kind: "AuthorizationPolicy", spec: `
rules: [{to: [{paths: [{exact: /a, prefix: /b}]}]}]`,
		field: "spec.rules[0].to[0].paths[0]", msg: "a path match sets exactly one of exact, prefix and suffix"},
	{name: "no path kind", kind: "AuthorizationPolicy", spec: `
rules: [{to: [{notPaths: [{ignoreCase: true}]}]}]`,
		field: "spec.rules[0].to[0].notPaths[0]", msg: "a path match sets exactly one of exact, prefix and suffix"},
	{name: "path without slash", kind: "AuthorizationPolicy", spec: `
rules: [{to: [{paths: [{exact: admin}]}]}]`,
		field: "spec.rules[0].to[0].paths[0].exact", msg: `must start with "/"`},
	{name: "principal with a middle star", kind: "AuthorizationPolicy", spec: `
rules: [{from: [{principals: ["spiffe://cluster.local/ns/*/sa/b"]}]}]`,
		field: "spec.rules[0].from[0].principals[0]", msg: `a principal may hold one "*"`},
	{name: "principal with two stars", kind: "AuthorizationPolicy", spec: `
rules: [{from: [{notPrincipals: ["*/sa/*"]}]}]`,
		field: "spec.rules[0].from[0].notPrincipals[0]", msg: `a principal may hold one "*"`},
	{name: "empty principal", kind: "AuthorizationPolicy", spec: `
rules: [{from: [{principals: [""]}]}]`,
		field: "spec.rules[0].from[0].principals[0]"},
	{name: "namespace with a dot", kind: "AuthorizationPolicy", spec: `
rules: [{from: [{namespaces: [a.b]}]}]`,
		field: "spec.rules[0].from[0].namespaces[0]", msg: "a namespace must be a DNS-1123 label"},
	{name: "service account with two slashes", kind: "AuthorizationPolicy", spec: `
rules: [{from: [{serviceAccounts: [a/b/c]}]}]`,
		field: "spec.rules[0].from[0].serviceAccounts[0]", msg: "a service account must be <name> or <namespace>/<name>"},
	{name: "service account in upper case", kind: "AuthorizationPolicy", spec: `
rules: [{from: [{notServiceAccounts: [Reader]}]}]`,
		field: "spec.rules[0].from[0].notServiceAccounts[0]", msg: "a service account must be"},
	{name: "service account namespace with a dot", kind: "AuthorizationPolicy", spec: `
rules: [{from: [{serviceAccounts: [a.b/reader]}]}]`,
		field: "spec.rules[0].from[0].serviceAccounts[0]", msg: "a service account must be"},
	{name: "lower-case method", kind: "AuthorizationPolicy", spec: `
rules: [{to: [{methods: [get]}]}]`,
		field: "spec.rules[0].to[0].methods[0]", msg: "a method must be an upper-case HTTP method"},
	{name: "host with a middle star", kind: "AuthorizationPolicy", spec: `
rules: [{to: [{hosts: [example.com, "a.*.example.com"]}]}]`,
		field: "spec.rules[0].to[0].hosts[1]", msg: `a host must not be empty and may hold "*" only as a leading "*."`},
	{name: "host star alone", kind: "AuthorizationPolicy", spec: `
rules: [{to: [{notHosts: ["*"]}]}]`,
		field: "spec.rules[0].to[0].notHosts[0]", msg: "a host must not be empty"},
	{name: "port 0", kind: "AuthorizationPolicy", spec: `
rules: [{to: [{ports: [0]}]}]`,
		field: "spec.rules[0].to[0].ports[0]"},
	{name: "header name with a space", kind: "AuthorizationPolicy", spec: `
rules: [{when: [{header: x tenant, values: [a]}]}]`,
		field: "spec.rules[0].when[0].header", msg: "must be an HTTP header name"},
	{name: "condition without values", kind: "AuthorizationPolicy", spec: `
rules: [{when: [{header: x-tenant}]}]`,
		field: "spec.rules[0].when[0]", msg: "a condition sets values, notValues or both"},
	{name: "empty source", kind: "AuthorizationPolicy", spec: `
rules: [{from: [{}]}]`,
		field: "spec.rules[0].from[0]"},
	{name: "empty operation", kind: "AuthorizationPolicy", spec: `
action: DENY
rules: [{to: [{}]}]`,
		field: "spec.rules[0].to[0]"},
	{name: "empty from list", kind: "AuthorizationPolicy", spec: `
action: DENY
rules: [{from: []}]`,
		field: "spec.rules[0].from"},
	{name: "empty principals list", kind: "AuthorizationPolicy", spec: `
rules: [{from: [{principals: []}]}]`,
		field: "spec.rules[0].from[0].principals"},

	// TrafficPolicy.
	{name: "round robin", kind: "TrafficPolicy", spec: `
targetRef: {name: web}
loadBalancer: {algorithm: ROUND_ROBIN}`},
	{name: "every field", kind: "TrafficPolicy", spec: `
targetRef: {kind: Service, name: web}
loadBalancer: {algorithm: RING_HASH, hashOn: {header: x-user}}
connectionPool: {maxConnections: 10, maxPendingRequests: 1, maxRequests: 100, maxRetries: 0, connectTimeout: 500ms}
outlierDetection: {consecutive5xxErrors: 5, consecutiveGatewayErrors: 3, interval: 10s, baseEjectionTime: 1m30s, maxEjectionPercent: 100}
timeout: 0s
retries: {attempts: 3, perTryTimeout: 1.5s, retryOn: [5xx, reset, connect-failure, gateway-error, retriable-4xx]}`},
	{name: "maglev on the source IP, empty header unset", kind: "TrafficPolicy", spec: `
targetRef: {name: web}
loadBalancer: {algorithm: MAGLEV, hashOn: {header: "", sourceIP: true}}
timeout: 250µs`},
	{name: "ring hash without hashOn", kind: "TrafficPolicy", spec: `
targetRef: {name: web}
loadBalancer: {algorithm: RING_HASH}`,
		field: "spec.loadBalancer.hashOn", msg: "hashOn is required with RING_HASH and MAGLEV"},
	{name: "round robin with hashOn", kind: "TrafficPolicy", spec: `
targetRef: {name: web}
loadBalancer: {algorithm: ROUND_ROBIN, hashOn: {sourceIP: true}}`,
		field: "spec.loadBalancer.hashOn", msg: "hashOn applies to RING_HASH and MAGLEV only"},
	{name: "hashOn two fields", kind: "TrafficPolicy", spec: `
targetRef: {name: web}
loadBalancer: {algorithm: MAGLEV, hashOn: {cookie: session, sourceIP: true}}`,
		field: "spec.loadBalancer.hashOn", msg: "hashOn sets exactly one of header, cookie and sourceIP"},
	{name: "hashOn empty", kind: "TrafficPolicy", spec: `
targetRef: {name: web}
loadBalancer: {algorithm: MAGLEV, hashOn: {}}`,
		field: "spec.loadBalancer.hashOn", msg: "hashOn sets exactly one of header, cookie and sourceIP"},
	{name: "hash cookie not a token", kind: "TrafficPolicy", spec: `
targetRef: {name: web}
loadBalancer: {algorithm: RING_HASH, hashOn: {cookie: "a;b"}}`,
		field: "spec.loadBalancer.hashOn.cookie", msg: "must be a cookie name"},
	{name: "unknown algorithm", kind: "TrafficPolicy", spec: `
targetRef: {name: web}
loadBalancer: {algorithm: FASTEST}`,
		field: "spec.loadBalancer.algorithm", msg: `Unsupported value: "FASTEST"`},
	{name: "zero connect timeout", kind: "TrafficPolicy", spec: `
targetRef: {name: web}
connectionPool: {connectTimeout: 0s}`,
		field: "spec.connectionPool.connectTimeout", msg: "must be a positive duration"},
	{name: "negative timeout", kind: "TrafficPolicy", spec: `
targetRef: {name: web}
timeout: -1s`,
		field: "spec.timeout", msg: "must be a duration of 0s or more"},
	{name: "timeout not a duration", kind: "TrafficPolicy", spec: `
targetRef: {name: web}
timeout: 5 seconds`,
		field: "spec.timeout", msg: "must be a duration of 0s or more", badDuration: "5 seconds"},
	{name: "negative per-try timeout", kind: "TrafficPolicy", spec: `
targetRef: {name: web}
retries: {attempts: 2, perTryTimeout: -5ms}`,
		field: "spec.retries.perTryTimeout", msg: "must be a positive duration"},
	{name: "zero ejection interval", kind: "TrafficPolicy", spec: `
targetRef: {name: web}
outlierDetection: {interval: 0ms}`,
		field: "spec.outlierDetection.interval", msg: "must be a positive duration"},
	{name: "service name not a label", kind: "TrafficPolicy", spec: `
targetRef: {name: My_Service}`,
		field: "spec.targetRef.name", msg: "must be a Service name"},
	{name: "target a Deployment", kind: "TrafficPolicy", spec: `
targetRef: {kind: Deployment, name: web}`,
		field: "spec.targetRef.kind", msg: `Unsupported value: "Deployment"`},
	{name: "unknown retry condition", kind: "TrafficPolicy", spec: `
targetRef: {name: web}
retries: {attempts: 1, retryOn: [5xx, sometimes]}`,
		field: "spec.retries.retryOn[1]", msg: `Unsupported value: "sometimes"`},
	{name: "too many retries", kind: "TrafficPolicy", spec: `
targetRef: {name: web}
retries: {attempts: 11}`,
		field: "spec.retries.attempts"},
	{name: "ejection over 100 percent", kind: "TrafficPolicy", spec: `
targetRef: {name: web}
outlierDetection: {maxEjectionPercent: 101}`,
		field: "spec.outlierDetection.maxEjectionPercent"},
	{name: "zero max connections", kind: "TrafficPolicy", spec: `
targetRef: {name: web}
connectionPool: {maxConnections: 0}`,
		field: "spec.connectionPool.maxConnections"},
}

// manifest is the case as a whole YAML object named name.
func (c *policyCase) manifest(name, namespace string) string {
	return fmt.Sprintf("apiVersion: mesh.weft.dev/v1alpha1\nkind: %s\nmetadata: {name: %s, namespace: %s}\nspec:\n%s\n",
		c.kind, name, namespace, indent(strings.TrimPrefix(c.spec, "\n")))
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// validate decodes the case strictly, as standalone mode reads a file, and
// runs the Go validator of its kind; it returns the errors' text.
func (c *policyCase) validate(t *testing.T) string {
	t.Helper()
	doc := []byte(c.manifest("x", "default"))
	var obj interface{ GetName() string }
	var run func() field.ErrorList
	switch c.kind {
	case "PeerAuthentication":
		pa := &v1alpha1.PeerAuthentication{}
		obj, run = pa, func() field.ErrorList { return v1alpha1.ValidatePeerAuthentication(pa) }
	case "AuthorizationPolicy":
		ap := &v1alpha1.AuthorizationPolicy{}
		obj, run = ap, func() field.ErrorList { return v1alpha1.ValidateAuthorizationPolicy(ap) }
	case "TrafficPolicy":
		tp := &v1alpha1.TrafficPolicy{}
		obj, run = tp, func() field.ErrorList { return v1alpha1.ValidateTrafficPolicy(tp) }
	default:
		t.Fatalf("unknown kind %q", c.kind)
	}
	err := yaml.UnmarshalStrict(doc, obj)
	switch {
	case c.badDuration != "":
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("in duration %q", c.badDuration)) {
			t.Fatalf("decoding a duration of %q: got error %v, want one about the duration", c.badDuration, err)
		}
		return ""
	case err != nil:
		t.Fatalf("decode:\n%s\n%v", doc, err)
	}
	return errText(run())
}

// check asserts that got (an error's text, "" for none) is what the case
// expects.
func (c *policyCase) check(t *testing.T, who, got string) {
	t.Helper()
	switch {
	case c.field == "" && got != "":
		t.Errorf("%s refused a valid object: %s", who, got)
	case c.field != "" && got == "":
		t.Errorf("%s accepted an object with a bad %s", who, c.field)
	case c.field != "" && !strings.Contains(got, c.field):
		t.Errorf("%s's error does not name %s: %s", who, c.field, got)
	case c.msg != "" && !strings.Contains(got, c.msg):
		t.Errorf("%s's error does not say %q: %s", who, c.msg, got)
	}
}
