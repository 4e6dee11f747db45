package configdir

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/model"
)

var testTD = spiffeid.RequireTrustDomainFromString("cluster.local")

func TestLoadGood(t *testing.T) {
	got, err := Load("testdata/good", testTD)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &model.Mesh{
		TrustDomain: testTD,
		Services: []model.Service{
			{
				Name: "db", Namespace: "data",
				Selector: map[string]string{"app": "db"},
				Ports:    []model.ServicePort{{Port: 5432, TargetPort: 15432}},
			},
			{
				Name: "web", Namespace: "default",
				Selector: map[string]string{"app": "web"},
				Ports: []model.ServicePort{
					{Name: "http", Port: 80, TargetPortName: "http", AppProtocol: "http"},
					{Name: "admin", Port: 9000, TargetPort: 9000},
				},
			},
		},
		Workloads: []model.Workload{
			{
				Name: "db-1", Namespace: "data", ServiceAccount: "db",
				Labels:       map[string]string{"app": "db"},
				Address:      netip.MustParseAddr("192.0.2.10"),
				LocalAddress: netip.MustParseAddr("127.0.0.5"),
				Ports:        []model.WorkloadPort{{Port: 15432, TargetPort: 15432}},
				Outbound: []model.Outbound{{
					Service: model.NamespacedName{Namespace: "data", Name: "audit"}, Port: 443, LocalPort: 443,
				}},
			},
			{
				Name: "web-1", Namespace: "default", ServiceAccount: "web",
				Labels:       map[string]string{"app": "web"},
				Address:      netip.MustParseAddr("127.0.0.2"),
				LocalAddress: netip.MustParseAddr("127.0.0.1"),
				Ports: []model.WorkloadPort{
					{Name: "http", Port: 8080, TargetPort: 18080},
					{Port: 9000, TargetPort: 9000},
				},
				Outbound: []model.Outbound{{
					Service: model.NamespacedName{Namespace: "data", Name: "db"}, Port: 5432, LocalPort: 15432,
				}},
				BootstrapTokenSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			},
		},
		Policies: goodPolicies(),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(testdata/good) =\n%+v\nwant\n%+v", got, want)
	}
	// The model's own lookups work on what Load built: it is sorted.
	web := got.Service(model.NamespacedName{Namespace: "default", Name: "web"})
	if web == nil {
		t.Fatal("mesh.Service(default/web) = nil")
	}
	if eps := got.Endpoints(web, web.Ports[1]); len(eps) != 1 || eps[0].Address.String() != "127.0.0.2:9000" {
		t.Errorf("endpoints of web:9000 = %v, want one at 127.0.0.2:9000", eps)
	}
}

// svc and wl start documents with the lines every case needs; their
// metadata.name is on line 4 and spec on line 5.
const (
	svcHead = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n"
	wlHead  = "apiVersion: mesh.weft.dev/v1alpha1\nkind: Workload\nmetadata:\n  name: w\nspec:\n"
	wlBase  = wlHead + "  serviceAccount: sa\n  address: 127.0.0.2\n" // spec fields end on line 7
)

// allKinds is how problems list the supported kinds.
const allKinds = "v1 Service, v1 Secret, v1 Namespace, mesh.weft.dev/v1alpha1 Workload, mesh.weft.dev/v1alpha1 PeerAuthentication, " +
	"mesh.weft.dev/v1alpha1 AuthorizationPolicy, mesh.weft.dev/v1alpha1 TrafficPolicy, " +
	"gateway.networking.k8s.io/v1 HTTPRoute, gateway.networking.k8s.io/v1 GRPCRoute, " +
	"gateway.networking.k8s.io/v1 Gateway, gateway.networking.k8s.io/v1 TLSRoute, gateway.networking.k8s.io/v1 TCPRoute, " +
	"gateway.networking.k8s.io/v1beta1 ReferenceGrant"

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		// want holds one prefix per expected problem, in order.
		want []string
	}{
		{
			name:  "service port out of range",
			files: map[string]string{"s.yaml": svcHead + "  ports:\n    - port: 70000\n"},
			want:  []string{"s.yaml:7: spec.ports[0].port: must be between 1 and 65535"},
		},
		{
			name:  "service targetPort out of range",
			files: map[string]string{"s.yaml": svcHead + "  ports:\n    - port: 80\n      targetPort: -1\n"},
			want:  []string{"s.yaml:8: spec.ports[0].targetPort: must be between 1 and 65535"},
		},
		{
			name:  "service targetPort not a port name",
			files: map[string]string{"s.yaml": svcHead + "  ports:\n    - port: 80\n      targetPort: Not_A_Name\n"},
			want:  []string{"s.yaml:8: spec.ports[0].targetPort: must contain only alpha-numeric characters"},
		},
		{
			name:  "service without ports",
			files: map[string]string{"s.yaml": svcHead + "  selector:\n    app: web\n"},
			want:  []string{"s.yaml:5: spec.ports: at least one port is required"},
		},
		{
			name:  "ExternalName service without ports",
			files: map[string]string{"s.yaml": svcHead + "  type: ExternalName\n  externalName: example.com\n"},
		},
		{
			name: "service name not a DNS-1035 label",
			files: map[string]string{
				"s.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: 1web\nspec:\n  ports:\n    - port: 80\n",
			},
			want: []string{"s.yaml:4: metadata.name: a DNS-1035 label must consist of"},
		},
		{
			name: "service port names",
			files: map[string]string{"s.yaml": svcHead + "  ports:\n" +
				"    - name: http\n      port: 80\n" + // lines 7-8
				"    - name: http\n      port: 81\n" + // lines 9-10
				"    - port: 82\n" + // line 11
				"    - name: Bad_Name\n      port: 83\n"}, // lines 12-13
			want: []string{
				`s.yaml:9: spec.ports[1].name: duplicate port name "http" (also spec.ports[0].name)`,
				"s.yaml:11: spec.ports[2].name: is required when a service has more than one port",
				"s.yaml:12: spec.ports[3].name: a lowercase RFC 1123 label must consist of",
			},
		},
		{
			name:  "service duplicate port number and UDP",
			files: map[string]string{"s.yaml": svcHead + "  ports:\n    - {name: a, port: 53}\n    - {name: b, port: 53, protocol: UDP}\n"},
			want: []string{
				"s.yaml:8: spec.ports[1].port: duplicate port 53 (also spec.ports[0].port)",
				"s.yaml:8: spec.ports[1].protocol: UDP is not supported: the mesh carries TCP only",
			},
		},
		{
			name:  "selector label value",
			files: map[string]string{"s.yaml": svcHead + "  selector:\n    app.kubernetes.io/name: -bad-\n  ports:\n    - port: 80\n"},
			want:  []string{`s.yaml:7: spec.selector["app.kubernetes.io/name"]: a valid label must be`},
		},
		{
			name:  "workload name and namespace",
			files: map[string]string{"w.yaml": "apiVersion: mesh.weft.dev/v1alpha1\nkind: Workload\nmetadata:\n  name: Web_1\n  namespace: a.b\nspec:\n  serviceAccount: sa\n  address: 127.0.0.2\n"},
			want: []string{
				"w.yaml:4: metadata.name: a lowercase RFC 1123 label must consist of",
				"w.yaml:5: metadata.namespace: must not contain dots",
			},
		},
		{
			name:  "workload without a name or spec fields",
			files: map[string]string{"w.yaml": "apiVersion: mesh.weft.dev/v1alpha1\nkind: Workload\nspec: {}\n"},
			want: []string{
				"w.yaml:1: metadata.name: is required",
				"w.yaml:3: spec.address: is required",
				"w.yaml:3: spec.serviceAccount: is required",
			},
		},
		{
			name:  "address not an IP",
			files: map[string]string{"w.yaml": wlHead + "  serviceAccount: sa\n  address: 10.0.0.300\n"},
			want:  []string{`w.yaml:7: spec.address: "10.0.0.300" is not an IP address`},
		},
		{
			name: "bad addresses hide no other problem",
			files: map[string]string{"w.yaml": wlHead + "  serviceAccount: sa\n  address: nowhere\n  localAddress: 192.0.2.1\n" +
				"  ports: [{port: 80}, {port: 80}]\n" + // line 9
				"  outbound: [{service: a, port: 90}, {service: b, port: 90}]\n"}, // line 10
			want: []string{
				`w.yaml:7: spec.address: "nowhere" is not an IP address`,
				"w.yaml:8: spec.localAddress: must be a loopback address, not 192.0.2.1",
				"w.yaml:9: spec.ports[1].port: duplicate port 80 (also spec.ports[0].port)",
				"w.yaml:10: spec.outbound[1].port: duplicate local port 90 (also spec.outbound[0].port)",
			},
		},
		{
			name:  "address unspecified",
			files: map[string]string{"w.yaml": wlHead + "  serviceAccount: sa\n  address: '::'\n"},
			want:  []string{"w.yaml:7: spec.address: must be an address other sidecars can dial, not ::"},
		},
		{
			name:  "localAddress not loopback",
			files: map[string]string{"w.yaml": wlBase + "  localAddress: 192.0.2.1\n"},
			want:  []string{"w.yaml:8: spec.localAddress: must be a loopback address, not 192.0.2.1"},
		},
		{
			name:  "localAddress not an IP",
			files: map[string]string{"w.yaml": wlBase + "  localAddress: localhost\n"},
			want:  []string{`w.yaml:8: spec.localAddress: "localhost" is not an IP address`},
		},
		{
			name:  "serviceAccount not a SPIFFE path segment",
			files: map[string]string{"w.yaml": wlHead + "  serviceAccount: a/b\n  address: 127.0.0.2\n"},
			want:  []string{"w.yaml:6: spec.serviceAccount: is not a valid SPIFFE ID path segment"},
		},
		{
			name:  "bootstrap token not lowercase hex",
			files: map[string]string{"w.yaml": wlBase + "  bootstrapTokenSHA256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08\n"},
			want:  []string{"w.yaml:8: spec.bootstrapTokenSHA256: must be 64 lowercase hexadecimal digits"},
		},
		{
			name:  "bootstrap token too short",
			files: map[string]string{"w.yaml": wlBase + "  bootstrapTokenSHA256: abc\n"},
			want:  []string{"w.yaml:8: spec.bootstrapTokenSHA256: must be 64 lowercase hexadecimal digits"},
		},
		{
			name: "workload ports",
			files: map[string]string{"w.yaml": wlBase + "  ports:\n" +
				"    - {name: http, port: 8080, targetPort: 18080}\n" + // line 9
				"    - {name: http, port: 8080, targetPort: 18081}\n" + // line 10
				"    - {port: 0}\n" + // line 11
				"    - {port: 9000, targetPort: 65536}\n"}, // line 12
			want: []string{
				"w.yaml:10: spec.ports[1].name: duplicate port name \"http\" (also spec.ports[0].name)",
				"w.yaml:10: spec.ports[1].port: duplicate port 8080 (also spec.ports[0].port)",
				"w.yaml:11: spec.ports[2].port: must be between 1 and 65535",
				"w.yaml:12: spec.ports[3].targetPort: must be between 1 and 65535",
			},
		},
		{
			name: "inbound port on the app's own port",
			files: map[string]string{"w.yaml": wlHead + "  serviceAccount: sa\n  address: 127.0.0.1\n  ports:\n" +
				"    - {port: 8080}\n" + // line 9: targetPort defaults to 8080 on the same address
				"    - {port: 9000, targetPort: 9001}\n" + // line 10
				"    - {port: 9001, targetPort: 9002}\n"}, // line 11: 9001 is ports[1]'s app port
			want: []string{
				"w.yaml:9: spec.ports[0].port: the sidecar and the app would both bind 127.0.0.1:8080",
				"w.yaml:11: spec.ports[2].port: 127.0.0.1:9001 is where the app listens (spec.ports[1].targetPort)",
			},
		},
		{
			name: "same ports on distinct addresses are fine",
			files: map[string]string{
				"w.yaml": wlBase + "  ports:\n    - {port: 8080}\n  outbound:\n    - {service: web, port: 8080, localPort: 8081}\n",
			},
		},
		{
			name: "outbound listeners",
			files: map[string]string{"w.yaml": wlBase + "  ports:\n    - {port: 80, targetPort: 8080}\n  outbound:\n" +
				"    - {service: a, port: 80, localPort: 7000}\n" + // line 11
				"    - {service: b, port: 80, localPort: 7000}\n" + // line 12
				"    - {service: c.ns, port: 8080}\n" + // line 13: the app's port
				"    - {service: a.default, port: 80, localPort: 7001}\n" + // line 14: same as line 11
				"    - {service: a.b.c, port: 70000}\n" + // line 15
				"    - {service: '', port: 1, localPort: 99999}\n"}, // line 16
			want: []string{
				"w.yaml:12: spec.outbound[1].localPort: duplicate local port 7000 (also spec.outbound[0].localPort)",
				"w.yaml:13: spec.outbound[2].port: 127.0.0.1:8080 is where the app listens (spec.ports[0].targetPort)",
				"w.yaml:14: spec.outbound[3]: duplicate outbound listener for service default/a port 80 (also spec.outbound[0])",
				"w.yaml:15: spec.outbound[4].port: must be between 1 and 65535",
				`w.yaml:15: spec.outbound[4].service: "a.b.c" must be "name" or "name.namespace"`,
				"w.yaml:16: spec.outbound[5].localPort: must be between 1 and 65535",
				"w.yaml:16: spec.outbound[5].service: is required",
			},
		},
		{
			name: "outbound local port on the sidecar's inbound port",
			files: map[string]string{"w.yaml": wlHead + "  serviceAccount: sa\n  address: 127.0.0.1\n  ports:\n    - {port: 80, targetPort: 8080}\n  outbound:\n" +
				"    - {service: a, port: 80}\n"}, // line 11
			want: []string{"w.yaml:11: spec.outbound[0].port: 127.0.0.1:80 is already the sidecar's inbound port (spec.ports[0].port)"},
		},
		{
			name:  "outbound service name",
			files: map[string]string{"w.yaml": wlBase + "  outbound:\n    - {service: 9lives.NS, port: 80}\n"},
			want: []string{
				"w.yaml:9: spec.outbound[0].service: namespace: a lowercase RFC 1123 label",
				"w.yaml:9: spec.outbound[0].service: service name: a DNS-1035 label",
			},
		},
		{
			name: "duplicate across files",
			files: map[string]string{
				"a.yaml": wlBase,
				"b.yaml": "# the same workload again\n" + wlHead + "  serviceAccount: sa\n  address: 127.0.0.3\n",
				"c.yaml": svcHead + "  ports: [{port: 80}]\n---\n" + svcHead + "  ports: [{port: 81}]\n",
			},
			want: []string{
				"b.yaml:5: metadata.name: duplicate Workload default/w (first defined at a.yaml:4)",
				"c.yaml:11: metadata.name: duplicate Service default/web (first defined at c.yaml:4)",
			},
		},
		{
			name: "a service and a workload may share a name",
			files: map[string]string{
				"a.yaml": svcHead + "  ports: [{port: 80}]\n",
				"b.yaml": strings.Replace(wlBase, "name: w", "name: web", 1),
			},
		},
		{
			name: "two workloads claim one address and port",
			files: map[string]string{
				"a.yaml": wlBase + "  ports: [{port: 80}]\n",
				"b.yaml": strings.Replace(wlBase, "name: w", "name: v", 1) + "  ports: [{port: 80}]\n",
			},
			want: []string{"b.yaml:8: spec.ports[0].port: 127.0.0.2:80 is already claimed by workload default/w (a.yaml:8)"},
		},
		{
			name:  "unknown field",
			files: map[string]string{"w.yaml": wlBase + "  portz: []\n"},
			want:  []string{"w.yaml:8: spec.portz: unknown field"},
		},
		{
			name:  "unknown fields, nested, all reported",
			files: map[string]string{"s.yaml": svcHead + "  ports:\n    - port: 80\n      nmea: http\n  selectr: {}\nstatus2: x\n"},
			want: []string{
				"s.yaml:8: spec.ports[0].nmea: unknown field",
				"s.yaml:9: spec.selectr: unknown field",
				"s.yaml:10: status2: unknown field",
			},
		},
		{
			name:  "wrong type",
			files: map[string]string{"s.yaml": svcHead + "  ports:\n    - port: 80\n      name: a\n    - port: eighty\n      name: b\n"},
			want:  []string{"s.yaml:9: spec.ports[1].port: cannot use string as int32"},
		},
		{
			name:  "wrong type for a list",
			files: map[string]string{"w.yaml": wlBase + "  ports: 8080\n"},
			want:  []string{"w.yaml:8: spec.ports: cannot use number as []v1alpha1.WorkloadPort"},
		},
		{
			name:  "wrong type in a later document",
			files: map[string]string{"w.yaml": "---\n" + svcHead + "  ports: [{port: 80}]\n---\n" + wlBase + "  outbound:\n    - {service: a, port: {}}\n"},
			want:  []string{"w.yaml:17: spec.outbound[0].port: cannot use object as int32"},
		},
		// yaml.v3 puts a parse error on the line where the construct it was
		// parsing starts (counted from 0), not where the problem is; the
		// lines below are what it gives, counted from the file's start.
		{
			name:  "YAML syntax error",
			files: map[string]string{"w.yaml": wlBase + "  ports:\n    - port: 80\n   name: x\n"},
			want:  []string{"w.yaml:5: invalid YAML: did not find expected key"},
		},
		{
			name:  "YAML syntax error after a good document",
			files: map[string]string{"w.yaml": svcHead + "  ports: [{port: 80}]\n---\nkey: [unclosed\nother: 1\n"},
			want:  []string{"w.yaml:7: invalid YAML: did not find expected ',' or ']'"},
		},
		{
			name:  "tab indentation",
			files: map[string]string{"w.yaml": wlBase + "\tports: []\n"},
			want:  []string{"w.yaml:7: invalid YAML: found a tab character"},
		},
		{
			name:  "duplicate key",
			files: map[string]string{"w.yaml": wlBase + "  address: 127.0.0.3\n"},
			want:  []string{"w.yaml:8: spec.address: duplicate key (first at line 7)"},
		},
		{
			name:  "alias bomb",
			files: map[string]string{"d.yaml": aliasBomb()},
			want:  []string{"d.yaml:1: cannot convert to JSON: yaml: document contains excessive aliasing"},
		},
		{
			name:  "unknown kind",
			files: map[string]string{"d.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n"},
			want:  []string{`d.yaml:2: kind: unsupported kind "apps/v1 Deployment" (supported kinds: ` + allKinds + ")"},
		},
		{
			name:  "known kind, wrong version",
			files: map[string]string{"d.yaml": "apiVersion: mesh.weft.dev/v1\nkind: Workload\n"},
			want:  []string{`d.yaml:2: kind: unsupported kind "mesh.weft.dev/v1 Workload"`},
		},
		{
			name:  "missing kind",
			files: map[string]string{"d.yaml": "apiVersion: v1\nmetadata:\n  name: d\n"},
			want:  []string{"d.yaml:1: kind: is required (supported kinds: " + allKinds + ")"},
		},
		{
			name:  "missing apiVersion",
			files: map[string]string{"d.yaml": "# comment\nkind: Service\n"},
			want:  []string{"d.yaml:2: apiVersion: is required"},
		},
		{
			name:  "not a mapping",
			files: map[string]string{"d.yaml": "---\n- a\n- b\n"},
			want:  []string{"d.yaml:2: a document must be a mapping with apiVersion and kind"},
		},
		{
			name:  "empty documents and files are skipped",
			files: map[string]string{"a.yaml": "", "b.yml": "---\n---\n# nothing\n---\n~\n"},
		},
		{
			name: "problems from several files, sorted",
			files: map[string]string{
				"b.yaml": svcHead + "  ports: [{port: 0}]\n",
				"a.yaml": wlBase + "  localAddress: 10.0.0.1\n",
			},
			want: []string{
				"a.yaml:8: spec.localAddress: must be a loopback address",
				"b.yaml:6: spec.ports[0].port: must be between 1 and 65535",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			mesh, err := Load(dir, testTD)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if mesh == nil {
					t.Fatal("Load returned neither a mesh nor an error")
				}
				return
			}
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

// aliasBomb returns a Service whose spec expands to 10^10 scalars through
// nested aliases ("billion laughs").
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "  a%d: &a%d [", i, i)
		for range 10 {
			fmt.Fprintf(&b, "*a%d, ", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", svcHead+"  ports: [{port: 80}]\n")
	write(".b.yaml", "not: [valid") // hidden: skipped
	write("c.json", "{")            // not YAML by name: skipped
	if err := os.Mkdir(filepath.Join(dir, "d.yaml"), 0o700); err != nil {
		t.Fatal(err)
	}
	write("d.yaml/e.yaml", "not: [valid") // not read: Load does not recurse
	if err := os.Symlink("a.yaml", filepath.Join(dir, "link.yml")); err != nil {
		t.Fatal(err)
	}

	_, err := Load(dir, testTD)
	var cfgErr *Error
	if !errors.As(err, &cfgErr) || len(cfgErr.Problems) != 1 ||
		cfgErr.Problems[0].File != "link.yml" || !strings.Contains(cfgErr.Problems[0].Reason, "duplicate Service") {
		t.Fatalf("Load = %v, want only the symlinked copy of a.yaml reported as a duplicate", err)
	}

	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, testTD); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load with a dangling symlink = %v, want fs.ErrNotExist", err)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		dir  string
		td   spiffeid.TrustDomain
		is   error
	}{
		{name: "missing directory", dir: filepath.Join(t.TempDir(), "nope"), td: testTD, is: fs.ErrNotExist},
		{name: "no trust domain", dir: t.TempDir()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mesh, err := Load(tt.dir, tt.td)
			if err == nil || mesh != nil {
				t.Fatalf("Load = %v, %v; want an error", mesh, err)
			}
			var cfgErr *Error
			if errors.As(err, &cfgErr) {
				t.Errorf("Load error is a config *Error; want a plain error: %v", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Load error = %v, want %v", err, tt.is)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	err := &Error{Problems: []Problem{
		{File: "a.yaml", Line: 12, Field: "spec.ports[0].port", Reason: "must be between 1 and 65535"},
		{File: "b.yaml", Line: 3, Reason: "invalid YAML: did not find expected key"},
		{File: "c.yaml", Reason: "invalid YAML: control characters are not allowed"},
	}}
	want := "a.yaml:12: spec.ports[0].port: must be between 1 and 65535\n" +
		"b.yaml:3: invalid YAML: did not find expected key\n" +
		"c.yaml: invalid YAML: control characters are not allowed"
	if got := err.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
}
