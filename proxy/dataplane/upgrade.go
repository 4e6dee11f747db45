package dataplane

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
)

// dialEndpointHTTP1 is dialEndpoint offering only "http/1.1" in ALPN: the
// connection of an Upgrade request (WebSocket...) to a cluster whose ALPN
// says h2. The peer's inbound listener, which accepts both, then serves
// it with its HTTP/1 loop and upgrades it in turn (httpproxy, upgrade.go).
func (d *Dataplane) dialEndpointHTTP1(ctx context.Context, listener string, c *clusterConfig, address string) (net.Conn, string, error) {
	if c.tls == nil {
		return d.dialEndpoint(ctx, listener, c, address)
	}
	cfg := c.tls.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	ctx, cancel := context.WithTimeout(ctx, c.connectTimeout)
	defer cancel()
	raw, err := d.cfg.Dial(ctx, "tcp", address)
	if err != nil {
		return nil, "", err
	}
	tc := tls.Client(raw, cfg)
	peer, err := handshake(ctx, tc)
	if err != nil {
		_ = raw.Close()
		d.metrics.handshakeErrors.WithLabelValues(listener, "upstream_"+handshakeReason(err)).Inc()
		return nil, "", fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, peer, nil
}
