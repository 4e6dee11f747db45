package dataplane

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/weftmesh/weft/proxy/httpproxy"
	"github.com/weftmesh/weft/proxy/tcpproxy"
)

// serveConn proxies one accepted connection under the listener
// configuration admit chose, and closes it. dst is the connection's
// destination: its original destination on capture listeners, else its
// local address; chains are chosen by its port and address, and ORIGINAL_DST
// clusters dial it.
func (d *Dataplane) serveConn(ctx context.Context, cfg *listenerConfig, down net.Conn, dst netip.AddrPort) {
	start := time.Now()
	m := d.metrics
	active := m.active.WithLabelValues(cfg.name)
	active.Inc()
	defer active.Dec()
	defer down.Close()
	if cfg.proxyProtocol {
		var ok bool
		if down, ok = d.readProxyHeader(cfg, down); !ok {
			return
		}
	}
	log := d.log.With("listener", cfg.name, "remote", down.RemoteAddr().String())

	// The listener filters share one budget on plaintext; the HTTP
	// inspector gets a new one after a TLS handshake.
	chains := cfg.destChains(dst)
	budget := inspectBudget(chains, d.cfg.HandshakeTimeout)
	if cfg.serverNames {
		budget = d.cfg.HandshakeTimeout // TLS clients speak first
	}
	deadline := time.Now().Add(budget)
	transport, sni := "", ""
	if cfg.serverNames {
		var result string
		transport, result, sni, down = inspectClientHello(ctx, down, deadline)
		m.tlsDetections.WithLabelValues(cfg.name, result).Inc()
		log.Debug("transport detected", "result", result, "sni", sni)
	} else if cfg.tlsInspect && (!cfg.destPorts || slices.ContainsFunc(chains, func(c *chainConfig) bool { return c.transport != "" })) {
		var result string
		transport, result, down = inspectTLS(down, deadline)
		m.tlsDetections.WithLabelValues(cfg.name, result).Inc()
		log.Debug("transport detected", "result", result)
	}
	group := groupOf(serverNameChains(chains, sni), transport)

	var peer string
	if len(group) > 0 && group[0].tls != nil {
		tc := tls.Server(down, group[0].tls)
		hctx, cancel := context.WithTimeout(ctx, d.cfg.HandshakeTimeout)
		var id string
		var err error
		if edgeHandshake(group[0].tls) {
			err = tc.HandshakeContext(hctx) // a gateway's client: no certificate
		} else {
			id, err = handshake(hctx, tc)
		}
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
		deadline = time.Now().Add(sniffBudget)
	}

	protocol := ""
	if cfg.inspect && (!cfg.destPorts || slices.ContainsFunc(group, func(c *chainConfig) bool { return len(c.protocols) > 0 })) {
		var result string
		protocol, result, down = sniff(down, deadline)
		m.detections.WithLabelValues(cfg.name, result).Inc()
		log.Debug("protocol detected", "result", result)
	}
	chain := chooseChain(group, protocol)
	if chain == nil {
		m.connections.WithLabelValues(cfg.name, cfg.direction, peer, resultNoFilterChain).Inc()
		log.Info("connection refused", "reason", resultNoFilterChain, "peer_id", peer)
		return
	}
	if chain.http != nil {
		m.connections.WithLabelValues(cfg.name, cfg.direction, peer, resultOK).Inc()
		d.http.ServeConn(ctx, chain.http, down, peer)
		return
	}
	d.proxyTCP(ctx, cfg, chain, down, peer, dst, start)
}

// proxyTCP joins down, accepted at start, to an endpoint of chain's
// cluster, and writes the chain's access log line when the connection
// ends.
func (d *Dataplane) proxyTCP(ctx context.Context, cfg *listenerConfig, chain *chainConfig, down net.Conn, peer string, dst netip.AddrPort, start time.Time) {
	m := d.metrics
	chain = chain.pickCluster()
	al := newConnLog(chain.accessLog, start, peer)
	defer al.write()
	authz := d.authorizeConn(cfg, chain, down, peer)
	al.authz(authz)
	if !authz.Allowed {
		return
	}
	al.upstream(chain.cluster, "")
	log := d.log.With("listener", cfg.name, "remote", down.RemoteAddr().String())
	cluster, set, refused := d.route(chain.cluster)
	if refused != "" {
		al.refused(refusedFlags[refused])
		m.connections.WithLabelValues(cfg.name, cfg.direction, peer, refused).Inc()
		log.Info("connection refused", "reason", refused, "cluster", chain.cluster, "peer_id", peer)
		return
	}
	var (
		up           net.Conn
		ep           upstreamPick
		upstreamPeer string
		err          error
	)
	if cluster.originalDst {
		// Capture listeners checked their destination on accept (admit);
		// elsewhere it is the local address, one of the proxy's own.
		if !cfg.captures() && d.ownAddress(dst, dst) {
			al.upstream(chain.cluster, dst.String())
			al.refused(httpproxy.FlagUpstreamFailure) // never dialled: it would loop
			m.connections.WithLabelValues(cfg.name, cfg.direction, peer, resultLoop).Inc()
			log.Info("connection refused", "reason", resultLoop, "cluster", chain.cluster, "original_dst", dst.String())
			return
		}
		up, ep, upstreamPeer, err = d.dialOriginalDst(ctx, cfg.name, cluster, dst)
	} else {
		up, ep, upstreamPeer, err = d.connectUpstream(ctx, cfg.name, cluster, set, connPickContext(chain.hashSourceIP, down.RemoteAddr()))
	}
	al.upstream(chain.cluster, ep.address)
	if err != nil {
		al.refused(httpproxy.FlagUpstreamFailure)
		m.connections.WithLabelValues(cfg.name, cfg.direction, peer, resultUpstreamConnectFailed).Inc()
		log.Info("connection refused", "reason", resultUpstreamConnectFailed, "cluster", chain.cluster, "peer_id", peer, "error", err)
		return
	}
	defer ep.done()
	if cfg.direction != directionInbound {
		peer = upstreamPeer
	}
	m.connections.WithLabelValues(cfg.name, cfg.direction, peer, resultOK).Inc()
	log.Debug("connection proxied", "cluster", chain.cluster, "endpoint", ep.address, "peer_id", peer)

	tc := m.mesh.OpenConn(d.tcpLabels(cfg.direction, chain.cluster, peer))
	defer tc.Close()
	res, err := tcpproxy.Join(ctx, down, up, tcpproxy.Options{
		IdleTimeout:  chain.idleTimeout,
		ToUpstream:   counters{m.bytes.WithLabelValues(cfg.name, "to_upstream"), tc.Received},
		ToDownstream: counters{m.bytes.WithLabelValues(cfg.name, "to_downstream"), tc.Sent},
	})
	al.joined(res)
	log.Debug("connection closed", "to_upstream", res.ToUpstream, "to_downstream", res.ToDownstream, "error", err)
}
