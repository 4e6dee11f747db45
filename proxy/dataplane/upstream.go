package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
)

// connectUpstream connects to an endpoint of the cluster chosen by its load
// balancing policy, moving on to the next endpoint when one fails, at most
// MaxConnectAttempts times. The returned endpoint's active count includes
// the new connection; the caller decrements it when done.
func (d *Dataplane) connectUpstream(ctx context.Context, listener string, c *clusterConfig, set *endpointSet) (net.Conn, *endpoint, string, error) {
	n := len(set.endpoints)
	first := set.pick(c.lbPolicy)
	var errs []error
	for i := range min(n, d.cfg.MaxConnectAttempts) {
		ep := set.endpoints[(first+i)%n]
		conn, peer, err := d.dialEndpoint(ctx, listener, c, ep.address)
		if err == nil {
			ep.active.Add(1)
			return conn, ep, peer, nil
		}
		errs = append(errs, fmt.Errorf("endpoint %s: %w", ep.address, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, nil, "", errors.Join(errs...)
}

// dialEndpoint connects to one endpoint within the cluster's connect
// timeout, with mTLS when the cluster asks for it, and returns the
// server's verified SPIFFE ID (empty for plaintext).
func (d *Dataplane) dialEndpoint(ctx context.Context, listener string, c *clusterConfig, address string) (net.Conn, string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.connectTimeout)
	defer cancel()
	raw, err := d.cfg.Dial(ctx, "tcp", address)
	if err != nil {
		return nil, "", err
	}
	if c.tls == nil {
		return raw, "", nil
	}
	tc := tls.Client(raw, c.tls)
	peer, err := handshake(ctx, tc)
	if err != nil {
		_ = raw.Close()
		d.metrics.handshakeErrors.WithLabelValues(listener, "upstream_"+handshakeReason(err)).Inc()
		return nil, "", fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, peer, nil
}

// pick returns the index of the first endpoint to try.
func (s *endpointSet) pick(policy clusterv3.Cluster_LbPolicy) int {
	n := len(s.endpoints)
	switch policy {
	case clusterv3.Cluster_RANDOM:
		return rand.IntN(n) //nolint:gosec // load balancing needs no secrecy
	case clusterv3.Cluster_LEAST_REQUEST:
		// Power of two choices, as Envoy's default.
		a, b := rand.IntN(n), rand.IntN(n) //nolint:gosec // load balancing needs no secrecy
		if s.endpoints[b].active.Load() < s.endpoints[a].active.Load() {
			return b
		}
		return a
	default:
		return int((s.next.Add(1) - 1) % uint64(n)) //nolint:gosec // less than n
	}
}
