package dataplane

import (
	"math/rand/v2"

	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
)

// weightedCluster is one of tcp_proxy's weighted_clusters.
type weightedCluster struct {
	name   string
	weight uint32
}

// parseTCPWeighted checks tcp_proxy.weighted_clusters: clusters with a
// name and a weight, at least one weight above zero.
func parseTCPWeighted(p *problems, path string, wc *tcpproxyv3.TcpProxy_WeightedCluster, cluster string) []weightedCluster {
	if wc == nil {
		return nil
	}
	if cluster != "" {
		p.Addf(path, "cannot be set with cluster")
	}
	p.OnlyFields(path, wc, "clusters")
	var out []weightedCluster
	var total uint64
	for i, c := range wc.GetClusters() {
		cpath := index(field(path, "clusters"), i)
		p.OnlyFields(cpath, c, "name", "weight")
		if c.GetName() == "" {
			p.Addf(field(cpath, "name"), "missing")
		}
		total += uint64(c.GetWeight())
		out = append(out, weightedCluster{name: c.GetName(), weight: c.GetWeight()})
	}
	if total == 0 {
		p.Addf(field(path, "clusters"), "want at least one cluster with a weight above zero")
	}
	return out
}

// pickCluster returns the chain with the cluster of this connection: its
// cluster, or one of its weighted clusters picked at random by weight.
func (c *chainConfig) pickCluster() *chainConfig {
	if len(c.weighted) == 0 {
		return c
	}
	var total uint64
	for _, w := range c.weighted {
		total += uint64(w.weight)
	}
	n := rand.Uint64N(total) //nolint:gosec // load balancing, not security
	picked := *c
	for _, w := range c.weighted {
		if n < uint64(w.weight) {
			picked.cluster = w.name
			break
		}
		n -= uint64(w.weight)
	}
	return &picked
}
