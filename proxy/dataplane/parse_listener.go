package dataplane

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"slices"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/proto"

	"github.com/weftmesh/weft/proxy/httpproxy"
)

// defaultIdleTimeout is tcp_proxy's idle_timeout when unset, as in Envoy.
const defaultIdleTimeout = time.Hour

// listenerConfig is a validated listener, ready to serve.
type listenerConfig struct {
	name    string
	address string // ip:port
	// tls is nil for plaintext listeners. Every filter chain of a
	// listener has the same transport socket: TLS ends before inspection.
	tls *tls.Config
	// direction is "inbound" for mTLS listeners, "outbound" otherwise.
	direction string
	// inspect is set when the listener runs the HTTP inspector: chains
	// are then chosen by the protocol sniffed from the first bytes.
	inspect bool
	// chains are the filter chains, in the order received.
	chains []*chainConfig
}

// chainConfig is one filter chain: an HTTP connection manager (http) or
// a TCP proxy (cluster, idleTimeout).
type chainConfig struct {
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
}

// chain returns the filter chain for a sniffed application protocol
// ("http/1.0", "http/1.1", "h2c", or "" for anything else): the first
// chain that lists it, else the default chain; nil when none fits, as
// Envoy closes such connections.
func (lc *listenerConfig) chain(protocol string) *chainConfig {
	var def *chainConfig
	for _, c := range lc.chains {
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
	addresses := make(map[string]string)
	for _, l := range ls {
		if l.GetName() == "" {
			all = append(all, missingName("listener"))
			continue
		}
		names = append(names, l.GetName())
		p := newProblems("listener", l.GetName())
		lc := d.parseListener(p, l)
		if lc != nil {
			if other, taken := addresses[lc.address]; taken && !anyPort(lc.address) {
				p.Addf("address", "%s is also the address of listener %q", lc.address, other)
			}
			addresses[lc.address] = lc.name
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
	p.OnlyFields("", l, "name", "address", "filter_chains", "stat_prefix", "traffic_direction", "listener_filters")
	lc := &listenerConfig{name: l.GetName(), direction: "outbound"}
	lc.address, _ = parseSocketAddress(p, "address", l.GetAddress(), true)
	lc.inspect = parseListenerFilters(p, l.GetListenerFilters())

	chains := l.GetFilterChains()
	switch {
	case len(chains) == 0:
		p.Addf("filter_chains", "want at least one filter chain")
		return lc
	case !lc.inspect && len(chains) != 1:
		p.Addf("filter_chains", "want exactly one filter chain without the HTTP inspector, got %d", len(chains))
		return lc
	}
	if ts := chains[0].GetTransportSocket(); ts != nil {
		path := "filter_chains[0].transport_socket"
		if dt, ok := parseDownstreamTLS(p, path, ts); ok {
			if tc, err := d.serverTLS(dt.matchers); err != nil {
				p.Addf(path, "%v", err)
			} else {
				tc.NextProtos = dt.alpn
				lc.tls, lc.direction = tc, "inbound"
			}
		}
	}
	defaults := 0
	for i, fc := range chains {
		path := fmt.Sprintf("filter_chains[%d]", i)
		if i > 0 && !proto.Equal(fc.GetTransportSocket(), chains[0].GetTransportSocket()) {
			p.Addf(field(path, "transport_socket"), "must equal filter_chains[0].transport_socket")
		}
		c := d.parseChain(p, path, fc, lc)
		if len(c.protocols) == 0 {
			defaults++
		}
		lc.chains = append(lc.chains, c)
	}
	if defaults > 1 {
		p.Addf("filter_chains", "at most one chain may have no filter_chain_match, got %d", defaults)
	}
	return lc
}

// parseChain validates one filter chain of lc.
func (d *Dataplane) parseChain(p *problems, path string, fc *listenerv3.FilterChain, lc *listenerConfig) *chainConfig {
	c := &chainConfig{}
	p.OnlyFields(path, fc, "filters", "transport_socket", "name", "filter_chain_match")
	if m := fc.GetFilterChainMatch(); m != nil {
		mpath := field(path, "filter_chain_match")
		p.OnlyFields(mpath, m, "application_protocols")
		if !lc.inspect {
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
	if len(filters) != 1 {
		p.Addf(field(path, "filters"), "want exactly one network filter, got %d", len(filters))
		return c
	}
	path = field(path, "filters[0]")
	p.OnlyFields(path, filters[0], "name", "typed_config")
	if filters[0].GetTypedConfig().GetTypeUrl() == hcmTypeURL {
		c.http = d.parseHCM(p, field(path, "typed_config"), filters[0].GetTypedConfig(), lc)
		return c
	}
	var tp tcpproxyv3.TcpProxy
	if !unpackTyped(p, field(path, "typed_config"), filters[0].GetTypedConfig(), &tp) {
		return c
	}
	path = field(path, "typed_config")
	p.OnlyFields(path, &tp, "stat_prefix", "cluster", "idle_timeout", "hash_policy")
	c.hashSourceIP = parseTCPHashPolicy(p, field(path, "hash_policy"), tp.GetHashPolicy())
	c.cluster = tp.GetCluster()
	if c.cluster == "" && tp.GetWeightedClusters() == nil {
		p.Addf(field(path, "cluster"), "missing")
	}
	c.idleTimeout = parseDuration(p, field(path, "idle_timeout"), tp.GetIdleTimeout(), defaultIdleTimeout)
	return c
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
