package configdir

import (
	"fmt"
	"net/netip"
	"regexp"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/gateway"
)

// A Gateway is read as the API server would store it (the v1.6 standard
// channel schema's defaults and rules), and then refused unless its class
// is weft: standalone mode has no GatewayClass objects and no other
// controller. Whether its listeners can be served, which routes attach and
// which Secrets it may use is Gateway API semantics, decided by package
// gateway and reported by translate.Check.

var protocolPattern = regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+$`)

const secretKind = gwv1.Kind("Secret")

func defaultGateway(g *gwv1.Gateway) {
	defaultObject(g)
	g.Status = gwv1.GatewayStatus{}
	for i := range g.Spec.Listeners {
		l := &g.Spec.Listeners[i]
		if l.AllowedRoutes == nil {
			l.AllowedRoutes = &gwv1.AllowedRoutes{}
		}
		if l.AllowedRoutes.Namespaces == nil {
			l.AllowedRoutes.Namespaces = &gwv1.RouteNamespaces{}
		}
		if l.AllowedRoutes.Namespaces.From == nil {
			l.AllowedRoutes.Namespaces.From = ptr(gwv1.NamespacesFromSame)
		}
		for j := range l.AllowedRoutes.Kinds {
			if l.AllowedRoutes.Kinds[j].Group == nil {
				l.AllowedRoutes.Kinds[j].Group = ptr(gatewayGroup)
			}
		}
		if l.TLS == nil {
			continue
		}
		if l.TLS.Mode == nil {
			l.TLS.Mode = ptr(gwv1.TLSModeTerminate)
		}
		for j := range l.TLS.CertificateRefs {
			ref := &l.TLS.CertificateRefs[j]
			if ref.Group == nil {
				ref.Group = ptr(gwv1.Group(""))
			}
			if ref.Kind == nil {
				ref.Kind = ptr(secretKind)
			}
		}
	}
	for i := range g.Spec.Addresses {
		if g.Spec.Addresses[i].Type == nil {
			g.Spec.Addresses[i].Type = ptr(gwv1.IPAddressType)
		}
	}
}

func validateGateway(doc document, _ spiffeid.TrustDomain, g *gwv1.Gateway) []Problem {
	c := &checker{doc: doc}
	c.metadata(g, validation.IsDNS1123Subdomain)
	spec := field.NewPath("spec")
	switch class := string(g.Spec.GatewayClassName); {
	case class == "":
		c.add("spec.gatewayClassName", "is required (standalone mode serves the %s class)", gateway.ClassName)
	case class != gateway.ClassName:
		c.add("spec.gatewayClassName", "%q: standalone mode serves only the %s class", class, gateway.ClassName)
	}
	errs := validateListeners(spec.Child("listeners"), g.Spec.Listeners)
	errs = append(errs, validateGatewayAddresses(spec.Child("addresses"), g.Spec.Addresses)...)
	errs = append(errs, validateInfrastructure(spec.Child("infrastructure"), g.Spec.Infrastructure)...)
	c.fieldErrors(errs)
	return c.problems
}

func validateListeners(path *field.Path, listeners []gwv1.Listener) field.ErrorList {
	var errs field.ErrorList
	if len(listeners) == 0 {
		errs = append(errs, field.Required(path, "must have at least 1 item"))
	}
	errs = append(errs, maxItems(path, len(listeners), 64)...)
	names := make(map[gwv1.SectionName]int, len(listeners))
	type combo struct {
		port     gwv1.PortNumber
		protocol gwv1.ProtocolType
		hostname gwv1.Hostname
	}
	combos := make(map[combo]int, len(listeners))
	for i := range listeners {
		l := &listeners[i]
		p := path.Index(i)
		errs = append(errs, sectionName(p.Child("name"), l.Name)...)
		if first, dup := names[l.Name]; dup && l.Name != "" {
			errs = append(errs, field.Invalid(p.Child("name"), string(l.Name),
				fmt.Sprintf("Listener name must be unique within the Gateway (also listeners[%d])", first)))
		} else {
			names[l.Name] = i
		}
		if l.Hostname != nil {
			errs = append(errs, matchPattern(p.Child("hostname"), string(*l.Hostname), 253, hostnamePattern)...)
		}
		if l.Port < 1 || l.Port > 65535 {
			errs = append(errs, field.Invalid(p.Child("port"), l.Port, "must be between 1 and 65535"))
		}
		errs = append(errs, matchPattern(p.Child("protocol"), string(l.Protocol), 255, protocolPattern)...)
		k := combo{l.Port, l.Protocol, deref0(l.Hostname)}
		if first, dup := combos[k]; dup {
			errs = append(errs, field.Invalid(p, fmt.Sprintf("port %d, protocol %s, hostname %q", l.Port, l.Protocol, deref0(l.Hostname)),
				fmt.Sprintf("Combination of port, protocol and hostname must be unique for each listener (also listeners[%d])", first)))
		} else {
			combos[k] = i
		}
		errs = append(errs, validateListenerTLS(p, l)...)
		errs = append(errs, validateAllowedRoutes(p.Child("allowedRoutes"), l.AllowedRoutes)...)
	}
	return errs
}

// validateListenerTLS applies the schema's rules that tie a listener's
// protocol to its tls field, and requires tls for HTTPS, where the
// Gateway API asks for it in prose: an HTTPS listener without a
// certificate could never be served.
func validateListenerTLS(p *field.Path, l *gwv1.Listener) field.ErrorList {
	var errs field.ErrorList
	tp := p.Child("tls")
	switch l.Protocol {
	case gwv1.HTTPProtocolType, gwv1.TCPProtocolType, gwv1.UDPProtocolType:
		if l.TLS != nil {
			errs = append(errs, field.Forbidden(tp, "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']"))
		}
		if l.Protocol != gwv1.HTTPProtocolType && deref0(l.Hostname) != "" {
			errs = append(errs, field.Forbidden(p.Child("hostname"), "hostname must not be specified for protocols ['TCP', 'UDP']"))
		}
	case gwv1.HTTPSProtocolType:
		if l.TLS == nil {
			errs = append(errs, field.Required(tp, "tls is required for protocol HTTPS: certificateRefs naming a kubernetes.io/tls Secret"))
		} else if deref0(l.TLS.Mode) != gwv1.TLSModeTerminate {
			errs = append(errs, field.Invalid(tp.Child("mode"), deref0(l.TLS.Mode), "tls mode must be Terminate for protocol HTTPS"))
		}
	case gwv1.TLSProtocolType:
		if l.TLS == nil || deref0(l.TLS.Mode) == "" {
			errs = append(errs, field.Required(tp.Child("mode"), "tls mode must be set for protocol TLS"))
		}
	}
	if l.TLS == nil {
		return errs
	}
	mode := deref0(l.TLS.Mode)
	errs = append(errs, oneOf(tp.Child("mode"), string(mode), "Terminate", "Passthrough")...)
	refs := tp.Child("certificateRefs")
	if mode == gwv1.TLSModeTerminate && len(l.TLS.CertificateRefs) == 0 && len(l.TLS.Options) == 0 {
		errs = append(errs, field.Required(refs, "certificateRefs or options must be specified when mode is Terminate"))
	}
	errs = append(errs, maxItems(refs, len(l.TLS.CertificateRefs), 64)...)
	for j, ref := range l.TLS.CertificateRefs {
		rp := refs.Index(j)
		errs = append(errs, validateName(rp.Child("name"), string(ref.Name))...)
		errs = append(errs, validateGroupKind(rp, ref.Group, ref.Kind)...)
		errs = append(errs, validateNamespaceRef(rp.Child("namespace"), ref.Namespace)...)
		if deref0(ref.Group) != "" || deref0(ref.Kind) != secretKind {
			errs = append(errs, field.Invalid(rp.Child("kind"), string(deref0(ref.Kind)),
				`standalone mode reads certificates only from Secrets (group "", kind Secret)`))
		}
	}
	return errs
}

func validateAllowedRoutes(path *field.Path, ar *gwv1.AllowedRoutes) field.ErrorList {
	if ar == nil {
		return nil
	}
	var errs field.ErrorList
	if ns := ar.Namespaces; ns != nil {
		from := deref0(ns.From)
		errs = append(errs, oneOf(path.Child("namespaces", "from"), string(from), "All", "Selector", "Same")...)
		if from == gwv1.NamespacesFromSelector && ns.Selector == nil {
			errs = append(errs, field.Required(path.Child("namespaces", "selector"), "a selector is required when from is Selector"))
		}
		// The schema does not check a selector's operators; package
		// gateway would refuse every route, so refuse the file instead.
		if _, err := metav1.LabelSelectorAsSelector(ns.Selector); err != nil {
			errs = append(errs, field.Invalid(path.Child("namespaces", "selector"), field.OmitValueType{}, err.Error()))
		}
	}
	kinds := path.Child("kinds")
	errs = append(errs, maxItems(kinds, len(ar.Kinds), 8)...)
	for i, k := range ar.Kinds {
		kk := k.Kind
		errs = append(errs, validateGroupKind(kinds.Index(i), k.Group, &kk)...)
	}
	return errs
}

func validateGatewayAddresses(path *field.Path, addrs []gwv1.GatewaySpecAddress) field.ErrorList {
	errs := maxItems(path, len(addrs), 16)
	seen := make(map[string]int, len(addrs))
	for i, a := range addrs {
		p := path.Index(i)
		typ := deref0(a.Type)
		switch typ {
		case gwv1.IPAddressType:
			if a.Value != "" {
				if _, err := netip.ParseAddr(a.Value); err != nil {
					errs = append(errs, field.Invalid(p.Child("value"), a.Value, "must be an IP address"))
				}
			}
		case gwv1.HostnameAddressType:
			if a.Value != "" {
				errs = append(errs, matchPattern(p.Child("value"), a.Value, 253, hostnamePattern)...)
			}
		}
		key := string(typ) + "/" + a.Value
		if first, dup := seen[key]; dup && a.Value != "" {
			errs = append(errs, field.Invalid(p.Child("value"), a.Value, fmt.Sprintf("%s values must be unique (also addresses[%d])", typ, first)))
		} else {
			seen[key] = i
		}
	}
	return errs
}

func validateInfrastructure(path *field.Path, infra *gwv1.GatewayInfrastructure) field.ErrorList {
	if infra == nil {
		return nil
	}
	var errs field.ErrorList
	errs = append(errs, maxItems(path.Child("labels"), len(infra.Labels), 8)...)
	for k, v := range infra.Labels {
		for _, msg := range validation.IsQualifiedName(string(k)) {
			errs = append(errs, field.Invalid(path.Child("labels").Key(string(k)), string(k), msg))
		}
		for _, msg := range validation.IsValidLabelValue(string(v)) {
			errs = append(errs, field.Invalid(path.Child("labels").Key(string(k)), string(v), msg))
		}
	}
	errs = append(errs, maxItems(path.Child("annotations"), len(infra.Annotations), 16)...)
	for k := range infra.Annotations {
		for _, msg := range validation.IsQualifiedName(string(k)) {
			errs = append(errs, field.Invalid(path.Child("annotations").Key(string(k)), string(k), msg))
		}
	}
	if ref := infra.ParametersRef; ref != nil {
		rp := path.Child("parametersRef")
		kind := ref.Kind
		errs = append(errs, validateGroupKind(rp, &ref.Group, &kind)...)
		errs = append(errs, validateName(rp.Child("name"), ref.Name)...)
	}
	return errs
}

// addGateway puts a Gateway into the mesh. Validation refused every class
// but weft, so every Gateway here is package gateway's to resolve.
func addGateway(m *model.Mesh, g *gwv1.Gateway) {
	m.Ingress.Gateways = append(m.Ingress.Gateways, *g)
}
