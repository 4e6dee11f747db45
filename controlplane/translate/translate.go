package translate

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/weftmesh/weft/controlplane/model"
)

// Resources are the xDS resources of one proxy keyed by type URL
// (resource.ListenerType, resource.RouteType, resource.ClusterType,
// resource.EndpointType; resourceTypes lists them; a gateway proxy's also
// resource.SecretType, its SDS certificates). Every key is present,
// possibly with an empty slice, and each slice is sorted by resource name;
// cache.NewSnapshot accepts the map as it is.
type Resources map[resource.Type][]types.Resource

// Proxy returns the resources of the sidecar of workload w in mesh m. The
// mesh must be sorted (model.Mesh.Sort) and w need not be one of its
// workloads. A WorkloadPort's zero TargetPort and an Outbound's zero
// LocalPort default to its Port, as in the Workload API. A Pod workload
// (model.Workload.Pod) gets instead the capture listeners virtualOutbound
// and virtualInbound, and the listeners, routes and clusters of the
// Services in its scope (podProxy, docs/kubernetes.md).
//
// An Outbound whose Service (or service port) does not exist is not an
// error: it gets its listener and an EDS cluster whose assignment has no
// endpoints, and no SAN matchers. Proxy fails only on input no proxy could
// run: a mesh without a trust domain, a workload without a valid identity or
// with an address it needs missing, a port outside 1–65535, or two
// resources with the same name or two listeners on the same address.
func Proxy(m *model.Mesh, w *model.Workload) (Resources, error) {
	if m == nil || w == nil {
		return nil, errors.New("translate: nil mesh or workload")
	}
	res, err := proxy(m, w, nil)
	if err != nil {
		return nil, fmt.Errorf("translating workload %s: %w", w.Key(), err)
	}
	return res, nil
}

// proxy translates w; b, when not nil, shares clusters between the
// workloads of one Batch.
func proxy(m *model.Mesh, w *model.Workload, b *Batch) (Resources, error) {
	if m.TrustDomain.IsZero() {
		return nil, errors.New("mesh has no trust domain")
	}
	if _, err := m.Identity(w); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if w.Gateway != nil {
		// An ingress gateway's proxy serves its Gateway's listeners
		// (docs/gateway.md), whether or not it runs in a Pod.
		return gatewayProxy(m, w, b)
	}
	if w.Pod {
		// A Pod's sidecar captures its traffic: it gets the Services of
		// its scope, not listeners on Ports and Outbound (podProxy).
		return podProxy(m, w, b)
	}
	if len(w.Ports) > 0 && !w.Address.IsValid() {
		return nil, errors.New("workload serves ports but has no address")
	}
	if (len(w.Ports) > 0 || len(w.Outbound) > 0) && !w.LocalAddress.IsValid() {
		return nil, errors.New("workload has ports or outbound entries but no local address")
	}

	res := make(Resources, 4)
	for _, typ := range resourceTypes() {
		res[typ] = []types.Resource{}
	}
	for _, p := range w.Ports {
		l, c, err := inbound(m, w, p, w.LocalAddress)
		if err != nil {
			return nil, fmt.Errorf("port %d: %w", p.Port, err)
		}
		res[resource.ListenerType] = append(res[resource.ListenerType], l)
		res[resource.ClusterType] = append(res[resource.ClusterType], c)
	}
	var backends []servicePortRef
	for _, o := range w.Outbound {
		out, err := outbound(m, w, o, b)
		if err != nil {
			return nil, fmt.Errorf("outbound %s port %d: %w", o.Service, o.Port, err)
		}
		res[resource.ListenerType] = append(res[resource.ListenerType], out.listener)
		res[resource.ClusterType] = append(res[resource.ClusterType], out.cluster)
		res[resource.EndpointType] = append(res[resource.EndpointType], out.assignment)
		if out.routes != nil {
			res[resource.RouteType] = append(res[resource.RouteType], out.routes)
		}
		backends = append(backends, out.backends...)
	}
	if err := addRouteBackends(m, res, backends, b); err != nil {
		return nil, err
	}

	if err := finish(res, resourceTypes()); err != nil {
		return nil, err
	}
	return res, nil
}

// finish sorts each type's resources by name, and fails on two resources
// of one type with the same name or two listeners on one address.
func finish(res Resources, typs []resource.Type) error {
	for _, typ := range typs {
		rs := res[typ]
		slices.SortFunc(rs, func(a, b types.Resource) int {
			return cmp.Compare(cache.GetResourceName(a), cache.GetResourceName(b))
		})
		for i := 1; i < len(rs); i++ {
			if name := cache.GetResourceName(rs[i]); name == cache.GetResourceName(rs[i-1]) {
				return fmt.Errorf("two %s resources named %q", typeName(typ), name)
			}
		}
	}
	return checkBinds(res[resource.ListenerType])
}

// resourceTypes returns the keys of every Resources.
func resourceTypes() []resource.Type {
	return []resource.Type{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType}
}

// typeName is the short name of a type URL, for errors.
func typeName(typ resource.Type) string {
	switch typ {
	case resource.ListenerType:
		return "listener"
	case resource.RouteType:
		return "route"
	case resource.ClusterType:
		return "cluster"
	case resource.EndpointType:
		return "endpoint"
	default:
		return typ
	}
}

// validPort reports whether p fits a TCP port and is not zero.
func validPort(p uint32) bool { return p >= 1 && p <= 65535 }

// orDefault returns p, or def when p is zero.
func orDefault(p, def uint32) uint32 {
	if p == 0 {
		return def
	}
	return p
}
