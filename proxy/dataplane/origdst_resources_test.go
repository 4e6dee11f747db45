package dataplane_test

import (
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The builders below produce the capture shapes of docs/capture.md
// ("Original destination") and docs/xds.md.

// virtualOutbound is the listener captured outbound traffic arrives on:
// use_original_dst, and a chain to cluster (PassthroughCluster or
// BlackHoleCluster) for destinations no virtual listener has.
func virtualOutbound(t *testing.T, address, cluster string) *listenerv3.Listener {
	t.Helper()
	l := outboundListener(t, "virtualOutbound", address, cluster)
	l.UseOriginalDst = wrapperspb.Bool(true)
	return l
}

// virtualListener is an outbound listener that binds nothing: it serves
// what virtualOutbound hands it.
func virtualListener(t *testing.T, name, address, cluster string, additional ...string) *listenerv3.Listener {
	t.Helper()
	l := outboundListener(t, name, address, cluster)
	l.BindToPort = wrapperspb.Bool(false)
	for _, a := range additional {
		l.AdditionalAddresses = append(l.AdditionalAddresses, &listenerv3.AdditionalAddress{Address: socketAddress(t, a)})
	}
	return l
}

func originalDstFilter(t *testing.T) *listenerv3.ListenerFilter {
	t.Helper()
	return &listenerv3.ListenerFilter{
		Name:       "envoy.filters.listener.original_dst",
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(t, &originaldstv3.OriginalDst{})},
	}
}

// inboundPort is one plaintext chain of virtualInbound.
type inboundPort struct {
	port    uint32
	cluster string
}

// virtualInbound is the listener captured inbound traffic arrives on: the
// original_dst listener filter, one plaintext chain per port, and a chain
// without destination_port to passthrough (none when empty).
func virtualInbound(t *testing.T, address, passthrough string, ports ...inboundPort) *listenerv3.Listener {
	t.Helper()
	l := &listenerv3.Listener{
		Name:             "virtualInbound",
		Address:          socketAddress(t, address),
		ListenerFilters:  []*listenerv3.ListenerFilter{originalDstFilter(t)},
		TrafficDirection: corev3.TrafficDirection_INBOUND,
	}
	for _, p := range ports {
		l.FilterChains = append(l.FilterChains, &listenerv3.FilterChain{
			FilterChainMatch: &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(p.port)},
			Filters:          []*listenerv3.Filter{tcpProxyFilter(t, p.cluster)},
		})
	}
	if passthrough != "" {
		l.FilterChains = append(l.FilterChains, &listenerv3.FilterChain{
			Filters: []*listenerv3.Filter{tcpProxyFilter(t, passthrough)},
		})
	}
	return l
}

// originalDstCluster is PassthroughCluster: each connection goes where it
// was going, in plaintext.
func originalDstCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
		ConnectTimeout:       durationpb.New(5 * time.Second),
		LbPolicy:             clusterv3.Cluster_CLUSTER_PROVIDED,
	}
}

// blackHoleCluster is BlackHoleCluster: STATIC without endpoints.
func blackHoleCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(5 * time.Second),
	}
}
