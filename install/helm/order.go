package helm

import (
	"cmp"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Order is every kind the chart renders, in the order an installer
// creates them: the namespace and the CRDs before anything in or of them,
// RBAC before the pods that use it, the Service and mesh defaults before
// the control plane, the webhook configuration after the server it calls
// (so no pod creation fails on a webhook with no server behind it), the
// GatewayClass (whose CRD is the Gateway API's) last. Uninstall deletes in
// the reverse order.
func Order() []schema.GroupKind {
	return []schema.GroupKind{
		{Kind: "Namespace"},
		{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"},
		{Kind: "ServiceAccount"},
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"},
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"},
		{Group: "rbac.authorization.k8s.io", Kind: "Role"},
		{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"},
		{Kind: "ConfigMap"},
		{Kind: "Service"},
		{Group: "apps", Kind: "Deployment"},
		{Group: "apps", Kind: "DaemonSet"},
		{Group: "policy", Kind: "PodDisruptionBudget"},
		{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"},
		{Group: "gateway.networking.k8s.io", Kind: "GatewayClass"},
	}
}

// sortObjects sorts objs by Order, then namespace and name.
func sortObjects(objs []Object) ([]Object, error) {
	order := Order()
	rank := make(map[schema.GroupKind]int, len(order))
	for i, gk := range order {
		rank[gk] = i
	}
	for _, o := range objs {
		if _, ok := rank[o.GroupVersionKind().GroupKind()]; !ok {
			return nil, fmt.Errorf("%s: kind %s is not in helm.Order: add it there, so that installs order and prune it", o.Source, o.GroupVersionKind().GroupKind())
		}
	}
	slices.SortStableFunc(objs, func(a, b Object) int {
		return cmp.Or(
			cmp.Compare(rank[a.GroupVersionKind().GroupKind()], rank[b.GroupVersionKind().GroupKind()]),
			cmp.Compare(a.GetNamespace(), b.GetNamespace()),
			cmp.Compare(a.GetName(), b.GetName()),
		)
	})
	return objs, nil
}
