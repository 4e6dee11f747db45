package translate

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	proxyprotocol "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/proxy_protocol/v3"
	tlsinspector "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/gateway"
)

// GatewayListenerName names the gateway proxy's listener on one port:
// "gateway|<port>".
func GatewayListenerName(port uint32) string {
	return "gateway|" + strconv.FormatUint(uint64(port), 10)
}

// GatewayRouteName names the RouteConfiguration of one HTTP or HTTPS
// listener of a Gateway: "gateway|<namespace>|<gateway>|<listener>".
func GatewayRouteName(gw model.NamespacedName, listenerName string) string {
	return "gateway|" + gw.Namespace + "|" + gw.Name + "|" + listenerName
}

// gatewayChainName names the filter chain of one Gateway listener:
// "<namespace>/<gateway>/<listener>".
func gatewayChainName(gw model.NamespacedName, listenerName string) string {
	return gw.Namespace + "/" + gw.Name + "/" + listenerName
}

// gatewayResourceTypes are the keys of a gateway proxy's Resources: a
// sidecar's and the SDS secrets.
func gatewayResourceTypes() []resource.Type {
	return append(resourceTypes(), resource.SecretType)
}

// gatewayOptions are what a Gateway's annotations set.
type gatewayOptions struct {
	trustedHops   uint32
	proxyProtocol bool
}

// maxTrustedHops bounds gateway.TrustedHopsAnnotation: more proxies than
// this in front of a gateway is a typo.
const maxTrustedHops = 16

// readGatewayOptions reads the annotations of gw; f hears of a bad value,
// for which the default is used.
func readGatewayOptions(gw *gwv1.Gateway, f *findings) gatewayOptions {
	var o gatewayOptions
	if v, ok := gw.Annotations[gateway.TrustedHopsAnnotation]; ok {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n > maxTrustedHops {
			f.add(reasonUnsupportedValue, "annotation %s: %q is not a number of hops within 0-%d; 0 is used (no X-Forwarded-For entry is trusted)",
				gateway.TrustedHopsAnnotation, v, maxTrustedHops)
		} else {
			o.trustedHops = uint32(n)
		}
	}
	if v, ok := gw.Annotations[gateway.ProxyProtocolAnnotation]; ok {
		switch v {
		case "true":
			o.proxyProtocol = true
		case "false", "":
		default:
			f.add(reasonUnsupportedValue, "annotation %s: %q is neither \"true\" nor \"false\"; no PROXY protocol header is expected",
				gateway.ProxyProtocolAnnotation, v)
		}
	}
	return o
}

// gatewayKey is the Gateway a gateway workload serves: spec.gateway,
// whose namespace defaults to the workload's.
func gatewayKey(w *model.Workload) model.NamespacedName {
	key := *w.Gateway
	if key.Namespace == "" {
		key.Namespace = w.Namespace
	}
	return key
}

// gatewayProxy returns the resources of an ingress gateway's proxy
// (docs/gateway.md, "What the control plane sends a gateway proxy"): one
// listener per port of the Gateway's programmed listeners, the
// RouteConfigurations of its HTTP and HTTPS listeners, the Service
// clusters (and assignments) its routes send to, with mTLS as the
// gateway's own identity like a sidecar's outbound clusters, and the SDS
// secrets of the certificates its listeners may serve (gateway.Resolve
// decides which). A workload whose Gateway is not in the mesh gets no
// listeners (Check reports it).
func gatewayProxy(m *model.Mesh, w *model.Workload, b *Batch) (Resources, error) {
	res := make(Resources, len(gatewayResourceTypes()))
	for _, typ := range gatewayResourceTypes() {
		res[typ] = []types.Resource{}
	}
	key := gatewayKey(w)
	g := b.gatewayResolution(m).Gateway(key)
	if g == nil {
		return res, nil
	}
	binds, err := gatewayBinds(m, w)
	if err != nil {
		return nil, err
	}
	opts := readGatewayOptions(g.Object, nil)

	byPort := map[uint32][]*gateway.Listener{}
	var ports []uint32
	for i := range g.Listeners {
		l := &g.Listeners[i]
		if !l.Programmed() {
			continue
		}
		port := uint32(l.Spec.Port) //nolint:gosec // a PortNumber is 1-65535
		if byPort[port] == nil {
			ports = append(ports, port)
		}
		byPort[port] = append(byPort[port], l)
	}
	slices.Sort(ports)
	var backends []servicePortRef
	secrets := map[string]bool{}
	for _, port := range ports {
		gl, err := gatewayPortListener(m, key, port, byPort[port], opts, binds)
		if err != nil {
			return nil, fmt.Errorf("gateway %s port %d: %w", key, port, err)
		}
		if gl.listener != nil {
			res[resource.ListenerType] = append(res[resource.ListenerType], gl.listener)
		}
		for _, rc := range gl.routes {
			res[resource.RouteType] = append(res[resource.RouteType], rc)
		}
		backends = append(backends, gl.backends...)
		for _, l := range byPort[port] {
			for _, s := range l.Certificates {
				name := gateway.SecretName(s.Namespace, s.Name)
				if secrets[name] {
					continue
				}
				secrets[name] = true
				res[resource.SecretType] = append(res[resource.SecretType], &tlsv3.Secret{
					Name: name,
					Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
						CertificateChain: &core.DataSource{Specifier: &core.DataSource_InlineBytes{InlineBytes: s.Cert}},
						PrivateKey:       &core.DataSource{Specifier: &core.DataSource_InlineBytes{InlineBytes: s.PrivateKey}},
					}},
				})
			}
		}
	}
	slices.SortFunc(backends, func(a, b servicePortRef) int {
		return cmp.Or(cmp.Compare(a.service.Namespace, b.service.Namespace), cmp.Compare(a.service.Name, b.service.Name), cmp.Compare(a.port, b.port))
	})
	if err := addRouteBackends(m, res, slices.Compact(backends), b); err != nil {
		return nil, err
	}
	if err := finish(res, gatewayResourceTypes()); err != nil {
		return nil, err
	}
	return res, nil
}

// gatewayBinds are the addresses a gateway's listeners bind: every IPv4
// address for a Pod (and every IPv6 one when the mesh has IPv6
// ClusterIPs: a dual-stack cluster), the workload's address otherwise.
func gatewayBinds(m *model.Mesh, w *model.Workload) ([]netip.Addr, error) {
	if !w.Pod {
		if !w.Address.IsValid() {
			return nil, errors.New("gateway workload has no address to bind its listeners to")
		}
		return []netip.Addr{w.Address}, nil
	}
	binds := []netip.Addr{netip.IPv4Unspecified()}
	for i := range m.Services {
		if slices.ContainsFunc(m.Services[i].ClusterIPs, func(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }) {
			return append(binds, netip.IPv6Unspecified()), nil
		}
	}
	return binds, nil
}

// gatewayPort is what one port of a gateway needs.
type gatewayPort struct {
	listener *listener.Listener // nil when no chain is left
	routes   []*route.RouteConfiguration
	backends []servicePortRef
}

// gatewayPortListener builds the listener of one port from the
// Gateway's programmed listeners on it (in spec order).
func gatewayPortListener(m *model.Mesh, gw model.NamespacedName, port uint32, ls []*gateway.Listener, opts gatewayOptions,
	binds []netip.Addr,
) (*gatewayPort, error) {
	out := &gatewayPort{}
	l := &listener.Listener{
		Name:             GatewayListenerName(port),
		Address:          socketAddress(binds[0], port),
		TrafficDirection: core.TrafficDirection_INBOUND,
	}
	for _, a := range binds[1:] {
		l.AdditionalAddresses = append(l.AdditionalAddresses, &listener.AdditionalAddress{Address: socketAddress(a, port)})
	}
	if opts.proxyProtocol {
		f, err := listenerFilter(wellknown.ProxyProtocol, &proxyprotocol.ProxyProtocol{})
		if err != nil {
			return nil, err
		}
		l.ListenerFilters = append(l.ListenerFilters, f)
	}
	if slices.ContainsFunc(ls, func(gl *gateway.Listener) bool {
		return gl.Spec.Protocol != gwv1.HTTPProtocolType && gl.Spec.Protocol != gwv1.TCPProtocolType
	}) {
		f, err := listenerFilter(wellknown.TLSInspector, &tlsinspector.TlsInspector{})
		if err != nil {
			return nil, err
		}
		l.ListenerFilters = append(l.ListenerFilters, f)
	}

	// Every HTTP listener of the port shares one chain: Host, not the
	// connection, tells them apart.
	var plain []*gateway.Listener
	for _, gl := range ls {
		if gl.Spec.Protocol == gwv1.HTTPProtocolType {
			plain = append(plain, gl)
		}
	}
	if len(plain) > 0 {
		name := string(plain[0].Spec.Name)
		rc, refs := gatewayRoutes(m, GatewayRouteName(gw, name), plain)
		fc, err := gatewayHTTPChain(gatewayChainName(gw, name), rc.GetName(), opts, nil)
		if err != nil {
			return nil, err
		}
		l.FilterChains = append(l.FilterChains, fc)
		out.routes = append(out.routes, rc)
		out.backends = append(out.backends, refs...)
	}

	// TLS chains are told apart by SNI; each server name (or none, the
	// catch-all) goes to the first chain that claims it.
	claimed := map[string]bool{}
	claim := func(names []string) []string {
		if len(names) == 0 {
			if claimed[""] {
				return nil
			}
			claimed[""] = true
			return []string{}
		}
		var free []string
		for _, n := range names {
			if !claimed[n] {
				claimed[n] = true
				free = append(free, n)
			}
		}
		return free
	}
	for _, gl := range ls {
		var host []string
		if gl.Spec.Hostname != nil {
			host = []string{strings.ToLower(string(*gl.Spec.Hostname))}
		}
		name := gatewayChainName(gw, string(gl.Spec.Name))
		switch {
		case gl.Spec.Protocol == gwv1.HTTPSProtocolType:
			rc, refs := gatewayRoutes(m, GatewayRouteName(gw, string(gl.Spec.Name)), []*gateway.Listener{gl})
			names := claim(host)
			if names == nil {
				continue
			}
			ts, err := gatewayTLS(gl, []string{alpnH2, alpnHTTP11})
			if err != nil {
				return nil, err
			}
			fc, err := gatewayHTTPChain(name, rc.GetName(), opts, ts)
			if err != nil {
				return nil, err
			}
			fc.FilterChainMatch = &listener.FilterChainMatch{ServerNames: names, TransportProtocol: "tls"}
			l.FilterChains = append(l.FilterChains, fc)
			out.routes = append(out.routes, rc)
			out.backends = append(out.backends, refs...)
		case gl.Spec.Protocol == gwv1.TLSProtocolType && gateway.TLSMode(gl.Spec) == gwv1.TLSModePassthrough:
			for _, r := range gl.TLSRoutes {
				hosts, ok := gateway.Hostnames(gl.Spec.Hostname, r.Spec.Hostnames)
				if !ok {
					continue
				}
				names := claim(hosts)
				if names == nil {
					continue
				}
				var rules [][]gwv1.BackendRef
				for _, rule := range r.Spec.Rules {
					rules = append(rules, rule.BackendRefs)
				}
				chain := name + "/" + r.Namespace + "/" + r.Name
				f, refs, err := gatewayTCPProxy(m, chain, gateway.KindTLSRoute, r.Namespace, rules)
				if err != nil || f == nil {
					if err != nil {
						return nil, err
					}
					continue
				}
				l.FilterChains = append(l.FilterChains, &listener.FilterChain{
					Name:             chain,
					FilterChainMatch: &listener.FilterChainMatch{ServerNames: names},
					Filters:          []*listener.Filter{f},
				})
				out.backends = append(out.backends, refs...)
			}
		case gl.Spec.Protocol == gwv1.TLSProtocolType, gl.Spec.Protocol == gwv1.TCPProtocolType:
			if len(gl.TCPRoutes) == 0 {
				continue
			}
			r := gl.TCPRoutes[0] // the oldest: a connection has no more to route by
			var rules [][]gwv1.BackendRef
			for _, rule := range r.Spec.Rules {
				rules = append(rules, rule.BackendRefs)
			}
			f, refs, err := gatewayTCPProxy(m, name, gateway.KindTCPRoute, r.Namespace, rules)
			if err != nil {
				return nil, err
			}
			if f == nil {
				continue
			}
			fc := &listener.FilterChain{Name: name, Filters: []*listener.Filter{f}}
			if gl.Spec.Protocol == gwv1.TLSProtocolType {
				names := claim(host)
				if names == nil {
					continue
				}
				ts, err := gatewayTLS(gl, nil)
				if err != nil {
					return nil, err
				}
				fc.FilterChainMatch = &listener.FilterChainMatch{ServerNames: names, TransportProtocol: "tls"}
				fc.TransportSocket = ts
			}
			l.FilterChains = append(l.FilterChains, fc)
			out.backends = append(out.backends, refs...)
		}
	}
	if len(l.FilterChains) > 0 {
		out.listener = l
	}
	return out, nil
}

// gatewayTLS is the DownstreamTlsContext of a listener that terminates
// TLS: its certificates over SDS (ADS), no client certificate, TLS 1.2 at
// least, and the ALPN protocols alpn.
func gatewayTLS(gl *gateway.Listener, alpn []string) (*core.TransportSocket, error) {
	common := &tlsv3.CommonTlsContext{
		TlsParams:     &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2},
		AlpnProtocols: alpn,
	}
	for _, s := range gl.Certificates {
		common.TlsCertificateSdsSecretConfigs = append(common.TlsCertificateSdsSecretConfigs, &tlsv3.SdsSecretConfig{
			Name:      gateway.SecretName(s.Namespace, s.Name),
			SdsConfig: adsSource(),
		})
	}
	return transportSocket(&tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapBool(false),
		CommonTlsContext:         common,
	})
}
