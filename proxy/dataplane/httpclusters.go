package dataplane

import (
	"context"
	"net"

	"github.com/weftmesh/weft/proxy/httpproxy"
	"github.com/weftmesh/weft/proxy/lb"
)

// httpClusters gives the HTTP proxy the dataplane's clusters and
// endpoints.
type httpClusters struct{ d *Dataplane }

// upstreamKey identifies the connection pool of one endpoint of one
// cluster configuration used by one listener (whose name labels upstream
// handshake errors).
type upstreamKey struct {
	cluster  *clusterConfig
	listener string
	address  string
}

// Pick chooses the endpoint of one request with the cluster's load
// balancing policy, by package lb.
func (h httpClusters) Pick(listener, cluster string) (httpproxy.Target, string) {
	d := h.d
	c, set, refused := d.route(cluster)
	switch refused {
	case resultNoCluster:
		return httpproxy.Target{}, httpproxy.FlagNoCluster
	case resultNoEndpoints:
		return httpproxy.Target{}, httpproxy.FlagNoHealthy
	}
	picker, err := set.requestPicker(c.lbPolicy)
	if err != nil {
		d.log.Warn("load balancer unavailable", "cluster", cluster, "error", err)
		return httpproxy.Target{}, httpproxy.FlagNoHealthy
	}
	picked, done, ok := picker.Pick(lb.PickContext{})
	if !ok {
		return httpproxy.Target{}, httpproxy.FlagNoHealthy
	}
	return httpproxy.Target{
		Key:     upstreamKey{cluster: c, listener: listener, address: picked.Address},
		Address: picked.Address,
		HTTP2:   c.http2,
		Dial: func(ctx context.Context, address string) (net.Conn, string, error) {
			return d.dialEndpoint(ctx, listener, c, address)
		},
		Release: done,
	}, ""
}

// retainUpstreams drops the HTTP connection pools of cluster
// configurations and endpoints no longer applied. Called with d.mu held,
// after a change of clusters or endpoints.
func (d *Dataplane) retainUpstreams() {
	d.http.Retain(func(key any) bool {
		k, ok := key.(upstreamKey)
		if !ok {
			return false
		}
		c, set, refused := d.route(k.cluster.name)
		if refused != "" || c != k.cluster {
			return false
		}
		for _, ep := range set.endpoints {
			if ep.address == k.address {
				return true
			}
		}
		return false
	})
}
