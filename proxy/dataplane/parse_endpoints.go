package dataplane

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"
)

// endpoint is one upstream address.
type endpoint struct {
	address string // ip:port
	// weight is the endpoint's load_balancing_weight, at least 1.
	weight uint32
}

// endpointSet is the healthy endpoints of one cluster. It is replaced
// whole when the cluster's assignment changes.
type endpointSet struct {
	endpoints []*endpoint
	pickers   pickers
}

// parseAssignments validates a complete set of ClusterLoadAssignments.
func parseAssignments(cs []*endpointv3.ClusterLoadAssignment) (map[string]*endpointSet, error) {
	var all []*problems
	out := make(map[string]*endpointSet, len(cs))
	names := make([]string, 0, len(cs))
	for _, c := range cs {
		if c.GetClusterName() == "" {
			p := newProblems("endpoints", "")
			p.Addf("cluster_name", "missing")
			all = append(all, p)
			continue
		}
		names = append(names, c.GetClusterName())
		p := newProblems("endpoints", c.GetClusterName())
		set := parseAssignment(p, "", c)
		all = append(all, p)
		out[c.GetClusterName()] = set
	}
	all = append(all, duplicates("endpoints", names)...)
	if err := joinProblems(all); err != nil {
		return nil, err
	}
	return out, nil
}

// parseAssignment checks one ClusterLoadAssignment and returns the
// endpoints that may take traffic.
func parseAssignment(p *problems, path string, c *endpointv3.ClusterLoadAssignment) *endpointSet {
	p.OnlyFields(path, c, "cluster_name", "endpoints")
	set := &endpointSet{}
	for i, loc := range c.GetEndpoints() {
		lpath := index(field(path, "endpoints"), i)
		p.OnlyFields(lpath, loc, "locality", "lb_endpoints", "metadata")
		for j, lbe := range loc.GetLbEndpoints() {
			epath := index(field(lpath, "lb_endpoints"), j)
			p.OnlyFields(epath, lbe, "endpoint", "health_status", "metadata", "load_balancing_weight")
			weight := uint32(1)
			if w := lbe.GetLoadBalancingWeight(); w != nil {
				if w.GetValue() == 0 {
					p.Addf(field(epath, "load_balancing_weight"), "must be at least 1")
				}
				weight = max(w.GetValue(), 1)
			}
			ep := lbe.GetEndpoint()
			if ep == nil {
				if lbe.GetEndpointName() == "" {
					p.Addf(field(epath, "endpoint"), "missing")
				}
				continue
			}
			p.OnlyFields(field(epath, "endpoint"), ep, "address", "hostname")
			addr, ok := parseSocketAddress(p, field(epath, "endpoint.address"), ep.GetAddress(), false)
			if ok && takesTraffic(lbe.GetHealthStatus()) {
				set.endpoints = append(set.endpoints, &endpoint{address: addr, weight: weight})
			}
		}
	}
	return set
}

// takesTraffic reports whether an endpoint in this health state gets new
// connections, as in Envoy.
func takesTraffic(h corev3.HealthStatus) bool {
	switch h {
	case corev3.HealthStatus_UNKNOWN, corev3.HealthStatus_HEALTHY, corev3.HealthStatus_DEGRADED:
		return true
	}
	return false
}

func cloneAssignments(cs []*endpointv3.ClusterLoadAssignment) []*endpointv3.ClusterLoadAssignment {
	out := make([]*endpointv3.ClusterLoadAssignment, len(cs))
	for i, c := range cs {
		out[i] = proto.Clone(c).(*endpointv3.ClusterLoadAssignment)
	}
	return out
}
