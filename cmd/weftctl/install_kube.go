package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/weftmesh/weft/install/helm"
)

// fieldManager owns, in server-side apply, the fields weftctl install sets.
const fieldManager = "weftctl"

// kubeApplier is what install and uninstall need of the cluster: any kind
// by its GroupVersionKind, found through discovery.
type kubeApplier struct {
	typed  kubernetes.Interface
	dyn    dynamic.Interface
	disc   discovery.DiscoveryInterface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	crds   dynamic.ResourceInterface
}

func newKubeApplier(cfg *rest.Config) (*kubeApplier, error) {
	// A few requests per object: client-go's default 5 per second would
	// make an install take many seconds for nothing.
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 50, 100
	typed, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	disc := typed.Discovery()
	return &kubeApplier{
		typed:  typed,
		dyn:    dyn,
		disc:   disc,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
		crds:   dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}),
	}, nil
}

// capabilities are the API versions the cluster serves, as Helm spells
// them ("group/version" and "group/version/Kind"), and its version.
func (c *kubeApplier) capabilities() ([]string, string, error) {
	v, err := c.disc.ServerVersion()
	if err != nil {
		return nil, "", fmt.Errorf("kubernetes version: %w", err)
	}
	_, lists, err := c.disc.ServerGroupsAndResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, "", fmt.Errorf("kubernetes API discovery: %w", err)
	}
	var out []string
	for _, l := range lists {
		out = append(out, l.GroupVersion)
		for _, r := range l.APIResources {
			if !strings.Contains(r.Name, "/") {
				out = append(out, l.GroupVersion+"/"+r.Kind)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), v.GitVersion, nil
}

// resource is the client of gvk's objects in namespace (ignored for
// cluster-scoped kinds).
func (c *kubeApplier) resource(gvk schema.GroupVersionKind, namespace string) (dynamic.ResourceInterface, error) {
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("kind %s: %w", gvk, err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.dyn.Resource(m.Resource).Namespace(namespace), nil
	}
	return c.dyn.Resource(m.Resource), nil
}

// labelled lists the objects of every kind in helm.Order (but the
// Namespace) that carry the release's labels, in that order; kinds the
// cluster does not serve are skipped.
func (c *kubeApplier) labelled(ctx context.Context, release string) ([]*unstructured.Unstructured, error) {
	sel := metav1.ListOptions{LabelSelector: helm.LabelPartOf + "=" + helm.PartOf + "," + helm.LabelInstance + "=" + release}
	var out []*unstructured.Unstructured
	for _, gk := range helm.Order() {
		if gk.Kind == "Namespace" && gk.Group == "" {
			continue
		}
		m, err := c.mapper.RESTMapping(gk)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("kind %s: %w", gk, err)
		}
		l, err := c.dyn.Resource(m.Resource).List(ctx, sel)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", m.Resource.Resource, err)
		}
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	}
	return out, nil
}

// prune deletes the release's objects that objs (the new render) no
// longer has.
func (c *kubeApplier) prune(ctx context.Context, s streams, release string, objs []helm.Object) error {
	keep := make(map[string]bool, len(objs))
	for _, o := range objs {
		keep[objectKey(o.Unstructured)] = true
	}
	have, err := c.labelled(ctx, release)
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	slices.Reverse(have)
	for _, o := range have {
		if keep[objectKey(o)] {
			continue
		}
		if err := c.delete(ctx, o); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		fmt.Fprintf(s.out, "✔ pruned %s\n", describe(o))
	}
	return nil
}

// delete deletes o (background propagation: its dependents go after it),
// not minding that it is already gone.
func (c *kubeApplier) delete(ctx context.Context, o *unstructured.Unstructured) error {
	ri, err := c.resource(o.GroupVersionKind(), o.GetNamespace())
	if err != nil {
		return err
	}
	policy := metav1.DeletePropagationBackground
	if err := ri.Delete(ctx, o.GetName(), metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil && !isGone(err) {
		return fmt.Errorf("delete %s: %w", describe(o), err)
	}
	return nil
}

// waitGone waits until o no longer exists. When it is still there at the
// deadline the error says what holds it: its finalizers and, for a CRD,
// the API server's Terminating condition (deleting a CRD first deletes
// every object of its kind, which can take minutes on a busy server).
func (c *kubeApplier) waitGone(ctx context.Context, o *unstructured.Unstructured) error {
	ri, err := c.resource(o.GroupVersionKind(), o.GetNamespace())
	if err != nil {
		return err
	}
	var last *unstructured.Unstructured // as last seen, to say what holds it
	for {
		cur, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
		if isGone(err) {
			return nil
		}
		if err == nil {
			last = cur
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is still there%s: %w", describe(o), lingering(last), ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// lingering says why a deleted object is still there, as far as the
// object itself tells: " (finalizers: …; Terminating: Reason: message)".
func lingering(o *unstructured.Unstructured) string {
	if o == nil {
		return ""
	}
	var why []string
	if f := o.GetFinalizers(); len(f) > 0 {
		why = append(why, "finalizers: "+strings.Join(f, ", "))
	}
	conds, _, _ := unstructuredConditions(o.Object)
	for _, cond := range conds {
		if cond["type"] == "Terminating" {
			why = append(why, fmt.Sprintf("Terminating: %v: %v", cond["reason"], cond["message"]))
		}
	}
	if len(why) == 0 {
		return ""
	}
	return " (" + strings.Join(why, "; ") + ")"
}

// objectKey names an object across kinds and versions.
func objectKey(o *unstructured.Unstructured) string {
	return o.GroupVersionKind().GroupKind().String() + "/" + o.GetNamespace() + "/" + o.GetName()
}

// describe is an object as progress lines name it: "Deployment
// weft-system/weft-controlplane", "ClusterRole weft-controlplane".
func describe(o interface {
	GetKind() string
	GetNamespace() string
	GetName() string
}) string {
	if o.GetNamespace() == "" {
		return o.GetKind() + " " + o.GetName()
	}
	return o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
}

// unstructuredConditions are status.conditions of an object.
func unstructuredConditions(obj map[string]any) ([]map[string]any, bool, error) {
	raw, found, err := unstructured.NestedSlice(obj, "status", "conditions")
	if !found || err != nil {
		return nil, found, err
	}
	out := make([]map[string]any, 0, len(raw))
	for _, r := range raw {
		if m, ok := r.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out, true, nil
}
