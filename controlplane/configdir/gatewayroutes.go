package configdir

import (
	"net/netip"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/weftmesh/weft/controlplane/model"
)

// TLSRoutes and TCPRoutes attach only to Gateways, and ReferenceGrants
// only say which references across namespaces are allowed: they are read
// with the v1.6 standard channel's defaults and rules, like the mesh
// routes, and go into model.Ingress.

func defaultTLSRoute(r *gwv1.TLSRoute) {
	defaultObject(r)
	r.Status = gwv1.TLSRouteStatus{}
	defaultParentRefs(r.Spec.ParentRefs)
	for i := range r.Spec.Rules {
		for j := range r.Spec.Rules[i].BackendRefs {
			defaultBackendRef(&r.Spec.Rules[i].BackendRefs[j])
		}
	}
}

func defaultTCPRoute(r *gwv1.TCPRoute) {
	defaultObject(r)
	r.Status = gwv1.TCPRouteStatus{}
	defaultParentRefs(r.Spec.ParentRefs)
	for i := range r.Spec.Rules {
		for j := range r.Spec.Rules[i].BackendRefs {
			defaultBackendRef(&r.Spec.Rules[i].BackendRefs[j])
		}
	}
}

func validateTLSRoute(doc document, _ spiffeid.TrustDomain, r *gwv1.TLSRoute) []Problem {
	c := &checker{doc: doc}
	c.metadata(r, validation.IsDNS1123Subdomain)
	spec := field.NewPath("spec")
	errs := validateGatewayRouteParents(spec, "TLSRoute", &r.Spec.CommonRouteSpec)
	errs = append(errs, validateTLSRouteHostnames(spec.Child("hostnames"), r.Spec.Hostnames)...)
	rules := spec.Child("rules")
	errs = append(errs, exactlyOneRule(rules, len(r.Spec.Rules))...)
	for i := range r.Spec.Rules {
		errs = append(errs, validateL4Rule(rules.Index(i), r.Spec.Rules[i].Name, r.Spec.Rules[i].BackendRefs)...)
	}
	c.fieldErrors(errs)
	return c.problems
}

func validateTCPRoute(doc document, _ spiffeid.TrustDomain, r *gwv1.TCPRoute) []Problem {
	c := &checker{doc: doc}
	c.metadata(r, validation.IsDNS1123Subdomain)
	spec := field.NewPath("spec")
	errs := validateGatewayRouteParents(spec, "TCPRoute", &r.Spec.CommonRouteSpec)
	rules := spec.Child("rules")
	errs = append(errs, exactlyOneRule(rules, len(r.Spec.Rules))...)
	for i := range r.Spec.Rules {
		errs = append(errs, validateL4Rule(rules.Index(i), r.Spec.Rules[i].Name, r.Spec.Rules[i].BackendRefs)...)
	}
	c.fieldErrors(errs)
	return c.problems
}

// validateGatewayRouteParents checks parentRefs as for mesh routes, but
// a route only a Gateway takes is told so when it names no parent.
func validateGatewayRouteParents(spec *field.Path, kind string, common *gwv1.CommonRouteSpec) field.ErrorList {
	refs := spec.Child("parentRefs")
	var errs field.ErrorList
	for _, e := range validateCommonRoute(spec, common, nil) {
		if e.Type == field.ErrorTypeRequired && e.Field == refs.String() {
			continue
		}
		errs = append(errs, e)
	}
	if len(common.ParentRefs) == 0 {
		errs = append(errs, field.Required(refs, "a "+kind+" needs a parentRef naming a Gateway (name, and sectionName for one listener)"))
	}
	return errs
}

// validateTLSRouteHostnames applies the v1 TLSRoute's rules: at least one
// hostname, no IP addresses, a wildcard only as the first label.
func validateTLSRouteHostnames(path *field.Path, hostnames []gwv1.Hostname) field.ErrorList {
	var errs field.ErrorList
	if len(hostnames) == 0 {
		errs = append(errs, field.Required(path, "must have at least 1 item: the SNI names the route serves"))
	}
	errs = append(errs, maxItems(path, len(hostnames), 1024)...)
	for i, h := range hostnames {
		p, s := path.Index(i), string(h)
		if _, err := netip.ParseAddr(s); err == nil {
			errs = append(errs, field.Invalid(p, s, "Hostnames cannot contain an IP"))
			continue
		}
		if strings.Contains(s, "*") && !strings.HasPrefix(s, "*.") {
			errs = append(errs, field.Invalid(p, s,
				"Wildcards on hostnames must be the first label, and the rest of hostname must be valid based on RFC-1123"))
			continue
		}
		errs = append(errs, matchPattern(p, s, 253, hostnamePattern)...)
	}
	return errs
}

func exactlyOneRule(path *field.Path, n int) field.ErrorList {
	if n == 0 {
		return field.ErrorList{field.Required(path, "must have exactly 1 item")}
	}
	return maxItems(path, n, 1)
}

func validateL4Rule(path *field.Path, name *gwv1.SectionName, backends []gwv1.BackendRef) field.ErrorList {
	errs := validateRuleName(path, name)
	bp := path.Child("backendRefs")
	if len(backends) == 0 {
		errs = append(errs, field.Required(bp, "must have at least 1 item"))
	}
	errs = append(errs, maxItems(bp, len(backends), 16)...)
	for i := range backends {
		errs = append(errs, validateBackendRef(bp.Index(i), &backends[i])...)
	}
	return errs
}

func validateReferenceGrant(doc document, _ spiffeid.TrustDomain, g *gwv1beta1.ReferenceGrant) []Problem {
	c := &checker{doc: doc}
	c.metadata(g, validation.IsDNS1123Subdomain)
	spec := field.NewPath("spec")
	var errs field.ErrorList
	from, to := spec.Child("from"), spec.Child("to")
	for _, list := range []struct {
		path *field.Path
		n    int
	}{{from, len(g.Spec.From)}, {to, len(g.Spec.To)}} {
		if list.n == 0 {
			errs = append(errs, field.Required(list.path, "must have at least 1 item"))
		}
		errs = append(errs, maxItems(list.path, list.n, 16)...)
	}
	for i, f := range g.Spec.From {
		p := from.Index(i)
		errs = append(errs, validateGroupKind(p, &f.Group, &f.Kind)...)
		if f.Namespace == "" {
			errs = append(errs, field.Required(p.Child("namespace"), ""))
		} else {
			errs = append(errs, validateNamespaceRef(p.Child("namespace"), &f.Namespace)...)
		}
	}
	for i, t := range g.Spec.To {
		p := to.Index(i)
		errs = append(errs, validateGroupKind(p, &t.Group, &t.Kind)...)
		if t.Name != nil {
			errs = append(errs, validateName(p.Child("name"), string(*t.Name))...)
		}
	}
	c.fieldErrors(errs)
	return c.problems
}

func addTLSRoute(m *model.Mesh, r *gwv1.TLSRoute) {
	m.Ingress.TLSRoutes = append(m.Ingress.TLSRoutes, *r)
}

func addTCPRoute(m *model.Mesh, r *gwv1.TCPRoute) {
	m.Ingress.TCPRoutes = append(m.Ingress.TCPRoutes, *r)
}

func addReferenceGrant(m *model.Mesh, g *gwv1beta1.ReferenceGrant) {
	m.Ingress.ReferenceGrants = append(m.Ingress.ReferenceGrants, *g)
}

func defaultReferenceGrant(g *gwv1beta1.ReferenceGrant) {
	defaultObject(g)
}
