package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of every type in this package.
var GroupVersion = schema.GroupVersion{Group: "mesh.weft.dev", Version: "v1alpha1"}

// SchemeBuilder registers this package's types with a runtime.Scheme. It
// uses apimachinery alone so that importing Weft's API stays cheap.
var SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

// AddToScheme adds this package's types to a runtime.Scheme.
var AddToScheme = SchemeBuilder.AddToScheme

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Workload{}, &WorkloadList{},
		&PeerAuthentication{}, &PeerAuthenticationList{},
		&AuthorizationPolicy{}, &AuthorizationPolicyList{},
		&TrafficPolicy{}, &TrafficPolicyList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
