package dataplane

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/weftmesh/weft/proxy/lb"
)

// The functions of this file give package explain (weftctl explain) the
// dataplane's own reading of a cluster's load balancing and of an
// assignment's endpoints, so that what it predicts is what the dataplane
// builds its balancers from.

// ClusterLB returns the load balancing policy and settings the dataplane
// runs for cluster c (lb_policy and its *_lb_config); an error names the
// field it refuses.
func ClusterLB(c *clusterv3.Cluster) (lb.Policy, lb.Config, error) {
	p := newProblems("cluster", c.GetName())
	s := parseLB(p, c)
	if err := joinProblems([]*problems{p}); err != nil {
		return 0, lb.Config{}, err
	}
	return s.policy, s.config(), nil
}

// TrafficEndpoints returns the endpoints of an assignment that take
// traffic (health status unknown, healthy or degraded), in the order the
// dataplane gives them to its balancer; an error names the field it
// refuses.
func TrafficEndpoints(cla *endpointv3.ClusterLoadAssignment) ([]lb.Endpoint, error) {
	p := newProblems("endpoints", cla.GetClusterName())
	set := parseAssignment(p, "", cla)
	if err := joinProblems([]*problems{p}); err != nil {
		return nil, err
	}
	out := make([]lb.Endpoint, len(set.endpoints))
	for i, ep := range set.endpoints {
		out[i] = lb.Endpoint{Address: ep.address, Weight: ep.weight}
	}
	return out, nil
}
