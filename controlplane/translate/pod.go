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

// podProxy returns the resources of a Kubernetes Pod's sidecar
// (docs/kubernetes.md, "What a Pod's proxy receives"; docs/capture.md).
// The capture rules send the pod's TCP to two listeners:
//
//   - VirtualOutbound (virtualOutbound) hands a connection to the
//     listener of its original destination: for every port of every
//     Service in the Pod's scope that has ClusterIPs, the listener a
//     declared Outbound gets for it (serviceListener, with its
//     RouteConfiguration on HTTP and sniffed ports) on the ClusterIPs and
//     the service port, not bound (podServiceListener). A meshed pod
//     of those Services dialled by its IP (a headless Service's pods
//     among them) is reached over mTLS (podIPChains); other
//     destinations take PassthroughCluster or BlackHoleCluster after
//     the mesh's OutboundTrafficPolicy.
//   - VirtualInbound (virtualInbound) serves the pod's ports with the
//     chains of a standalone inbound listener each, and passes other
//     ports through.
//
// For every port of every Service in scope, with ClusterIPs or not, the
// Pod gets the outbound EDS cluster and its ClusterLoadAssignment, of the
// same shapes a declared Outbound gets (outboundCluster: upstream mTLS or
// plaintext after the endpoints' PeerAuthentication, HTTP/2 on HTTP and
// sniffed ports, the Service's TrafficPolicy), plus the clusters of the
// backends of the GAMMA routes the Pod follows on those ports, in scope
// or not. A Service without endpoints still gets its clusters, with an
// empty assignment, so that the proxy knows it and waits for endpoints.
//
// The work done follows the size of the scope: Services are found by
// binary search (scope), never by scanning the mesh. Within a Batch (b
// not nil) each service port's cluster and assignment are built once for
// all the Pods that need them.
func podProxy(m *model.Mesh, w *model.Workload, b *Batch) (Resources, error) {
	if len(w.Ports) > 0 && !w.Address.IsValid() {
		return nil, errors.New("pod serves ports but has no address")
	}
	res := make(Resources, 4)
	for _, typ := range resourceTypes() {
		res[typ] = []types.Resource{}
	}
	var backends []servicePortRef
	var dests [][]podDest
	for _, svc := range scope(m, w) {
		for i, sp := range svc.Ports {
			ref := servicePortRef{service: svc.Key(), port: sp.Port}
			if !validPort(sp.Port) {
				return nil, fmt.Errorf("service %s: port %d must be within 1-65535", ref.service, sp.Port)
			}
			if slices.ContainsFunc(svc.Ports[:i], func(p model.ServicePort) bool { return p.Port == sp.Port }) {
				// The same number for TCP and UDP (a DNS Service): one
				// cluster and listener, those of the first (servicePort).
				continue
			}
			dests = append(dests, b.podDests(m, ref)) // shared in a Batch
			c, cla, err := b.outboundCluster(m, ref)  // shared in a Batch
			if err != nil {
				return nil, fmt.Errorf("service %s port %d: %w", ref.service, sp.Port, err)
			}
			res[resource.ClusterType] = append(res[resource.ClusterType], c)
			res[resource.EndpointType] = append(res[resource.EndpointType], cla)
			if len(svc.ClusterIPs) > 0 {
				out, err := podServiceListener(m, w, svc, ref)
				if err != nil {
					return nil, fmt.Errorf("service %s port %d: %w", ref.service, sp.Port, err)
				}
				res[resource.ListenerType] = append(res[resource.ListenerType], out.listener)
				if out.routes != nil {
					res[resource.RouteType] = append(res[resource.RouteType], out.routes)
				}
				backends = append(backends, out.backends...)
			} else if p := model.PortProtocol(sp); p.IsHTTP() || p == model.ProtocolAuto {
				// A headless Service has no listener to carry its
				// RouteConfiguration; the backends are kept, so that a
				// Pod's clusters do not depend on ClusterIPs.
				_, bs := outboundRoutes(m, w, ref, OutboundListenerName(ref.service, ref.port))
				backends = append(backends, bs...)
			}
		}
	}
	if err := addRouteBackends(m, res, backends, b); err != nil {
		return nil, err
	}

	vo, voClusters, err := virtualOutbound(m, dests, w.Address, b)
	if err != nil {
		return nil, err
	}
	vi, viClusters, err := virtualInbound(m, w)
	if err != nil {
		return nil, err
	}
	res[resource.ListenerType] = append(res[resource.ListenerType], vo, vi)
	for _, c := range slices.Concat(voClusters, viClusters) {
		res[resource.ClusterType] = append(res[resource.ClusterType], c)
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
	if err := checkBinds(res[resource.ListenerType]); err != nil {
		return nil, err
	}
	return res, nil
}
