package kube

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// Objects are the API objects a mesh is built from, as the informers' caches
// list them. Build does not modify them.
type Objects struct {
	Namespaces      []corev1.Namespace
	Services        []corev1.Service
	EndpointSlices  []discoveryv1.EndpointSlice
	Pods            []corev1.Pod
	ServiceAccounts []corev1.ServiceAccount

	PeerAuthentications   []v1alpha1.PeerAuthentication
	AuthorizationPolicies []v1alpha1.AuthorizationPolicy
	TrafficPolicies       []v1alpha1.TrafficPolicy
	HTTPRoutes            []gwv1.HTTPRoute
	GRPCRoutes            []gwv1.GRPCRoute

	// The ingress gateway's (docs/gateway.md). Secrets are those of type
	// kubernetes.io/tls.
	GatewayClasses  []gwv1.GatewayClass
	Gateways        []gwv1.Gateway
	TLSRoutes       []gwv1.TLSRoute
	TCPRoutes       []gwv1.TCPRoute
	ReferenceGrants []gwv1beta1.ReferenceGrant
	Secrets         []corev1.Secret
}

// Problem is an object Build found wanting: one it left out of the mesh, or
// part of one, because the model cannot hold it (Dropped), or one that
// names something missing, such as an AuthorizationPolicy naming a
// ServiceAccount that does not exist.
type Problem struct {
	Kind      string
	Namespace string
	Name      string
	Reason    string
	Dropped   bool
}

func (p Problem) String() string {
	return fmt.Sprintf("%s %s/%s: %s", p.Kind, p.Namespace, p.Name, p.Reason)
}

// Build returns the mesh in trust domain td that objs describe, as
// docs/kubernetes.md maps them, and the problems it found. Objects of a
// namespace that is not listed, or is being deleted, are left out silently:
// the namespace's deletion drops them. The problems are sorted
// (SortProblems).
func Build(td spiffeid.TrustDomain, objs *Objects) (*model.Mesh, []Problem) {
	b := &builder{live: liveNamespaces(objs.Namespaces)}
	m := &model.Mesh{TrustDomain: td}
	for i := range objs.Pods {
		if w, ok := b.workload(&objs.Pods[i]); ok {
			m.Workloads = append(m.Workloads, w)
		}
	}
	bySvc := slicesByService(b, objs.EndpointSlices)
	for i := range objs.Services {
		if s, ok := b.service(&objs.Services[i], bySvc); ok {
			m.Services = append(m.Services, s)
		}
	}
	m.Policies = b.policies(objs)
	m.Ingress = b.ingress(objs)
	m.Sort()
	b.missingServiceAccounts(objs)
	SortProblems(b.problems)
	return m, b.problems
}

type builder struct {
	live     map[string]bool
	problems []Problem
}

// skip reports what Build leaves out.
func (b *builder) skip(kind string, meta *metav1.ObjectMeta, format string, args ...any) {
	b.problems = append(b.problems, Problem{Kind: kind, Namespace: meta.Namespace, Name: meta.Name, Reason: fmt.Sprintf(format, args...), Dropped: true})
}

// missingServiceAccounts reports the AuthorizationPolicies of live
// namespaces whose rules name a ServiceAccount that does not exist (a
// typo, or one not created yet): the rule can match nobody by that name.
func (b *builder) missingServiceAccounts(objs *Objects) {
	sas := make(map[model.NamespacedName]bool, len(objs.ServiceAccounts))
	for i := range objs.ServiceAccounts {
		sas[model.NamespacedName{Namespace: objs.ServiceAccounts[i].Namespace, Name: objs.ServiceAccounts[i].Name}] = true
	}
	for i := range objs.AuthorizationPolicies {
		ap := &objs.AuthorizationPolicies[i]
		if !b.live[ap.Namespace] {
			continue
		}
		var missing []string
		for _, rule := range ap.Spec.Rules {
			for _, src := range rule.From {
				for _, ref := range slices.Concat(src.ServiceAccounts, src.NotServiceAccounts) {
					ns, name, qualified := strings.Cut(ref, "/")
					if !qualified {
						ns, name = ap.Namespace, ref
					}
					if !sas[model.NamespacedName{Namespace: ns, Name: name}] && !slices.Contains(missing, ns+"/"+name) {
						missing = append(missing, ns+"/"+name)
					}
				}
			}
		}
		for _, sa := range missing {
			b.problems = append(b.problems, Problem{Kind: "AuthorizationPolicy", Namespace: ap.Namespace, Name: ap.Name,
				Reason: fmt.Sprintf("ServiceAccount %s does not exist", sa)})
		}
	}
}

// liveNamespaces are the namespaces that exist and are not being deleted.
func liveNamespaces(nss []corev1.Namespace) map[string]bool {
	live := make(map[string]bool, len(nss))
	for i := range nss {
		if nss[i].DeletionTimestamp == nil && nss[i].Status.Phase != corev1.NamespaceTerminating {
			live[nss[i].Name] = true
		}
	}
	return live
}

// policies copies the policy objects of live namespaces, without their
// status and bookkeeping: the model holds what users asked for, so that a
// status write does not make a new mesh.
func (b *builder) policies(objs *Objects) model.Policies {
	return model.Policies{
		PeerAuthentications: keep(b, objs.PeerAuthentications, func(p *v1alpha1.PeerAuthentication) *metav1.ObjectMeta {
			p.Status = v1alpha1.PolicyStatus{}
			return &p.ObjectMeta
		}),
		AuthorizationPolicies: keep(b, objs.AuthorizationPolicies, func(p *v1alpha1.AuthorizationPolicy) *metav1.ObjectMeta {
			p.Status = v1alpha1.PolicyStatus{}
			return &p.ObjectMeta
		}),
		TrafficPolicies: keep(b, objs.TrafficPolicies, func(p *v1alpha1.TrafficPolicy) *metav1.ObjectMeta {
			p.Status = v1alpha1.PolicyStatus{}
			return &p.ObjectMeta
		}),
		HTTPRoutes: keep(b, objs.HTTPRoutes, func(r *gwv1.HTTPRoute) *metav1.ObjectMeta {
			r.Status = gwv1.HTTPRouteStatus{}
			return &r.ObjectMeta
		}),
		GRPCRoutes: keep(b, objs.GRPCRoutes, func(r *gwv1.GRPCRoute) *metav1.ObjectMeta {
			r.Status = gwv1.GRPCRouteStatus{}
			return &r.ObjectMeta
		}),
	}
}

// keep returns shallow copies of the objects of live namespaces, each
// passed through strip (which clears what the model does not keep and
// returns the copy's metadata). The copies share spec with the cache's
// objects, which nobody modifies.
func keep[T any](b *builder, in []T, strip func(*T) *metav1.ObjectMeta) []T {
	var out []T
	for _, o := range in {
		meta := strip(&o)
		if !b.live[meta.Namespace] {
			continue
		}
		meta.ResourceVersion = ""
		meta.ManagedFields = nil
		out = append(out, o)
	}
	return out
}

// sortSlice orders a Service's slice endpoints by address, then by pod,
// readiness and ports, so that a mesh does not change when the same
// endpoints move between slices or the caches list the slices in another
// order.
func sortSlice(eps []model.SliceEndpoint) {
	slices.SortFunc(eps, func(a, b model.SliceEndpoint) int {
		return cmp.Or(a.Address.Compare(b.Address), cmp.Compare(podName(a.Pod), podName(b.Pod)),
			boolCompare(a.Ready, b.Ready), comparePorts(a.Ports, b.Ports))
	})
}

// comparePorts orders port maps by their sorted names, then numbers.
func comparePorts(a, b map[string]uint32) int {
	if c := cmp.Compare(len(a), len(b)); c != 0 {
		return c
	}
	ak, bk := slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b))
	for i := range ak {
		if c := cmp.Or(cmp.Compare(ak[i], bk[i]), cmp.Compare(a[ak[i]], b[bk[i]])); c != 0 {
			return c
		}
	}
	return 0
}

func podName(p *model.NamespacedName) string {
	if p == nil {
		return ""
	}
	return p.String()
}
