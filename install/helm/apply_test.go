package helm_test

import (
	"encoding/json"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/weftmesh/weft/controlplane/kube/kubetest"
	"github.com/weftmesh/weft/install/helm"
)

// applier server-side applies rendered objects as an administrator.
type applier struct {
	t      *testing.T
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newApplier(t *testing.T, cfg *rest.Config) *applier {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &applier{t: t, dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cs.Discovery()))}
}

// apply server-side applies o (for real, or as a dry run) and returns the
// API server's refusal.
func (a *applier) apply(o helm.Object, dryRun bool) error {
	a.t.Helper()
	gvk := o.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = a.dyn.Resource(m.Resource).Namespace(o.GetNamespace())
	}
	data, err := json.Marshal(o.Object)
	if err != nil {
		a.t.Fatal(err)
	}
	opts := metav1.PatchOptions{FieldManager: "helm-test", Force: new(true), FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = ri.Patch(a.t.Context(), o.GetName(), types.ApplyPatchType, data, opts)
	return err
}

// TestRenderedObjectsAccepted: every object the chart renders, with every
// option on, is accepted by a real API server (server-side dry run), the
// CRDs first. Only the namespace is created for real, since a dry run
// cannot create the objects in it otherwise.
func TestRenderedObjectsAccepted(t *testing.T) {
	env := kubetest.StartT(t, kubetest.Options{})
	tests := []struct {
		name   string
		values map[string]any
	}{
		{"defaults", map[string]any{"namespace": map[string]any{"create": true}}},
		{"every option", map[string]any{"namespace": map[string]any{"create": true}, "cni": map[string]any{"enabled": true}, "gatewayClass": map[string]any{"enabled": true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := helm.Render(helm.Options{Values: tt.values})
			if err != nil {
				t.Fatal(err)
			}
			a := newApplier(t, env.Config)
			var crds, rest []helm.Object
			for _, o := range objs {
				switch o.GetKind() {
				case "Namespace":
					if err := a.apply(o, false); err != nil {
						t.Fatalf("the API server refuses Namespace %s: %v", o.GetName(), err)
					}
				case "CustomResourceDefinition":
					crds = append(crds, o)
				default:
					rest = append(rest, o)
				}
			}
			if len(crds) == 0 || len(rest) == 0 {
				t.Fatalf("rendered %d CRDs and %d other objects", len(crds), len(rest))
			}
			for _, o := range append(crds, rest...) {
				if err := a.apply(o, true); err != nil {
					t.Errorf("the API server refuses %s %s (%s): %v", o.GetKind(), o.GetName(), o.Source, err)
				}
			}
		})
	}
}

// eventually polls check every 100 ms until it returns "" or d passes,
// then fails t with its last message.
func eventually(t *testing.T, d time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kubetestEnv is an API server of t's own, with Weft's and the Gateway
// API's CRDs.
func kubetestEnv(t *testing.T) *kubetest.Env {
	t.Helper()
	return kubetest.StartT(t, kubetest.Options{})
}
