package translate

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/weftmesh/weft/controlplane/model"
)

// podProxy returns the resources of a Kubernetes Pod's sidecar
// (docs/kubernetes.md, "What a Pod's proxy receives"): for every port of
// every Service in the Pod's scope, the outbound EDS cluster and its
// ClusterLoadAssignment, of the same shapes a declared Outbound gets
// (outboundCluster: upstream mTLS or plaintext after the endpoints'
// PeerAuthentication, HTTP/2 on HTTP and sniffed ports, the Service's
// TrafficPolicy), plus the clusters of the backends of the GAMMA routes
// the Pod follows on those ports, in scope or not.
//
// A Pod gets no listeners and no routes yet: its sidecar captures the
// pod's traffic, and the capture rules with the listeners on 15001 and
// 15006 (which will carry the routes outboundRoutes builds) come with
// issue 9. A Service without endpoints still gets its clusters, with an
// empty assignment, so that the proxy knows it and waits for endpoints.
//
// The work done follows the size of the scope: Services are found by
// binary search (scope), never by scanning the mesh.
func podProxy(m *model.Mesh, w *model.Workload) (Resources, error) {
	res := make(Resources, 4)
	for _, typ := range resourceTypes() {
		res[typ] = []types.Resource{}
	}
	var backends []servicePortRef
	for _, svc := range scope(m, w) {
		for i, sp := range svc.Ports {
			ref := servicePortRef{service: svc.Key(), port: sp.Port}
			if !validPort(sp.Port) {
				return nil, fmt.Errorf("service %s: port %d must be within 1-65535", ref.service, sp.Port)
			}
			if slices.ContainsFunc(svc.Ports[:i], func(p model.ServicePort) bool { return p.Port == sp.Port }) {
				// The same number for TCP and UDP (a DNS Service): one
				// cluster, that of the first (servicePort).
				continue
			}
			c, cla, err := outboundCluster(m, ref)
			if err != nil {
				return nil, fmt.Errorf("service %s port %d: %w", ref.service, sp.Port, err)
			}
			res[resource.ClusterType] = append(res[resource.ClusterType], c)
			res[resource.EndpointType] = append(res[resource.EndpointType], cla)
			if p := model.PortProtocol(sp); p.IsHTTP() || p == model.ProtocolAuto {
				// The RouteConfiguration is dropped until the listeners
				// that use it exist (issue 9); its backends are kept.
				_, bs := outboundRoutes(m, w, ref, OutboundListenerName(ref.service, ref.port))
				backends = append(backends, bs...)
			}
		}
	}
	if err := addRouteBackends(m, res, backends); err != nil {
		return nil, err
	}
	for _, typ := range resourceTypes() {
		rs := res[typ]
		slices.SortFunc(rs, func(a, b types.Resource) int {
			return cmp.Compare(cache.GetResourceName(a), cache.GetResourceName(b))
		})
		for i := 1; i < len(rs); i++ {
			if name := cache.GetResourceName(rs[i]); name == cache.GetResourceName(rs[i-1]) {
				return nil, fmt.Errorf("two %s resources named %q", typeName(typ), name)
			}
		}
	}
	return res, nil
}
