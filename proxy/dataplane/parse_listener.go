package dataplane

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/proto"

	"github.com/weftmesh/weft/proxy/accesslog"
	"github.com/weftmesh/weft/proxy/httpproxy"
	"github.com/weftmesh/weft/proxy/rbac"
)

// defaultIdleTimeout is tcp_proxy's idle_timeout when unset, as in Envoy.
const defaultIdleTimeout = time.Hour

// listenerConfig is a validated listener, ready to serve.
type listenerConfig struct {
	name    string
	address string // ip:port
	// addresses are address and the additional_addresses: a bound
	// listener binds each, a virtual one is reached through each.
	addresses []string
	// virtual is set by bind_to_port false: the listener binds nothing
	// and serves the connections a use_original_dst listener hands it.
	virtual bool
	// useOriginalDst hands each connection to the virtual listener of its
	// original destination (virtualOutbound).
	useOriginalDst bool
	// restoreDst is set by the original_dst listener filter: chains are
	// matched on the original destination (virtualInbound).
	restoreDst bool
	// destPorts is set when a chain has filter_chain_match.destination_port.
	destPorts bool
	// direction is "inbound" or "outbound" (listenerDirection).
	direction string
	// tlsInspect is set when the listener runs the TLS inspector: chains
	// are then chosen first by transport protocol, TLS or plaintext.
	tlsInspect bool
	// inspect is set when the listener runs the HTTP inspector: chains
	// are then chosen by the protocol sniffed from the first bytes (after
	// TLS, if any).
	inspect bool
	// chains are the filter chains, in the order received.
	chains []*chainConfig
	// index finds the chains of a connection's destination (prefixes.go).
	index chainIndex
	// serverNames is set when a chain has filter_chain_match.server_names:
	// the TLS inspector then reads the whole ClientHello (servernames.go).
	serverNames bool
	// proxyProtocol is set by the proxy_protocol listener filter: each
	// connection starts with a PROXY protocol header (proxyprotocol.go).
	proxyProtocol bool
	// conns is the parent context of the connections accepted under this
	// configuration; closeConns ends them once it is retired and drained.
	conns      context.Context
	closeConns context.CancelFunc
}

// chainConfig is one filter chain: an HTTP connection manager (http) or
// a TCP proxy (cluster, idleTimeout).
type chainConfig struct {
	// destPort is filter_chain_match.destination_port, 0 for any.
	destPort uint16
	// transport is filter_chain_match.transport_protocol: "tls",
	// "raw_buffer", or "" for any.
	transport string
	// tls is the chain's server TLS configuration, nil for plaintext.
	// Chains of the same transport protocol have the same: TLS ends
	// before the HTTP inspector runs.
	tls *tls.Config
	// protocols is filter_chain_match.application_protocols; empty for
	// the default chain.
	protocols []string
	// http is set for chains whose filter is an HTTP connection manager;
	// cluster and idleTimeout are then unused.
	http    *httpproxy.Listener
	cluster string
	// idleTimeout ends connections idle that long; zero never does.
	idleTimeout time.Duration
	// hashSourceIP hashes connections on their source IP (tcp_proxy's
	// source_ip hash_policy), for RING_HASH and MAGLEV clusters.
	hashSourceIP bool
	// authz holds the network RBAC filters before tcp_proxy, run on each
	// connection before it goes upstream; empty allows all.
	authz *rbac.Chain
	// serverNames is filter_chain_match.server_names (servernames.go).
	serverNames []string
	// prefixes is filter_chain_match.prefix_ranges (prefixes.go).
	prefixes []netip.Prefix
	// weighted is tcp_proxy's weighted_clusters, picked per connection
	// (gateway_tcp.go); cluster is then empty.
	weighted []weightedCluster
	// accessLog is tcp_proxy's access_log, a line per connection
	// (connlog.go); nil logs nothing.
	accessLog *accesslog.Log
}

// group returns the chains a connection of a transport protocol ("tls",
// "raw_buffer", or "" without the TLS inspector) may take. As in Envoy,
// transport_protocol is matched before application_protocols, the most
// specific match wins, and there is no backtracking: the chains that name
// the transport protocol, else those that name none.
func (lc *listenerConfig) group(transport string) []*chainConfig {
	return groupOf(lc.chains, transport)
}

// groupOf is group among chains (those of one destination port).
func groupOf(chains []*chainConfig, transport string) []*chainConfig {
	for _, want := range []string{transport, ""} {
		var out []*chainConfig
		for _, c := range chains {
			if c.transport == want {
				out = append(out, c)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

// chooseChain returns the chain of group for a sniffed application
// protocol ("http/1.0", "http/1.1", "h2c", or "" for anything else): the
// first chain that lists it, else the default chain; nil when none fits,
// as Envoy closes such connections.
func chooseChain(group []*chainConfig, protocol string) *chainConfig {
	var def *chainConfig
	for _, c := range group {
		if len(c.protocols) == 0 {
			def = c
		} else if protocol != "" && slices.Contains(c.protocols, protocol) {
			return c
		}
	}
	return def
}

// parseListeners validates a complete set of listeners.
func (d *Dataplane) parseListeners(ls []*listenerv3.Listener) ([]*listenerConfig, error) {
	var all []*problems
	var out []*listenerConfig
	names := make([]string, 0, len(ls))
	addresses := make(map[string]string) // see checkAddresses
	for _, l := range ls {
		if l.GetName() == "" {
			all = append(all, missingName("listener"))
			continue
		}
		names = append(names, l.GetName())
		p := newProblems("listener", l.GetName())
		lc := d.parseListener(p, l)
		if lc != nil {
			checkAddresses(p, lc, addresses)
		}
		all = append(all, p)
		if p.OK() {
			out = append(out, lc)
		}
	}
	all = append(all, duplicates("listener", names)...)
	if err := joinProblems(all); err != nil {
		return nil, err
	}
	return out, nil
}

func (d *Dataplane) parseListener(p *problems, l *listenerv3.Listener) *listenerConfig {
	p.OnlyFields("", l, "name", "address", "filter_chains", "stat_prefix", "traffic_direction", "listener_filters",
		"use_original_dst", "bind_to_port", "additional_addresses")
	lc := &listenerConfig{name: l.GetName(), direction: listenerDirection(p, l)}
	virtual := l.GetBindToPort() != nil && !l.GetBindToPort().GetValue()
	lc.address, _ = parseSocketAddress(p, "address", l.GetAddress(), !virtual)
	parseCaptureFields(p, l, lc)
	filters := parseListenerFilters(p, l.GetListenerFilters())
	lc.tlsInspect, lc.inspect, lc.restoreDst = filters.tls, filters.http, filters.originalDst
	lc.proxyProtocol = filters.proxyProtocol

	chains := l.GetFilterChains()
	if len(chains) == 0 {
		p.Addf("filter_chains", "want at least one filter chain")
		return lc
	}
	type chainKey struct {
		port      uint32
		prefixes  string
		transport string
		names     string // server_names
	}
	first := make(map[chainKey]int) // destination port and transport protocol → its first chain
	for i, fc := range chains {
		path := fmt.Sprintf("filter_chains[%d]", i)
		m := fc.GetFilterChainMatch()
		key := chainKey{m.GetDestinationPort().GetValue(), rangesKey(m), m.GetTransportProtocol(), strings.Join(m.GetServerNames(), ",")}
		var tc *tls.Config
		if j, seen := first[key]; seen {
			if !proto.Equal(fc.GetTransportSocket(), chains[j].GetTransportSocket()) {
				p.Addf(field(path, "transport_socket"), "must equal filter_chains[%d].transport_socket", j)
			}
			tc = lc.chains[j].tls
		} else {
			first[key] = i
			tc = d.parseChainTLS(p, path, fc, key.transport)
		}
		c := d.parseChain(p, path, fc, lc)
		c.tls = tc
		if c.http != nil && c.http.Edge != nil {
			c.http.Edge.HTTPS = tc != nil // X-Forwarded-Proto
		}
		if c.destPort != 0 {
			lc.destPorts = true
		}
		lc.chains = append(lc.chains, c)
	}
	checkChainGroups(p, lc)
	checkPrefixOverlap(p, lc)
	checkServerNames(p, lc)
	lc.serverNames = lc.hasServerNames()
	lc.index = newChainIndex(lc.chains)
	return lc
}

// listenerDirection tells inbound listeners from outbound ones, for
// metrics and for whose SPIFFE ID is the peer: traffic_direction when set,
// else inbound when a chain terminates TLS (STRICT, PERMISSIVE) or the
// name starts with "inbound|" (a DISABLE inbound listener is plaintext).
func listenerDirection(p *problems, l *listenerv3.Listener) string {
	terminatesTLS := slices.ContainsFunc(l.GetFilterChains(), func(fc *listenerv3.FilterChain) bool {
		return fc.GetTransportSocket() != nil
	})
	switch l.GetTrafficDirection() {
	case corev3.TrafficDirection_INBOUND:
		return directionInbound
	case corev3.TrafficDirection_OUTBOUND:
		if terminatesTLS {
			p.Addf("traffic_direction", "an OUTBOUND listener cannot terminate TLS")
		}
		return directionOutbound
	}
	if terminatesTLS || strings.HasPrefix(l.GetName(), "inbound|") {
		return directionInbound
	}
	return directionOutbound
}

// Directions of listeners.
const (
	directionInbound  = "inbound"
	directionOutbound = "outbound"
)

// parseChainTLS checks the transport socket of the first chain of a
// transport protocol and returns its server TLS configuration, nil for
// plaintext. A tls chain must terminate TLS, a raw_buffer chain must not.
func (d *Dataplane) parseChainTLS(p *problems, path string, fc *listenerv3.FilterChain, transport string) *tls.Config {
	path = field(path, "transport_socket")
	ts := fc.GetTransportSocket()
	switch {
	case ts == nil && transport == transportTLS:
		p.Addf(path, "missing: a chain with transport_protocol %q terminates TLS", transportTLS)
		return nil
	case ts == nil:
		return nil
	case transport == transportRaw:
		p.Addf(path, "must be empty: a chain with transport_protocol %q is plaintext", transportRaw)
		return nil
	}
	if isEdgeTLS(ts) {
		return d.parseEdgeTLS(p, path, ts)
	}
	dt, ok := parseDownstreamTLS(p, path, ts)
	if !ok {
		return nil
	}
	tc, err := d.serverTLS(dt.matchers)
	if err != nil {
		p.Addf(path, "%v", err)
		return nil
	}
	tc.NextProtos = dt.alpn
	return tc
}

// parseChain validates one filter chain of lc.
func (d *Dataplane) parseChain(p *problems, path string, fc *listenerv3.FilterChain, lc *listenerConfig) *chainConfig {
	c := &chainConfig{}
	p.OnlyFields(path, fc, "filters", "transport_socket", "name", "filter_chain_match")
	if m := fc.GetFilterChainMatch(); m != nil {
		mpath := field(path, "filter_chain_match")
		p.OnlyFields(mpath, m, "application_protocols", "transport_protocol", "destination_port", "server_names", "prefix_ranges")
		c.transport = parseTransportProtocol(p, mpath, m, lc)
		c.serverNames = parseServerNames(p, mpath, m, lc)
		c.destPort = parseDestinationPort(p, mpath, m)
		c.prefixes = parsePrefixRanges(p, mpath, m)
		if !lc.inspect && (len(m.GetApplicationProtocols()) > 0 || c.transport == "" && !lc.tlsInspect && m.GetDestinationPort() == nil) {
			p.Addf(mpath, "needs the HTTP inspector listener filter")
		}
		for j, ap := range m.GetApplicationProtocols() {
			if !slices.Contains(sniffedProtocols, ap) {
				p.Addf(fmt.Sprintf("%s.application_protocols[%d]", mpath, j), "unsupported protocol %q, want one of %q", ap, sniffedProtocols)
			}
		}
		c.protocols = m.GetApplicationProtocols()
	}

	filters := fc.GetFilters()
	authz, n := parseNetworkRBACFilters(p, path, filters)
	if len(filters)-n != 1 {
		p.Addf(field(path, "filters"), "want exactly one network filter, got %d", len(filters)-n)
		return c
	}
	path = index(field(path, "filters"), n)
	p.OnlyFields(path, filters[n], "name", "typed_config")
	if filters[n].GetTypedConfig().GetTypeUrl() == hcmTypeURL {
		if n > 0 {
			p.Addf(path, "%s filters are supported before tcp_proxy only; HTTP chains take %s in http_filters", rbac.NetworkFilterName, rbac.HTTPFilterName)
		}
		c.http = d.parseHCM(p, field(path, "typed_config"), filters[n].GetTypedConfig(), lc)
		return c
	}
	c.authz = authz
	var tp tcpproxyv3.TcpProxy
	if !unpackTyped(p, field(path, "typed_config"), filters[n].GetTypedConfig(), &tp) {
		return c
	}
	path = field(path, "typed_config")
	p.OnlyFields(path, &tp, "stat_prefix", "cluster", "idle_timeout", "hash_policy", "weighted_clusters", "access_log")
	c.accessLog = parseAccessLogs(p, field(path, "access_log"), tp.GetAccessLog())
	c.hashSourceIP = parseTCPHashPolicy(p, field(path, "hash_policy"), tp.GetHashPolicy())
	c.cluster = tp.GetCluster()
	c.weighted = parseTCPWeighted(p, field(path, "weighted_clusters"), tp.GetWeightedClusters(), c.cluster)
	if c.cluster == "" && tp.GetWeightedClusters() == nil {
		p.Addf(field(path, "cluster"), "missing")
	}
	c.idleTimeout = parseDuration(p, field(path, "idle_timeout"), tp.GetIdleTimeout(), defaultIdleTimeout)
	return c
}

// parseTransportProtocol checks filter_chain_match.transport_protocol,
// which the TLS inspector sets.
func parseTransportProtocol(p *problems, mpath string, m *listenerv3.FilterChainMatch, lc *listenerConfig) string {
	tp := m.GetTransportProtocol()
	if tp == "" {
		return ""
	}
	path := field(mpath, "transport_protocol")
	if tp != transportTLS && tp != transportRaw {
		p.Addf(path, "unsupported transport protocol %q, want %q or %q", tp, transportTLS, transportRaw)
	}
	if !lc.tlsInspect {
		p.Addf(path, "needs the TLS inspector listener filter")
	}
	return tp
}

func cloneListeners(ls []*listenerv3.Listener) []*listenerv3.Listener {
	out := make([]*listenerv3.Listener, len(ls))
	for i, l := range ls {
		out[i] = proto.Clone(l).(*listenerv3.Listener)
	}
	return out
}

// anyPort reports whether a host:port leaves the port to the system.
func anyPort(address string) bool {
	ap, err := netip.ParseAddrPort(address)
	return err == nil && ap.Port() == 0
}
