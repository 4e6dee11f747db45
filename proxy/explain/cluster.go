package explain

import (
	"fmt"
	"net/http"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/weftmesh/weft/proxy/dataplane"
	"github.com/weftmesh/weft/proxy/httpproxy"
	"github.com/weftmesh/weft/proxy/lb"
	"github.com/weftmesh/weft/proxy/route"
)

// httpProtocolOptions is the typed_extension_protocol_options key that
// chooses HTTP/1.1 or HTTP/2 toward a cluster's endpoints.
const httpProtocolOptions = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// explainCluster describes cluster name of d and the endpoint the proxy
// would pick for r (nil r: a TCP connection, no hash) under the route's
// hash policies.
func (d *Dump) explainCluster(name string, r *http.Request, hash []route.HashPolicy) (Cluster, error) {
	out := Cluster{Name: name}
	c := d.cluster(name)
	if c == nil {
		out.Pick = "no such cluster: the proxy answers 503 (NC) or closes the connection"
		return out, nil
	}
	out.Type = c.GetType().String()
	if ts := c.GetTransportSocket(); ts != nil {
		var utc tlsv3.UpstreamTlsContext
		if err := ts.GetTypedConfig().UnmarshalTo(&utc); err != nil {
			return out, fmt.Errorf("cluster %q: transport_socket: %w", name, err)
		}
		out.MTLS = true
		for _, m := range utc.GetCommonTlsContext().GetCombinedValidationContext().GetDefaultValidationContext().GetMatchTypedSubjectAltNames() {
			if id := m.GetMatcher().GetExact(); id != "" {
				out.ServerIDs = append(out.ServerIDs, id)
			} else if p := m.GetMatcher().GetPrefix(); p != "" {
				out.ServerIDs = append(out.ServerIDs, p+"*")
			}
		}
	}
	if c.GetType() == clusterv3.Cluster_ORIGINAL_DST {
		// PassthroughCluster dials in plaintext; a pod IP's cluster
		// (outbound|pod||<SPIFFE ID>) with mTLS, checking the pod's ID.
		out.Pick = "the connection's original destination, in plaintext"
		if out.MTLS {
			out.Pick = "the connection's original destination, over mTLS"
		}
		return out, nil
	}
	if o, ok := c.GetTypedExtensionProtocolOptions()[httpProtocolOptions]; ok {
		var hpo httpv3.HttpProtocolOptions
		if err := o.UnmarshalTo(&hpo); err != nil {
			return out, fmt.Errorf("cluster %q: %s: %w", name, httpProtocolOptions, err)
		}
		out.HTTP2 = hpo.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil
	}
	policy, cfg, err := dataplane.ClusterLB(c)
	if err != nil {
		return out, err
	}
	out.LBPolicy = policy.String()

	cla := c.GetLoadAssignment()
	if c.GetType() == clusterv3.Cluster_EDS {
		eds := c.GetEdsClusterConfig().GetServiceName()
		if eds == "" {
			eds = name
		}
		if cla = d.assignment(eds); cla == nil {
			out.Pick = fmt.Sprintf("no endpoints received for %q: the proxy answers 503 (UH)", eds)
			return out, nil
		}
	}
	eps, err := dataplane.TrafficEndpoints(cla)
	if err != nil {
		return out, err
	}
	for _, e := range eps {
		out.Endpoints = append(out.Endpoints, Endpoint{Address: e.Address, Weight: e.Weight})
	}
	switch {
	case len(eps) == 0:
		out.Pick = "no endpoint takes traffic: the proxy answers 503 (UH)"
	case len(eps) == 1:
		out.Picked = eps[0].Address
		out.Pick = "the only endpoint"
	case policy == lb.RingHash || policy == lb.Maglev:
		var pc lb.PickContext
		if r != nil {
			pc = httpproxy.RequestHash(r, hash)
		}
		if !pc.HasHash {
			out.Pick = fmt.Sprintf("one of %d, at random (%s without a hash for this request)", len(eps), policy)
			break
		}
		picker, err := lb.New(policy, eps, cfg)
		if err != nil {
			return out, fmt.Errorf("cluster %q: %w", name, err)
		}
		ep, done, _ := picker.Pick(pc)
		done()
		out.Picked = ep.Address
		out.Pick = fmt.Sprintf("%s with the request's hash %#x (unless outlier detection ejected it)", policy, pc.Hash)
	default:
		out.Pick = fmt.Sprintf("one of %d (%s)", len(eps), policy)
	}
	return out, nil
}
