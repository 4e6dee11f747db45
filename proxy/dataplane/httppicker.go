package dataplane

import (
	"sync"

	"github.com/weftmesh/weft/proxy/lb"
)

// pickers are the load balancers of an endpoint set, built on first use,
// one per distinct load balancing setting (clusters sharing an EDS service
// name may differ in policy). A new endpoint set starts without any, so a
// change of endpoints rebuilds them; a changed cluster setting builds its
// own.
type pickers struct {
	mu      sync.Mutex
	bySetup map[lbSettings]lb.Picker
}

// picker returns the lb.Picker of the cluster setting s on this set, for
// both HTTP requests and TCP connections.
func (s *endpointSet) picker(setting lbSettings) (lb.Picker, error) {
	s.pickers.mu.Lock()
	defer s.pickers.mu.Unlock()
	if p, ok := s.pickers.bySetup[setting]; ok {
		return p, nil
	}
	eps := make([]lb.Endpoint, len(s.endpoints))
	for i, ep := range s.endpoints {
		eps[i] = lb.Endpoint{Address: ep.address, Weight: ep.weight}
	}
	p, err := lb.New(setting.policy, eps, setting.config())
	if err != nil {
		return nil, err
	}
	if s.pickers.bySetup == nil {
		s.pickers.bySetup = make(map[lbSettings]lb.Picker)
	}
	s.pickers.bySetup[setting] = p
	return p, nil
}
