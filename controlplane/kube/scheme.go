package kube

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

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
		// ReferenceGrant is read as v1beta1, the version every Gateway
		// API release since v0.6 serves.
		"gateway-api v1beta1": gwv1beta1.Install,
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
}

// kinds are what Build reads, in the order they are set up.
func kinds() []kind {
	return []kind{
		{name: "Namespace", obj: &corev1.Namespace{}},
		{name: kindService, obj: &corev1.Service{}},
		{name: kindEndpointSlice, obj: &discoveryv1.EndpointSlice{}},
		{name: kindPod, obj: &corev1.Pod{}},
		{name: "ServiceAccount", obj: &corev1.ServiceAccount{}},
		{name: "PeerAuthentication", obj: &v1alpha1.PeerAuthentication{}, crd: true},
		{name: "AuthorizationPolicy", obj: &v1alpha1.AuthorizationPolicy{}, crd: true},
		{name: "TrafficPolicy", obj: &v1alpha1.TrafficPolicy{}, crd: true},
		{name: "HTTPRoute", obj: &gwv1.HTTPRoute{}, crd: true},
		{name: "GRPCRoute", obj: &gwv1.GRPCRoute{}, crd: true},
		// The ingress gateway's (docs/gateway.md); Secrets of type
		// kubernetes.io/tls only (a field selector, see Watcher.Run).
		{name: "GatewayClass", obj: &gwv1.GatewayClass{}, crd: true},
		{name: "Gateway", obj: &gwv1.Gateway{}, crd: true},
		{name: "TLSRoute", obj: &gwv1.TLSRoute{}, crd: true},
		{name: "TCPRoute", obj: &gwv1.TCPRoute{}, crd: true},
		{name: "ReferenceGrant", obj: &gwv1beta1.ReferenceGrant{}, crd: true},
		{name: "Secret", obj: &corev1.Secret{}},
	}
}
