package configdir

import (
	"maps"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/weftmesh/weft/controlplane/model"
)

// In a config directory a namespace exists by being named: a Namespace
// document is read only for its labels, which a Gateway listener's
// allowedRoutes.namespaces.selector matches. As the API server does,
// every namespace is labelled kubernetes.io/metadata.name with its name,
// with or without a document. Its status is ignored, as for other kinds.

func validateNamespace(doc document, _ spiffeid.TrustDomain, n *corev1.Namespace) []Problem {
	c := &checker{doc: doc}
	c.metadata(n, validation.IsDNS1123Label)
	if n.Namespace != "" {
		c.add("metadata.namespace", "a Namespace is not in a namespace")
	}
	if len(n.Spec.Finalizers) > 0 {
		c.add("spec.finalizers", "is not supported: standalone mode reads only a Namespace's name and labels")
	}
	return c.problems
}

func addNamespace(m *model.Mesh, n *corev1.Namespace) {
	if m.Ingress.NamespaceLabels == nil {
		m.Ingress.NamespaceLabels = map[string]map[string]string{}
	}
	labels := maps.Clone(n.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[corev1.LabelMetadataName] = n.Name
	m.Ingress.NamespaceLabels[n.Name] = labels
}

// pruneNamespaceLabels keeps model.Ingress.NamespaceLabels only when a
// listener selects namespaces, so that relabelling one makes no new mesh
// otherwise, and gives the namespaces of routes without a Namespace
// document the label every namespace has.
func pruneNamespaceLabels(m *model.Mesh) {
	if !m.Ingress.SelectsNamespaces() {
		m.Ingress.NamespaceLabels = nil
		return
	}
	if m.Ingress.NamespaceLabels == nil {
		m.Ingress.NamespaceLabels = map[string]map[string]string{}
	}
	add := func(ns string) {
		if _, ok := m.Ingress.NamespaceLabels[ns]; !ok {
			m.Ingress.NamespaceLabels[ns] = map[string]string{corev1.LabelMetadataName: ns}
		}
	}
	for i := range m.Policies.HTTPRoutes {
		add(m.Policies.HTTPRoutes[i].Namespace)
	}
	for i := range m.Policies.GRPCRoutes {
		add(m.Policies.GRPCRoutes[i].Namespace)
	}
	for i := range m.Ingress.TLSRoutes {
		add(m.Ingress.TLSRoutes[i].Namespace)
	}
	for i := range m.Ingress.TCPRoutes {
		add(m.Ingress.TCPRoutes[i].Namespace)
	}
}
