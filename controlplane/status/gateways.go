package status

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/gateway"
	"github.com/weftmesh/weft/gateway/deploy"
)

// Kinds of the ingress gateway's objects the Writer keeps the status of.
const (
	kindGatewayClass = "GatewayClass"
	kindGateway      = "Gateway"
	kindTLSRoute     = "TLSRoute"
	kindTCPRoute     = "TCPRoute"
)

// Gateway condition types and the reasons the Writer adds to Resolve's.
const (
	ConditionProgrammed      = string(gwv1.GatewayConditionProgrammed)
	ReasonAddressNotAssigned = string(gwv1.GatewayReasonAddressNotAssigned)
)

// gatewayTypes are the condition types the Writer owns on a Gateway and a
// GatewayClass.
var gatewayTypes = []string{ConditionAccepted, ConditionProgrammed}

// gatewayClassTargets lists the GatewayClasses of Weft's controller, each
// with Accepted=True: Weft takes any class that names it. A cluster
// without the Gateway API CRDs has none.
func (w *Writer) gatewayClassTargets(ctx context.Context) ([]target, error) {
	var classes gwv1.GatewayClassList
	if err := w.cfg.Client.List(ctx, &classes); err != nil {
		if apimeta.IsNoMatchError(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list GatewayClasses: %w", err)
	}
	var out []target
	for i := range classes.Items {
		gc := &classes.Items[i]
		if gc.Spec.ControllerName != gateway.ControllerName {
			continue
		}
		desired := []metav1.Condition{{
			Type: ConditionAccepted, Status: metav1.ConditionTrue, Reason: string(gwv1.GatewayClassReasonAccepted),
			Message: "Weft's gateway controller handles this class.", ObservedGeneration: gc.Generation,
		}}
		out = append(out, target{kind: kindGatewayClass, obj: gc,
			empty: func() client.Object { return &gwv1.GatewayClass{} },
			apply: func(x client.Object, now metav1.Time) bool {
				o, ok := x.(*gwv1.GatewayClass)
				if !ok || newerThan(o.Status.Conditions, gatewayTypes, gc.Generation) {
					return false
				}
				merged, changed := mergeConditions(o.Status.Conditions, desired, []string{ConditionAccepted}, now)
				o.Status.Conditions = merged
				return changed
			}})
	}
	return out, nil
}

// infra is what a Gateway's status takes from outside the mesh.
type infra struct {
	// addresses are those of the Gateway's Service; none while it is
	// missing or waits for a load balancer.
	addresses []gwv1.GatewayStatusAddress
	// invalidParams, when not nil, says why the Gateway's parametersRef
	// cannot be used (deploy.Parameters): the deployer then writes
	// Accepted=False InvalidParameters, and the Writer agrees.
	invalidParams error
}

// gatewayInfra reads, for each Gateway of res, its parameters (as the
// deployer does) and the Service that fronts it (deploy.Name, in the
// Gateway's namespace). Gateways whose parameters or Service cannot be
// read are left out of the map, and the errors returned.
func (w *Writer) gatewayInfra(ctx context.Context, res *gateway.Resolution) (map[model.NamespacedName]infra, error) {
	out := make(map[model.NamespacedName]infra, len(res.Gateways))
	var errs []error
	for _, g := range res.Gateways {
		key := model.NamespacedName{Namespace: g.Object.Namespace, Name: g.Object.Name}
		var in infra
		if _, err := deploy.Parameters(ctx, w.cfg.Client, g.Object); deploy.IsInvalidParameters(err) {
			in.invalidParams = err
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		var svc corev1.Service
		err := w.cfg.Client.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: deploy.Name(key.Name)}, &svc)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			errs = append(errs, fmt.Errorf("get the Service of Gateway %s: %w", key, err))
			continue
		default:
			in.addresses = addressesOf(&svc)
		}
		out[key] = in
	}
	return out, errors.Join(errs...)
}

// addressesOf returns the addresses clients reach a gateway Service at:
// a LoadBalancer's ingress IPs and hostnames (none until its controller
// assigns them), a ClusterIP or NodePort Service's cluster IPs.
func addressesOf(svc *corev1.Service) []gwv1.GatewayStatusAddress {
	var out []gwv1.GatewayStatusAddress
	add := func(typ gwv1.AddressType, value string) {
		a := gwv1.GatewayStatusAddress{Type: &typ, Value: value}
		if value != "" && !slices.ContainsFunc(out, func(b gwv1.GatewayStatusAddress) bool { return *b.Type == typ && b.Value == value }) {
			out = append(out, a)
		}
	}
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		for _, ip := range svc.Spec.ClusterIPs {
			if _, err := netip.ParseAddr(ip); err == nil {
				add(gwv1.IPAddressType, ip)
			}
		}
	case corev1.ServiceTypeLoadBalancer:
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			add(gwv1.IPAddressType, ing.IP)
			add(gwv1.HostnameAddressType, ing.Hostname)
		}
	}
	return out
}

// gatewayTargets returns a target per Gateway of res whose parameters and
// Service could be read (infras): Resolve's conditions and listener
// statuses, with Accepted False (InvalidParameters) while the parameters
// are unusable and Programmed False (AddressNotAssigned) while the
// Service has no address, and the Service's addresses.
func gatewayTargets(res *gateway.Resolution, infras map[model.NamespacedName]infra) []target {
	var out []target
	for i := range res.Gateways {
		g := &res.Gateways[i]
		key := model.NamespacedName{Namespace: g.Object.Namespace, Name: g.Object.Name}
		in, ok := infras[key]
		if !ok {
			continue
		}
		addresses := in.addresses
		gen := g.Object.Generation
		conds := gatewayConditions(g, in)
		listeners := listenerStatuses(g)
		out = append(out, target{kind: kindGateway, obj: g.Object,
			empty: func() client.Object { return &gwv1.Gateway{} },
			apply: func(x client.Object, now metav1.Time) bool {
				o, ok := x.(*gwv1.Gateway)
				if !ok || newerThan(o.Status.Conditions, gatewayTypes, gen) {
					return false
				}
				merged, changed := mergeConditions(o.Status.Conditions, conds, gatewayTypes, now)
				o.Status.Conditions = merged
				ls, lchanged := mergeListeners(o.Status.Listeners, listeners, now)
				o.Status.Listeners = ls
				if len(o.Status.Addresses) != len(addresses) || (len(addresses) > 0 && !equality.Semantic.DeepEqual(o.Status.Addresses, addresses)) {
					o.Status.Addresses = addresses
					changed = true
				}
				return changed || lchanged
			}})
	}
	return out
}

// gatewayConditions returns Resolve's Gateway conditions for the
// Gateway's generation, with Programmed False (AddressNotAssigned) while
// its Service has no address (Resolve decides Programmed only as far as
// configuration goes), and both False while its parameters are unusable:
// Accepted with the deployer's reason and message, InvalidParameters.
func gatewayConditions(g *gateway.Gateway, in infra) []metav1.Condition {
	addresses := in.addresses
	out := make([]metav1.Condition, 0, len(g.Conditions)+1)
	for _, c := range g.Conditions {
		c.ObservedGeneration = g.Object.Generation
		c.Message = truncate(c.Message)
		out = append(out, c)
	}
	if in.invalidParams != nil {
		out = slices.DeleteFunc(out, func(c metav1.Condition) bool {
			return c.Type == ConditionAccepted || c.Type == ConditionProgrammed
		})
		return append(out,
			metav1.Condition{Type: ConditionAccepted, Status: metav1.ConditionFalse, Reason: string(gwv1.GatewayReasonInvalidParameters),
				Message: in.invalidParams.Error(), ObservedGeneration: g.Object.Generation},
			metav1.Condition{Type: ConditionProgrammed, Status: metav1.ConditionFalse, Reason: string(gwv1.GatewayReasonInvalid),
				Message: "The Gateway's parameters are invalid (see Accepted).", ObservedGeneration: g.Object.Generation})
	}
	notAssigned := metav1.Condition{
		Type: ConditionProgrammed, Status: metav1.ConditionFalse, Reason: ReasonAddressNotAssigned,
		Message:            fmt.Sprintf("The Service %s has no address yet.", deploy.Name(g.Object.Name)),
		ObservedGeneration: g.Object.Generation,
	}
	i := slices.IndexFunc(out, func(c metav1.Condition) bool { return c.Type == ConditionProgrammed })
	switch {
	case i < 0 && len(addresses) == 0:
		out = append(out, notAssigned)
	case i < 0:
		out = append(out, metav1.Condition{Type: ConditionProgrammed, Status: metav1.ConditionTrue, Reason: string(gwv1.GatewayReasonProgrammed),
			Message: "The gateway's Service has an address.", ObservedGeneration: g.Object.Generation})
	case out[i].Status == metav1.ConditionTrue && len(addresses) == 0:
		out[i] = notAssigned
	}
	return out
}

// listenerStatuses returns Resolve's listener statuses, in listener
// order, for the Gateway's generation.
func listenerStatuses(g *gateway.Gateway) []gwv1.ListenerStatus {
	out := make([]gwv1.ListenerStatus, 0, len(g.Listeners))
	for _, l := range g.Listeners {
		s := *l.Status.DeepCopy()
		if s.Name == "" && l.Spec != nil {
			s.Name = l.Spec.Name
		}
		if s.SupportedKinds == nil {
			s.SupportedKinds = []gwv1.RouteGroupKind{}
		}
		for j := range s.Conditions {
			s.Conditions[j].ObservedGeneration = g.Object.Generation
			s.Conditions[j].Message = truncate(s.Conditions[j].Message)
		}
		out = append(out, s)
	}
	return out
}

// mergeListeners returns the desired listener statuses, each keeping the
// lastTransitionTime of an existing condition whose status did not change;
// status.listeners is the Gateway's controller's alone. It reports
// whether anything changed.
func mergeListeners(existing, desired []gwv1.ListenerStatus, now metav1.Time) ([]gwv1.ListenerStatus, bool) {
	changed := len(existing) != len(desired)
	out := make([]gwv1.ListenerStatus, 0, len(desired))
	for i, d := range desired {
		var prev gwv1.ListenerStatus
		if j := slices.IndexFunc(existing, func(e gwv1.ListenerStatus) bool { return e.Name == d.Name }); j >= 0 {
			prev = existing[j]
			changed = changed || j != i
		} else {
			changed = true
		}
		owned := make([]string, 0, len(prev.Conditions)+len(d.Conditions))
		for _, c := range slices.Concat(prev.Conditions, d.Conditions) {
			if !slices.Contains(owned, c.Type) {
				owned = append(owned, c.Type)
			}
		}
		conds, c := mergeConditions(prev.Conditions, d.Conditions, owned, now)
		changed = changed || c || prev.AttachedRoutes != d.AttachedRoutes || !equality.Semantic.DeepEqual(prev.SupportedKinds, d.SupportedKinds)
		d.Conditions = conds
		out = append(out, d)
	}
	return out, changed
}

// gatewayRouteTargets returns a target per TLSRoute and TCPRoute of m: only
// Weft's gateway controller's status.parents entries, as Resolve has them
// (none for a route no Gateway of Weft's takes).
func gatewayRouteTargets(m *model.Mesh, res *gateway.Resolution) []target {
	var out []target
	for i := range m.Ingress.TLSRoutes {
		r := &m.Ingress.TLSRoutes[i]
		out = append(out, ingressRouteTarget(kindTLSRoute, r, res, func() client.Object { return &gwv1.TLSRoute{} },
			func(x client.Object) *[]gwv1.RouteParentStatus {
				if r, ok := x.(*gwv1.TLSRoute); ok {
					return &r.Status.Parents
				}
				return nil
			}))
	}
	for i := range m.Ingress.TCPRoutes {
		r := &m.Ingress.TCPRoutes[i]
		out = append(out, ingressRouteTarget(kindTCPRoute, r, res, func() client.Object { return &gwv1.TCPRoute{} },
			func(x client.Object) *[]gwv1.RouteParentStatus {
				if r, ok := x.(*gwv1.TCPRoute); ok {
					return &r.Status.Parents
				}
				return nil
			}))
	}
	return out
}

func ingressRouteTarget(kind string, o client.Object, res *gateway.Resolution, empty func() client.Object,
	parents func(client.Object) *[]gwv1.RouteParentStatus,
) target {
	desired := gatewayParents(res, kind, o)
	return target{kind: kind, obj: o, empty: empty, apply: func(x client.Object, now metav1.Time) bool {
		p := parents(x)
		if p == nil || parentsOfNewerThan(gateway.ControllerName, *p, o.GetGeneration()) {
			return false
		}
		merged, changed := mergeParentsOf(gateway.ControllerName, *p, desired, now)
		*p = merged
		return changed
	}}
}

// gatewayParents returns Resolve's status.parents entries for route o of
// kind, for its generation.
func gatewayParents(res *gateway.Resolution, kind string, o client.Object) []gwv1.RouteParentStatus {
	if res == nil {
		return nil
	}
	in := res.Routes[gateway.RouteKey{Kind: kind, NamespacedName: model.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}}]
	out := make([]gwv1.RouteParentStatus, 0, len(in))
	for _, p := range in {
		p = *p.DeepCopy()
		p.ControllerName = gateway.ControllerName
		for j := range p.Conditions {
			p.Conditions[j].ObservedGeneration = o.GetGeneration()
			p.Conditions[j].Message = truncate(p.Conditions[j].Message)
		}
		out = append(out, p)
	}
	return out
}

// ingressTargets returns the ingress gateway's targets: Weft's
// GatewayClasses, the Gateways of res with their parameters and their
// Services' addresses,
// and the TLSRoutes and TCPRoutes of m. What could not be read is left
// out and its error returned with the rest.
func (w *Writer) ingressTargets(ctx context.Context, m *model.Mesh, res *gateway.Resolution) ([]target, error) {
	out, classErr := w.gatewayClassTargets(ctx)
	infras, svcErr := w.gatewayInfra(ctx, res)
	out = append(out, gatewayTargets(res, infras)...)
	out = append(out, gatewayRouteTargets(m, res)...)
	return out, errors.Join(classErr, svcErr)
}
