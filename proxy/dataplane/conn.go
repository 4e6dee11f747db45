package dataplane

import (
	"context"
	"crypto/tls"
	"net"

	"github.com/weftmesh/weft/proxy/tcpproxy"
)

// serveConn proxies one accepted connection under the listener
// configuration it was accepted with, and closes it.
func (d *Dataplane) serveConn(ctx context.Context, cfg *listenerConfig, down net.Conn) {
	m := d.metrics
	active := m.active.WithLabelValues(cfg.name)
	active.Inc()
	defer active.Dec()
	defer down.Close()
	log := d.log.With("listener", cfg.name, "remote", down.RemoteAddr().String())

	var peer string
	if cfg.tls != nil {
		tc := tls.Server(down, cfg.tls)
		hctx, cancel := context.WithTimeout(ctx, d.cfg.HandshakeTimeout)
		id, err := handshake(hctx, tc)
		cancel()
		if err != nil {
			reason := handshakeReason(err)
			m.handshakeErrors.WithLabelValues(cfg.name, reason).Inc()
			m.connections.WithLabelValues(cfg.name, cfg.direction, "", resultTLSHandshakeFailed).Inc()
			log.Info("connection refused", "reason", reason, "error", err)
			return
		}
		down, peer = tc, id
		defer tc.Close()
	}

	if cfg.http != nil {
		m.connections.WithLabelValues(cfg.name, cfg.direction, peer, resultOK).Inc()
		d.http.ServeConn(ctx, cfg.http, down, peer)
		return
	}

	cluster, set, refused := d.route(cfg.cluster)
	if refused != "" {
		m.connections.WithLabelValues(cfg.name, cfg.direction, peer, refused).Inc()
		log.Info("connection refused", "reason", refused, "cluster", cfg.cluster, "peer_id", peer)
		return
	}
	up, ep, upstreamPeer, err := d.connectUpstream(ctx, cfg.name, cluster, set)
	if err != nil {
		m.connections.WithLabelValues(cfg.name, cfg.direction, peer, resultUpstreamConnectFailed).Inc()
		log.Info("connection refused", "reason", resultUpstreamConnectFailed, "cluster", cfg.cluster, "peer_id", peer, "error", err)
		return
	}
	defer ep.active.Add(-1)
	if cfg.tls == nil {
		peer = upstreamPeer
	}
	m.connections.WithLabelValues(cfg.name, cfg.direction, peer, resultOK).Inc()
	log.Debug("connection proxied", "cluster", cfg.cluster, "endpoint", ep.address, "peer_id", peer)

	res, err := tcpproxy.Join(ctx, down, up, tcpproxy.Options{
		IdleTimeout:  cfg.idleTimeout,
		ToUpstream:   m.bytes.WithLabelValues(cfg.name, "to_upstream"),
		ToDownstream: m.bytes.WithLabelValues(cfg.name, "to_downstream"),
	})
	log.Debug("connection closed", "to_upstream", res.ToUpstream, "to_downstream", res.ToDownstream, "error", err)
}
