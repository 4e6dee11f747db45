package dataplane

import (
	"crypto/tls"
	"net/netip"
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
	cluster string
	// idleTimeout ends connections idle that long; zero never does.
	idleTimeout time.Duration
	// tls is nil for plaintext listeners.
	tls *tls.Config
	// direction is "inbound" for mTLS listeners, "outbound" otherwise.
	direction string
	// http is set for listeners whose filter is an HTTP connection
	// manager; cluster and idleTimeout are then unused.
	http *httpproxy.Listener
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
				p.addf("address", "%s is also the address of listener %q", lc.address, other)
			}
			addresses[lc.address] = lc.name
		}
		all = append(all, p)
		if p.ok() {
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
	p.onlyFields("", l, "name", "address", "filter_chains", "stat_prefix", "traffic_direction")
	lc := &listenerConfig{name: l.GetName(), direction: "outbound"}
	lc.address, _ = parseSocketAddress(p, "address", l.GetAddress(), true)

	chains := l.GetFilterChains()
	if len(chains) != 1 {
		p.addf("filter_chains", "want exactly one filter chain, got %d", len(chains))
		return lc
	}
	path := "filter_chains[0]"
	fc := chains[0]
	p.onlyFields(path, fc, "filters", "transport_socket", "name")
	if ts := fc.GetTransportSocket(); ts != nil {
		if dt, ok := parseDownstreamTLS(p, field(path, "transport_socket"), ts); ok {
			if tc, err := d.serverTLS(dt.matchers); err != nil {
				p.addf(field(path, "transport_socket"), "%v", err)
			} else {
				tc.NextProtos = dt.alpn
				lc.tls, lc.direction = tc, "inbound"
			}
		}
	}

	filters := fc.GetFilters()
	if len(filters) != 1 {
		p.addf(field(path, "filters"), "want exactly one network filter, got %d", len(filters))
		return lc
	}
	path = field(path, "filters[0]")
	p.onlyFields(path, filters[0], "name", "typed_config")
	if filters[0].GetTypedConfig().GetTypeUrl() == hcmTypeURL {
		lc.http = d.parseHCM(p, field(path, "typed_config"), filters[0].GetTypedConfig(), lc)
		return lc
	}
	var tp tcpproxyv3.TcpProxy
	if !unpackTyped(p, field(path, "typed_config"), filters[0].GetTypedConfig(), &tp) {
		return lc
	}
	path = field(path, "typed_config")
	p.onlyFields(path, &tp, "stat_prefix", "cluster", "idle_timeout")
	lc.cluster = tp.GetCluster()
	if lc.cluster == "" && tp.GetWeightedClusters() == nil {
		p.addf(field(path, "cluster"), "missing")
	}
	lc.idleTimeout = parseDuration(p, field(path, "idle_timeout"), tp.GetIdleTimeout(), defaultIdleTimeout)
	return lc
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
