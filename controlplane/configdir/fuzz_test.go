package configdir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
)

// FuzzLoad feeds one document's bytes to the loader: it must not panic, and
// it must return either a mesh that keeps the model's promises or an *Error
// whose problems name the file.
func FuzzLoad(f *testing.F) {
	seeds, err := filepath.Glob("testdata/good/*.y*ml")
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		svcHead + "  ports:\n    - port: 80\n      targetPort: http\n",
		wlBase + "  ports: [{port: 8080, targetPort: 18080}]\n  outbound: [{service: a.b, port: 1}]\n",
		"a: &x [*x]\n",
		"- [a, b]\n- {c: d}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: a, labels: {1: 2}}\nspec: {ports: [{port: 1e3}]}\n",
	} {
		f.Add([]byte(s))
	}
	for _, s := range validPolicyDocs {
		f.Add([]byte(s))
	}
	f.Add([]byte(gatewayDir))
	f.Add([]byte(selectorDir))
	f.Fuzz(func(t *testing.T, data []byte) {
		mesh, err := build(testTD, []source{{name: "doc.yaml", data: data}})
		if (mesh == nil) == (err == nil) {
			t.Fatalf("build returned mesh %v and error %v; want exactly one", mesh, err)
		}
		if err != nil {
			var cfgErr *Error
			if !errors.As(err, &cfgErr) || len(cfgErr.Problems) == 0 {
				t.Fatalf("error %v (%T) is not an *Error with problems", err, err)
			}
			for _, p := range cfgErr.Problems {
				if p.File != "doc.yaml" || p.Line < 0 || p.Reason == "" {
					t.Fatalf("malformed problem %+v", p)
				}
			}
			return
		}
		for i := range mesh.Services {
			s := &mesh.Services[i]
			if s.Name == "" || s.Namespace == "" || len(s.Ports) == 0 {
				t.Fatalf("invalid service %+v", s)
			}
			for _, p := range s.Ports {
				if p.Port < 1 || p.Port > 65535 || p.TargetPort > 65535 || (p.TargetPort == 0) == (p.TargetPortName == "") {
					t.Fatalf("invalid service port %+v", p)
				}
			}
		}
		for i := range mesh.Workloads {
			w := &mesh.Workloads[i]
			if _, err := mesh.Identity(w); err != nil {
				t.Fatalf("workload %s has no identity: %v", w.Key(), err)
			}
			if !w.Address.IsValid() || !w.LocalAddress.IsLoopback() {
				t.Fatalf("workload %s has addresses %v, %v", w.Key(), w.Address, w.LocalAddress)
			}
			for _, p := range w.Ports {
				if p.Port < 1 || p.Port > 65535 || p.TargetPort < 1 || p.TargetPort > 65535 {
					t.Fatalf("invalid workload port %+v", p)
				}
			}
			for _, o := range w.Outbound {
				if o.Service.Name == "" || o.Service.Namespace == "" || o.Port < 1 || o.LocalPort < 1 || o.Port > 65535 || o.LocalPort > 65535 {
					t.Fatalf("invalid outbound %+v", o)
				}
			}
		}
		checkPolicies(t, &mesh.Policies)
	})
}

// checkPolicies checks that loaded policies have a namespace and every
// default the translator relies on.
func checkPolicies(t *testing.T, p *model.Policies) {
	t.Helper()
	for _, pa := range p.PeerAuthentications {
		if pa.Namespace == "" || (pa.Spec.MTLS != nil && pa.Spec.MTLS.Mode == "") {
			t.Fatalf("PeerAuthentication without defaults: %+v", pa)
		}
	}
	for _, ap := range p.AuthorizationPolicies {
		if ap.Namespace == "" || ap.Spec.Action == "" {
			t.Fatalf("AuthorizationPolicy without defaults: %+v", ap)
		}
	}
	for _, tp := range p.TrafficPolicies {
		if tp.Namespace == "" || tp.Spec.TargetRef.Kind != "Service" {
			t.Fatalf("TrafficPolicy without defaults: %+v", tp)
		}
	}
	checkRefs := func(ns string, parents []gwv1.ParentReference, backends []gwv1.BackendRef) {
		t.Helper()
		if ns == "" || len(parents) == 0 {
			t.Fatalf("route without a namespace or parentRefs: %q %+v", ns, parents)
		}
		for _, ref := range parents {
			if ref.Group == nil || ref.Kind == nil || ref.Name == "" {
				t.Fatalf("parentRef without defaults: %+v", ref)
			}
		}
		for _, b := range backends {
			if b.Group == nil || b.Kind == nil || b.Weight == nil || *b.Weight < 0 || *b.Weight > 1000000 ||
				(*b.Group == "" && *b.Kind == "Service" && b.Port == nil) {
				t.Fatalf("invalid backendRef %+v", b)
			}
		}
	}
	for _, r := range p.HTTPRoutes {
		if len(r.Spec.Rules) == 0 {
			t.Fatalf("HTTPRoute %s without rules", r.Name)
		}
		for _, rule := range r.Spec.Rules {
			var backends []gwv1.BackendRef
			for _, b := range rule.BackendRefs {
				backends = append(backends, b.BackendRef)
			}
			checkRefs(r.Namespace, r.Spec.ParentRefs, backends)
			if len(rule.Matches) == 0 {
				t.Fatalf("HTTPRoute %s has a rule without matches", r.Name)
			}
			for _, m := range rule.Matches {
				if m.Path == nil || m.Path.Type == nil || m.Path.Value == nil {
					t.Fatalf("HTTPRoute %s has a match without a path: %+v", r.Name, m)
				}
			}
		}
	}
	for _, r := range p.GRPCRoutes {
		var backends []gwv1.BackendRef
		for _, rule := range r.Spec.Rules {
			for _, b := range rule.BackendRefs {
				backends = append(backends, b.BackendRef)
			}
		}
		checkRefs(r.Namespace, r.Spec.ParentRefs, backends)
	}
}
