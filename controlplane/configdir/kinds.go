package configdir

import (
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// kind is an apiVersion and kind pair.
type kind struct{ apiVersion, kind string }

func (k kind) String() string { return k.apiVersion + " " + k.kind }

// kindSpec is how Load handles one kind of document: decoding, the
// defaults the API server would apply, validation, and where the object
// goes in the mesh. Load goes through these steps in that order, as the
// API server does.
type kindSpec struct {
	kind
	// specRequired is set for kinds whose schema requires spec.
	specRequired bool
	newObject    func() metav1.Object
	defaults     func(metav1.Object)
	validate     func(document, spiffeid.TrustDomain, metav1.Object) []Problem
	add          func(*model.Mesh, metav1.Object)
}

// newKind builds the kindSpec of the typed object *T; defaults may be nil.
// The type assertions cannot fail: every object a kindSpec sees was made
// by its newObject.
func newKind[T any, PT interface {
	*T
	metav1.Object
}](k kind, specRequired bool,
	defaults func(PT),
	validate func(document, spiffeid.TrustDomain, PT) []Problem,
	add func(*model.Mesh, PT),
) kindSpec {
	return kindSpec{
		kind:         k,
		specRequired: specRequired,
		newObject:    func() metav1.Object { return PT(new(T)) },
		defaults: func(o metav1.Object) {
			if defaults != nil {
				defaults(o.(PT))
			}
		},
		validate: func(doc document, td spiffeid.TrustDomain, o metav1.Object) []Problem {
			return validate(doc, td, o.(PT))
		},
		add: func(m *model.Mesh, o metav1.Object) { add(m, o.(PT)) },
	}
}

// kinds are the kinds Load understands, in the order error messages list
// them.
var kinds = [...]kindSpec{
	newKind(kind{"v1", "Service"}, false, nil,
		func(doc document, _ spiffeid.TrustDomain, svc *corev1.Service) []Problem {
			return validateService(doc, svc)
		},
		func(m *model.Mesh, svc *corev1.Service) { m.Services = append(m.Services, toService(svc)) }),
	newKind(kind{"v1", "Secret"}, false, defaultSecret, validateSecret, addSecret),
	newKind(kind{"v1", "Namespace"}, false, nil, validateNamespace, addNamespace),
	newKind(kind{v1alpha1.GroupVersion.String(), "Workload"}, false, nil,
		validateWorkload,
		func(m *model.Mesh, wl *v1alpha1.Workload) { m.Workloads = append(m.Workloads, toWorkload(wl)) }),
	newKind(kind{v1alpha1.GroupVersion.String(), "PeerAuthentication"}, true, defaultPeerAuthentication,
		validatePeerAuthentication,
		func(m *model.Mesh, pa *v1alpha1.PeerAuthentication) {
			m.Policies.PeerAuthentications = append(m.Policies.PeerAuthentications, *pa)
		}),
	newKind(kind{v1alpha1.GroupVersion.String(), "AuthorizationPolicy"}, true, defaultAuthorizationPolicy,
		validateAuthorizationPolicy,
		func(m *model.Mesh, ap *v1alpha1.AuthorizationPolicy) {
			m.Policies.AuthorizationPolicies = append(m.Policies.AuthorizationPolicies, *ap)
		}),
	newKind(kind{v1alpha1.GroupVersion.String(), "TrafficPolicy"}, true, defaultTrafficPolicy,
		validateTrafficPolicy,
		func(m *model.Mesh, tp *v1alpha1.TrafficPolicy) {
			m.Policies.TrafficPolicies = append(m.Policies.TrafficPolicies, *tp)
		}),
	newKind(kind{gwv1.GroupVersion.String(), "HTTPRoute"}, true, defaultHTTPRoute,
		validateHTTPRoute,
		func(m *model.Mesh, r *gwv1.HTTPRoute) { m.Policies.HTTPRoutes = append(m.Policies.HTTPRoutes, *r) }),
	newKind(kind{gwv1.GroupVersion.String(), "GRPCRoute"}, false, defaultGRPCRoute,
		validateGRPCRoute,
		func(m *model.Mesh, r *gwv1.GRPCRoute) { m.Policies.GRPCRoutes = append(m.Policies.GRPCRoutes, *r) }),
	newKind(kind{gwv1.GroupVersion.String(), "Gateway"}, true, defaultGateway, validateGateway, addGateway),
	newKind(kind{gwv1.GroupVersion.String(), "TLSRoute"}, true, defaultTLSRoute, validateTLSRoute, addTLSRoute),
	newKind(kind{gwv1.GroupVersion.String(), "TCPRoute"}, true, defaultTCPRoute, validateTCPRoute, addTCPRoute),
	newKind(kind{gwv1beta1.GroupVersion.String(), "ReferenceGrant"}, true, defaultReferenceGrant,
		validateReferenceGrant, addReferenceGrant),
}

// lookupKind returns the spec of kind k, or nil.
func lookupKind(k kind) *kindSpec {
	for i := range kinds {
		if kinds[i].kind == k {
			return &kinds[i]
		}
	}
	return nil
}

// supportedKinds lists the kinds for error messages:
// "v1 Service, mesh.weft.dev/v1alpha1 Workload, ...".
func supportedKinds() string {
	names := make([]string, len(kinds))
	for i := range kinds {
		names[i] = kinds[i].String()
	}
	return strings.Join(names, ", ")
}
