package explain

import (
	"fmt"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	httprbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	netrbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"github.com/weftmesh/weft/proxy/allowlist"
	"github.com/weftmesh/weft/proxy/rbac"
)

// chain is what a filter chain does with a connection: its RBAC filters
// (network ones before tcp_proxy, HTTP ones in the connection manager),
// then either routes (an HTTP connection manager) or one cluster.
type chain struct {
	authz *rbac.Chain
	// routes is the chain's route configuration (RDS from the dump, or
	// inline); nil with cluster set for tcp_proxy.
	http        bool
	routes      *routev3.RouteConfiguration
	routeConfig string
	cluster     string
}

// readChain reads a filter chain of listener l from the dump.
func (d *Dump) readChain(l *listenerv3.Listener, i int, fc *listenerv3.FilterChain) (*chain, error) {
	p := allowlist.New("listener", l.GetName())
	path := fmt.Sprintf("filter_chains[%d]", i)
	c := &chain{authz: &rbac.Chain{}}
	for j, f := range fc.GetFilters() {
		fpath := allowlist.Index(allowlist.Field(path, "filters"), j)
		msg, err := f.GetTypedConfig().UnmarshalNew()
		if err != nil {
			return nil, fmt.Errorf("listener %q: %s: %w", l.GetName(), fpath, err)
		}
		switch cfg := msg.(type) {
		case *netrbacv3.RBAC:
			c.authz.Append(p, fpath, rbac.CompileNetwork(p, fpath, cfg))
		case *tcpproxyv3.TcpProxy:
			c.cluster = cfg.GetCluster()
		case *hcmv3.HttpConnectionManager:
			c.http = true
			if err := d.readHCM(p, fpath, cfg, c); err != nil {
				return nil, fmt.Errorf("listener %q: %s: %w", l.GetName(), fpath, err)
			}
		default:
			return nil, fmt.Errorf("listener %q: %s: unknown filter %s", l.GetName(), fpath, f.GetTypedConfig().GetTypeUrl())
		}
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// readHCM reads the routes and RBAC filters of an HTTP connection manager.
func (d *Dump) readHCM(p *allowlist.Problems, path string, hcm *hcmv3.HttpConnectionManager, c *chain) error {
	for j, hf := range hcm.GetHttpFilters() {
		if hf.GetName() != rbac.HTTPFilterName {
			continue
		}
		fpath := allowlist.Index(allowlist.Field(path, "http_filters"), j)
		var cfg httprbacv3.RBAC
		if err := hf.GetTypedConfig().UnmarshalTo(&cfg); err != nil {
			return fmt.Errorf("%s: %w", fpath, err)
		}
		c.authz.Append(p, fpath, rbac.CompileHTTP(p, fpath, &cfg))
	}
	if rc := hcm.GetRouteConfig(); rc != nil {
		c.routes, c.routeConfig = rc, rc.GetName()
		return nil
	}
	c.routeConfig = hcm.GetRds().GetRouteConfigName()
	c.routes = d.routeConfig(c.routeConfig)
	return nil
}
