package translate

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// connectTimeout is the connect timeout of every cluster.
const connectTimeout = 5 * time.Second

// socketAddress is a TCP address for a listener or an endpoint.
func socketAddress(addr netip.Addr, port uint32) *core.Address {
	return &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
		Protocol:      core.SocketAddress_TCP,
		Address:       addr.String(),
		PortSpecifier: &core.SocketAddress_PortValue{PortValue: port},
	}}}
}

// tcpProxyFilter is the network filter that sends a connection to
// cluster, with logged an access log to stdout (model.Mesh.AccessLog).
func tcpProxyFilter(clusterName string, logged bool) (*listener.Filter, error) {
	return tcpProxyNetworkFilter(&tcpproxy.TcpProxy{
		// Envoy requires a stat prefix; the cluster name is unique per proxy.
		StatPrefix:       clusterName,
		ClusterSpecifier: &tcpproxy.TcpProxy_Cluster{Cluster: clusterName},
	}, logged)
}

// tcpProxyNetworkFilter packs tp as a tcp_proxy network filter, giving it
// the stdout access log (one JSON line per connection) when logged.
func tcpProxyNetworkFilter(tp *tcpproxy.TcpProxy, logged bool) (*listener.Filter, error) {
	if logged {
		var err error
		if tp.AccessLog, err = stdoutAccessLogs(); err != nil {
			return nil, err
		}
	}
	return networkFilter(wellknown.TCPProxy, tp)
}

// oneFilterListener is a listener with one filter chain holding f, behind
// ts when ts is not nil.
func oneFilterListener(name string, addr netip.Addr, port uint32, f *listener.Filter, ts *core.TransportSocket) *listener.Listener {
	return &listener.Listener{
		Name:    name,
		Address: socketAddress(addr, port),
		FilterChains: []*listener.FilterChain{{
			Filters:         []*listener.Filter{f},
			TransportSocket: ts,
		}},
	}
}

// listenerFilter is a listener filter named name configured by cfg.
func listenerFilter(name string, cfg proto.Message) (*listener.ListenerFilter, error) {
	a, err := typed(cfg)
	if err != nil {
		return nil, err
	}
	return &listener.ListenerFilter{Name: name, ConfigType: &listener.ListenerFilter_TypedConfig{TypedConfig: a}}, nil
}

// networkFilter is a network filter named name configured by cfg.
func networkFilter(name string, cfg proto.Message) (*listener.Filter, error) {
	a, err := typed(cfg)
	if err != nil {
		return nil, err
	}
	return &listener.Filter{Name: name, ConfigType: &listener.Filter_TypedConfig{TypedConfig: a}}, nil
}

// lbEndpoint is one endpoint of a load assignment.
func lbEndpoint(addr netip.Addr, port uint32) *endpoint.LbEndpoint {
	return &endpoint.LbEndpoint{HostIdentifier: &endpoint.LbEndpoint_Endpoint{
		Endpoint: &endpoint.Endpoint{Address: socketAddress(addr, port)},
	}}
}

// loadAssignment puts eps in one locality; no endpoints give no locality.
func loadAssignment(clusterName string, eps []*endpoint.LbEndpoint) *endpoint.ClusterLoadAssignment {
	cla := &endpoint.ClusterLoadAssignment{ClusterName: clusterName}
	if len(eps) > 0 {
		cla.Endpoints = []*endpoint.LocalityLbEndpoints{{LbEndpoints: eps}}
	}
	return cla
}

// baseCluster holds what every cluster shares.
func baseCluster(name string, typ cluster.Cluster_DiscoveryType) *cluster.Cluster {
	return &cluster.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: typ},
		ConnectTimeout:       durationpb.New(connectTimeout),
		LbPolicy:             cluster.Cluster_ROUND_ROBIN,
	}
}

// typed packs a typed_config. Marshalling is deterministic so that equal
// inputs give byte-identical resources even once configs hold maps.
func typed(m proto.Message) (*anypb.Any, error) {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		return nil, fmt.Errorf("packing %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return a, nil
}

// checkBinds fails when two listeners bind the same address and port
// (their address or one of their additional_addresses), or when two
// listeners that do not bind (bind_to_port false: they serve what
// virtualOutbound hands them by original destination) claim the same
// one, which would make that hand-over ambiguous. A listener that does
// not bind never collides with one that does.
func checkBinds(ls []types.Resource) error {
	type claim struct {
		bound bool
		key   string
	}
	seen := make(map[claim]string, len(ls))
	for _, r := range ls {
		l, ok := r.(*listener.Listener)
		if !ok {
			return fmt.Errorf("listener list holds a %T", r)
		}
		bound := l.GetBindToPort() == nil || l.GetBindToPort().GetValue()
		addrs := []*core.Address{l.GetAddress()}
		for _, a := range l.GetAdditionalAddresses() {
			addrs = append(addrs, a.GetAddress())
		}
		for _, a := range addrs {
			sa := a.GetSocketAddress()
			c := claim{bound: bound, key: net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10))}
			if other, dup := seen[c]; dup {
				verb := "bind"
				if !bound {
					verb = "claim"
				}
				return fmt.Errorf("listeners %q and %q both %s %s", other, l.GetName(), verb, c.key)
			}
			seen[c] = l.GetName()
		}
	}
	return nil
}
