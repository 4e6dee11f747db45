package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// NewScheme returns a scheme with every type the Watcher reads: client-go's
// built-in kinds, mesh.weft.dev/v1alpha1 and Gateway API v1.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for name, add := range map[string]func(*runtime.Scheme) error{
		"kubernetes":  clientgoscheme.AddToScheme,
		"weft":        v1alpha1.AddToScheme,
		"gateway-api": gwv1.Install,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("scheme: add %s types: %w", name, err)
		}
	}
	return s, nil
}

// kind is one kind of object the Watcher keeps an informer on.
type kind struct {
	name string
	obj  client.Object
	// crd is true for kinds a cluster may not serve (their CRDs are not
	// installed): the Watcher then runs without them.
	crd bool
	// list copies the cache's objects of this kind into objs.
	list func(ctx context.Context, r client.Reader, objs *Objects) error
}

// kinds are what Build reads, in the order they are set up.
func kinds() []kind {
	return []kind{
		{name: "Namespace", obj: &corev1.Namespace{}, list: func(ctx context.Context, r client.Reader, o *Objects) error {
			return listInto(ctx, r, &corev1.NamespaceList{}, func(l *corev1.NamespaceList) { o.Namespaces = l.Items })
		}},
		{name: kindService, obj: &corev1.Service{}, list: func(ctx context.Context, r client.Reader, o *Objects) error {
			return listInto(ctx, r, &corev1.ServiceList{}, func(l *corev1.ServiceList) { o.Services = l.Items })
		}},
		{name: kindEndpointSlice, obj: &discoveryv1.EndpointSlice{}, list: func(ctx context.Context, r client.Reader, o *Objects) error {
			return listInto(ctx, r, &discoveryv1.EndpointSliceList{}, func(l *discoveryv1.EndpointSliceList) { o.EndpointSlices = l.Items })
		}},
		{name: kindPod, obj: &corev1.Pod{}, list: func(ctx context.Context, r client.Reader, o *Objects) error {
			return listInto(ctx, r, &corev1.PodList{}, func(l *corev1.PodList) { o.Pods = l.Items })
		}},
		{name: "ServiceAccount", obj: &corev1.ServiceAccount{}, list: func(ctx context.Context, r client.Reader, o *Objects) error {
			return listInto(ctx, r, &corev1.ServiceAccountList{}, func(l *corev1.ServiceAccountList) { o.ServiceAccounts = l.Items })
		}},
		{name: "PeerAuthentication", obj: &v1alpha1.PeerAuthentication{}, crd: true, list: func(ctx context.Context, r client.Reader, o *Objects) error {
			return listInto(ctx, r, &v1alpha1.PeerAuthenticationList{}, func(l *v1alpha1.PeerAuthenticationList) { o.PeerAuthentications = l.Items })
		}},
		{name: "AuthorizationPolicy", obj: &v1alpha1.AuthorizationPolicy{}, crd: true, list: func(ctx context.Context, r client.Reader, o *Objects) error {
			return listInto(ctx, r, &v1alpha1.AuthorizationPolicyList{}, func(l *v1alpha1.AuthorizationPolicyList) { o.AuthorizationPolicies = l.Items })
		}},
		{name: "TrafficPolicy", obj: &v1alpha1.TrafficPolicy{}, crd: true, list: func(ctx context.Context, r client.Reader, o *Objects) error {
			return listInto(ctx, r, &v1alpha1.TrafficPolicyList{}, func(l *v1alpha1.TrafficPolicyList) { o.TrafficPolicies = l.Items })
		}},
		{name: "HTTPRoute", obj: &gwv1.HTTPRoute{}, crd: true, list: func(ctx context.Context, r client.Reader, o *Objects) error {
			return listInto(ctx, r, &gwv1.HTTPRouteList{}, func(l *gwv1.HTTPRouteList) { o.HTTPRoutes = l.Items })
		}},
		{name: "GRPCRoute", obj: &gwv1.GRPCRoute{}, crd: true, list: func(ctx context.Context, r client.Reader, o *Objects) error {
			return listInto(ctx, r, &gwv1.GRPCRouteList{}, func(l *gwv1.GRPCRouteList) { o.GRPCRoutes = l.Items })
		}},
	}
}

// listInto lists the cache's objects into list and hands it to set. The
// objects are the cache's own, not copies: Build only reads them, and
// informers replace objects rather than modify them.
func listInto[L client.ObjectList](ctx context.Context, r client.Reader, list L, set func(L)) error {
	if err := r.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	set(list)
	return nil
}
