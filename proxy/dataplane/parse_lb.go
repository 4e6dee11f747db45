package dataplane

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/weftmesh/weft/proxy/lb"
)

// lbSettings is a cluster's validated load balancing: its policy and the
// policy's tuning. It is comparable, so that endpoint sets can cache one
// Picker per distinct setting.
type lbSettings struct {
	policy          lb.Policy
	minRingSize     uint64
	maxRingSize     uint64
	maglevTableSize uint64
	choiceCount     uint32
	// activeRequestBias is Envoy's default 1.0 when unset.
	activeRequestBias float64
}

// config returns the lb.Config of s.
func (s lbSettings) config() lb.Config {
	bias := s.activeRequestBias
	return lb.Config{
		MinRingSize:       s.minRingSize,
		MaxRingSize:       s.maxRingSize,
		MaglevTableSize:   s.maglevTableSize,
		ChoiceCount:       s.choiceCount,
		ActiveRequestBias: &bias,
	}
}

// parseLB validates a cluster's lb_policy and its policy's config
// (ring_hash_lb_config, maglev_lb_config, least_request_lb_config).
func parseLB(p *problems, c *clusterv3.Cluster) lbSettings {
	s := lbSettings{activeRequestBias: lb.DefaultActiveReqBias}
	switch c.GetLbPolicy() {
	case clusterv3.Cluster_ROUND_ROBIN:
		s.policy = lb.RoundRobin
	case clusterv3.Cluster_LEAST_REQUEST:
		s.policy = lb.LeastRequest
	case clusterv3.Cluster_RANDOM:
		s.policy = lb.Random
	case clusterv3.Cluster_RING_HASH:
		s.policy = lb.RingHash
	case clusterv3.Cluster_MAGLEV:
		s.policy = lb.Maglev
	default:
		p.Addf("lb_policy", "unsupported policy %s", c.GetLbPolicy())
		return s
	}
	if rh := c.GetRingHashLbConfig(); rh != nil {
		const path = "ring_hash_lb_config"
		p.OnlyFields(path, rh, "minimum_ring_size", "maximum_ring_size", "hash_function")
		if rh.GetHashFunction() != clusterv3.Cluster_RingHashLbConfig_XX_HASH {
			p.Addf(field(path, "hash_function"), "unsupported hash function %s", rh.GetHashFunction())
		}
		s.minRingSize = rh.GetMinimumRingSize().GetValue()
		s.maxRingSize = rh.GetMaximumRingSize().GetValue()
		checkLB(p, path, s)
	}
	if mg := c.GetMaglevLbConfig(); mg != nil {
		const path = "maglev_lb_config"
		p.OnlyFields(path, mg, "table_size")
		s.maglevTableSize = mg.GetTableSize().GetValue()
		checkLB(p, field(path, "table_size"), s)
	}
	if lr := c.GetLeastRequestLbConfig(); lr != nil {
		const path = "least_request_lb_config"
		p.OnlyFields(path, lr, "choice_count", "active_request_bias")
		s.choiceCount = lr.GetChoiceCount().GetValue()
		if b := lr.GetActiveRequestBias(); b != nil {
			if b.GetRuntimeKey() != "" {
				p.Addf(field(path, "active_request_bias.runtime_key"), "runtime keys are not supported")
			}
			s.activeRequestBias = b.GetDefaultValue()
		}
		checkLB(p, path, s)
	}
	return s
}

// checkLB reports an out-of-range setting at path.
func checkLB(p *problems, path string, s lbSettings) {
	if err := s.config().Validate(); err != nil {
		p.Addf(path, "%v", err)
	}
}
