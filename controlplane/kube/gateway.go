package kube

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/gateway"
)

// Keys of a kubernetes.io/tls Secret's data (docs/gateway.md).
const (
	secretCertKey = corev1.TLSCertKey
	secretKeyKey  = corev1.TLSPrivateKeyKey
)

// ingress returns the mesh's north-south part: the Gateways of live
// namespaces whose class Weft's controller handles, the TLSRoutes,
// TCPRoutes and ReferenceGrants of live namespaces, the TLS Secrets
// those Gateways' listeners name (granted or not: package gateway decides
// what may be served), and the labels of the live namespaces when a
// listener selects routes by them. Status and bookkeeping are left out,
// as for policies, so that a status write does not make a new mesh.
func (b *builder) ingress(objs *Objects) model.Ingress {
	ours := map[string]bool{}
	for i := range objs.GatewayClasses {
		if gc := &objs.GatewayClasses[i]; gc.Spec.ControllerName == gateway.ControllerName {
			ours[gc.Name] = true
		}
	}
	var gws []gwv1.Gateway
	for i := range objs.Gateways {
		if ours[string(objs.Gateways[i].Spec.GatewayClassName)] {
			gws = append(gws, objs.Gateways[i])
		}
	}
	in := model.Ingress{
		Gateways: keep(b, gws, func(g *gwv1.Gateway) *metav1.ObjectMeta {
			g.Status = gwv1.GatewayStatus{}
			return &g.ObjectMeta
		}),
		TLSRoutes: keep(b, objs.TLSRoutes, func(r *gwv1.TLSRoute) *metav1.ObjectMeta {
			r.Status = gwv1.TLSRouteStatus{}
			return &r.ObjectMeta
		}),
		TCPRoutes: keep(b, objs.TCPRoutes, func(r *gwv1.TCPRoute) *metav1.ObjectMeta {
			r.Status = gwv1.TCPRouteStatus{}
			return &r.ObjectMeta
		}),
		ReferenceGrants: keep(b, objs.ReferenceGrants, func(g *gwv1beta1.ReferenceGrant) *metav1.ObjectMeta {
			return &g.ObjectMeta
		}),
	}
	wanted := certificateRefs(in.Gateways)
	for i := range objs.Secrets {
		s := &objs.Secrets[i]
		key := model.NamespacedName{Namespace: s.Namespace, Name: s.Name}
		if !b.live[s.Namespace] || !wanted[key] || s.Type != corev1.SecretTypeTLS {
			continue
		}
		in.Secrets = append(in.Secrets, model.TLSSecret{
			Namespace:  s.Namespace,
			Name:       s.Name,
			Cert:       s.Data[secretCertKey],
			PrivateKey: s.Data[secretKeyKey],
		})
	}
	if in.SelectsNamespaces() {
		in.NamespaceLabels = b.namespaceLabels(objs.Namespaces)
	}
	in.Sort()
	return in
}

// namespaceLabels returns the labels of the live namespaces, by name
// (shared with the cache's objects, which nobody modifies).
func (b *builder) namespaceLabels(nss []corev1.Namespace) map[string]map[string]string {
	out := make(map[string]map[string]string, len(b.live))
	for i := range nss {
		if b.live[nss[i].Name] {
			out[nss[i].Name] = nss[i].Labels
		}
	}
	return out
}

// certificateRefs returns the Secrets the listeners of gws name.
func certificateRefs(gws []gwv1.Gateway) map[model.NamespacedName]bool {
	out := map[model.NamespacedName]bool{}
	for i := range gws {
		g := &gws[i]
		for _, l := range g.Spec.Listeners {
			if l.TLS == nil {
				continue
			}
			for _, ref := range l.TLS.CertificateRefs {
				if !isSecretRef(ref) {
					continue
				}
				key := model.NamespacedName{Namespace: g.Namespace, Name: string(ref.Name)}
				if ref.Namespace != nil && *ref.Namespace != "" {
					key.Namespace = string(*ref.Namespace)
				}
				out[key] = true
			}
		}
	}
	return out
}

// isSecretRef reports whether a certificateRef names a core Secret (the
// group "" and kind Secret are its defaults).
func isSecretRef(ref gwv1.SecretObjectReference) bool {
	return (ref.Group == nil || *ref.Group == "") && (ref.Kind == nil || *ref.Kind == "Secret")
}

// gatewayOf returns the Gateway a Pod runs: the value of its
// gateway.NameLabel when it has a weft-proxy container (the gateway
// Deployment's), nil otherwise.
func gatewayOf(pod *corev1.Pod) *model.NamespacedName {
	name := pod.Labels[gateway.NameLabel]
	if name == "" || !slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == ProxyContainer }) {
		return nil
	}
	return &model.NamespacedName{Namespace: pod.Namespace, Name: name}
}
