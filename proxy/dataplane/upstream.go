package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/weftmesh/weft/proxy/lb"
)

// dialOriginalDst connects to dst, the connection's original destination,
// for an ORIGINAL_DST cluster: in plaintext, or over mTLS when the cluster
// has a transport socket, returning the server's verified SPIFFE ID.
func (d *Dataplane) dialOriginalDst(ctx context.Context, listener string, c *clusterConfig, dst netip.AddrPort) (net.Conn, upstreamPick, string, error) {
	pick := upstreamPick{address: dst.String(), done: func() {}}
	up, peer, err := d.dialEndpoint(ctx, listener, c, dst.String())
	if err != nil {
		return nil, pick, "", fmt.Errorf("original destination %s: %w", dst, err)
	}
	return up, pick, peer, nil
}

// upstreamPick is the endpoint a connection went to or, with an error,
// the last one it failed to reach ("" when none was tried), for the
// access log.
type upstreamPick struct {
	address string
	// done ends the connection for the load balancer; call it once, on
	// success only.
	done lb.Done
}

// connectUpstream connects to an endpoint of the cluster chosen by its load
// balancing policy with pc (the connection's hash, if any), moving on to
// an endpoint not yet tried when one fails, at most MaxConnectAttempts
// times. The caller calls the returned pick's done when the connection
// ends.
func (d *Dataplane) connectUpstream(ctx context.Context, listener string, c *clusterConfig, set *endpointSet, pc lb.PickContext) (net.Conn, upstreamPick, string, error) {
	picker, err := set.picker(c.lb)
	if err != nil {
		return nil, upstreamPick{}, "", fmt.Errorf("load balancer: %w", err)
	}
	tried := make(map[string]bool, d.cfg.MaxConnectAttempts)
	var errs []error
	var last string
	for attempt := range min(len(set.endpoints), d.cfg.MaxConnectAttempts) {
		pc.Attempt = uint32(attempt)
		address, done, ok := pickUntried(picker, set, pc, tried)
		if !ok {
			break
		}
		tried[address] = true
		last = address
		conn, peer, err := d.dialEndpoint(ctx, listener, c, address)
		if err == nil {
			return conn, upstreamPick{address: address, done: done}, peer, nil
		}
		done()
		errs = append(errs, fmt.Errorf("endpoint %s: %w", address, err))
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, upstreamPick{}, "", errors.New("no endpoint to try")
	}
	return nil, upstreamPick{address: last}, "", errors.Join(errs...)
}

// pickUntried picks an endpoint not in tried, asking the balancer a few
// times and then taking the first untried endpoint in order, as a retry
// host predicate does in Envoy; false when every endpoint was tried.
func pickUntried(picker lb.Picker, set *endpointSet, pc lb.PickContext, tried map[string]bool) (string, lb.Done, bool) {
	for range 2 * len(set.endpoints) {
		ep, done, ok := picker.Pick(pc)
		if !ok {
			return "", nil, false
		}
		if !tried[ep.Address] {
			return ep.Address, done, true
		}
		done()
	}
	for _, ep := range set.endpoints {
		if !tried[ep.address] {
			return ep.address, func() {}, true
		}
	}
	return "", nil, false
}

// dialEndpoint connects to one endpoint within the cluster's connect
// timeout, with mTLS when the cluster asks for it, and returns the
// server's verified SPIFFE ID (empty for plaintext).
func (d *Dataplane) dialEndpoint(ctx context.Context, listener string, c *clusterConfig, address string) (net.Conn, string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.connectTimeout)
	defer cancel()
	raw, err := d.self.dial(ctx, address, d.cfg.Dial)
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
