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

// Pick chooses the endpoint of one request without a hash.
func (h httpClusters) Pick(listener, cluster string) (httpproxy.Target, string) {
	return h.PickHashed(listener, cluster, lb.PickContext{})
}

// PickHashed chooses the endpoint of one request with the cluster's load
// balancing policy, by package lb, given the request's hash and attempt.
func (h httpClusters) PickHashed(listener, cluster string, pc lb.PickContext) (httpproxy.Target, string) {
	d := h.d
	c, set, refused := d.route(cluster)
	switch refused {
	case resultNoCluster:
		return httpproxy.Target{}, httpproxy.FlagNoCluster
	case resultNoEndpoints:
		return httpproxy.Target{}, httpproxy.FlagNoHealthy
	}
	if c.originalDst {
		// Refused at validation (passthrough.go); never reached.
		return httpproxy.Target{}, httpproxy.FlagNoHealthy
	}
	picker, err := set.picker(c.lb)
	if err != nil {
		d.log.Warn("load balancer unavailable", "cluster", cluster, "error", err)
		return httpproxy.Target{}, httpproxy.FlagNoHealthy
	}
	picked, done, ok := pickHealthy(picker, set, c.outlier, pc)
	if !ok {
		return httpproxy.Target{}, httpproxy.FlagNoHealthy
	}
	t := httpproxy.Target{
		Key:     upstreamKey{cluster: c, listener: listener, address: picked},
		Address: picked,
		HTTP2:   c.http2,
		MTLS:    c.tls != nil,
		Dial: func(ctx context.Context, address string) (net.Conn, string, error) {
			return d.dialEndpoint(ctx, listener, c, address)
		},
		DialHTTP1: func(ctx context.Context, address string) (net.Conn, string, error) {
			return d.dialEndpointHTTP1(ctx, listener, c, address)
		},
		Release: done,
		Breaker: c.breaker,
	}
	if o := c.outlier; o != nil {
		hosts := len(set.endpoints)
		t.Observe = func(status int) { o.Observe(picked, status, hosts) }
	}
	return t, ""
}

// pickHealthy picks an endpoint that outlier detection has not ejected;
// false when every endpoint is ejected.
func pickHealthy(picker lb.Picker, set *endpointSet, o *httpproxy.Outlier, pc lb.PickContext) (string, lb.Done, bool) {
	n := len(set.endpoints)
	for range 2 * n {
		picked, done, ok := picker.Pick(pc)
		if !ok {
			return "", nil, false
		}
		if !o.Ejected(picked.Address) {
			return picked.Address, done, true
		}
		done()
	}
	// The balancer keeps landing on ejected endpoints: take the first
	// one that is not.
	for _, ep := range set.endpoints {
		if !o.Ejected(ep.address) {
			return ep.address, func() {}, true
		}
	}
	return "", nil, false
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
