package metallb

import (
	"encoding/json"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/weftmesh/weft/controlplane/kube/kubetest"
)

// TestApplied applies Components and then Pool to a real API server, as
// the e2e harness does, with strict field validation: the CRDs are
// accepted and become Established, the Deployment and DaemonSet pass the
// API server's validation, and the pool and advertisement match the CRDs'
// schemas (a misspelt or removed field fails). Nothing runs the pods.
func TestApplied(t *testing.T) {
	env := kubetest.StartT(t, kubetest.Options{WithoutGatewayAPI: true})
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cs.Discovery()))
	apply := func(u *unstructured.Unstructured) error {
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return err
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = dyn.Resource(m.Resource).Namespace(u.GetNamespace())
		}
		data, err := json.Marshal(u.Object)
		if err != nil {
			return err
		}
		_, err = ri.Patch(t.Context(), u.GetName(), types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: "weft-e2e", Force: new(true), FieldValidation: "Strict"})
		return err
	}

	var crds []string
	for _, u := range decode(t, Components()) {
		if err := apply(u); err != nil {
			t.Errorf("apply %s: %v", key(u), err)
		}
		if u.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, u.GetName())
		}
	}
	crdRes := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	deadline := time.Now().Add(30 * time.Second)
	for _, name := range crds {
		for {
			u, err := crdRes.Get(t.Context(), name, metav1.GetOptions{})
			if err == nil && established(u) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("CRD %s not Established: %v", name, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	mapper.Reset()
	for _, u := range decode(t, Pool()) {
		if err := apply(u); err != nil {
			t.Errorf("apply %s: %v", key(u), err)
		}
	}
	pool, err := dyn.Resource(schema.GroupVersionResource{Group: "metallb.io", Version: "v1beta1", Resource: "ipaddresspools"}).
		Namespace(Namespace).Get(t.Context(), "weft-e2e", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if addrs, _, _ := unstructured.NestedStringSlice(pool.Object, "spec", "addresses"); len(addrs) != 1 || addrs[0] != "192.0.2.240-192.0.2.250" {
		t.Errorf("stored pool addresses %q", addrs)
	}
}

func established(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}
