package dataplane

import (
	"fmt"
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/weftmesh/weft/proxy/lb"
)

// requestPickers are the per-request load balancers of an endpoint set,
// built on first use, one per policy (clusters sharing an EDS service name
// may differ in policy).
type requestPickers struct {
	mu       sync.Mutex
	byPolicy map[clusterv3.Cluster_LbPolicy]lb.Picker
}

// requestPicker returns the lb.Picker HTTP requests of a cluster with
// policy use on this set.
func (s *endpointSet) requestPicker(policy clusterv3.Cluster_LbPolicy) (lb.Picker, error) {
	s.pickers.mu.Lock()
	defer s.pickers.mu.Unlock()
	if p, ok := s.pickers.byPolicy[policy]; ok {
		return p, nil
	}
	var lp lb.Policy
	switch policy {
	case clusterv3.Cluster_ROUND_ROBIN:
		lp = lb.RoundRobin
	case clusterv3.Cluster_RANDOM:
		lp = lb.Random
	case clusterv3.Cluster_LEAST_REQUEST:
		lp = lb.LeastRequest
	default:
		return nil, fmt.Errorf("unsupported policy %s", policy)
	}
	eps := make([]lb.Endpoint, len(s.endpoints))
	for i, ep := range s.endpoints {
		eps[i] = lb.Endpoint{Address: ep.address}
	}
	p, err := lb.New(lp, eps, lb.Config{})
	if err != nil {
		return nil, err
	}
	if s.pickers.byPolicy == nil {
		s.pickers.byPolicy = make(map[clusterv3.Cluster_LbPolicy]lb.Picker)
	}
	s.pickers.byPolicy[policy] = p
	return p, nil
}
