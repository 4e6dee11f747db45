package xdsload

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
)

// proxy is one simulated sidecar: it subscribes as Envoy does (wildcard
// CDS and LDS, EDS for its clusters), acknowledges every response, and
// reports to the board when it has acknowledged a change's marker.
type proxy struct {
	node     string
	id       int
	clusters []string
	board    *board
	seen     map[string]bool // assignments received, until ready
}

func (p *proxy) follow(ctx context.Context, conn grpc.ClientConnInterface, variant string) error {
	c := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	p.seen = map[string]bool{}
	if variant == "delta" {
		return p.followDelta(ctx, c)
	}
	return p.followSotW(ctx, c)
}

func (p *proxy) followSotW(ctx context.Context, c discoveryv3.AggregatedDiscoveryServiceClient) error {
	stream, err := c.StreamAggregatedResources(ctx)
	if err != nil {
		return fmt.Errorf("opening the stream: %w", err)
	}
	node := &corev3.Node{Id: p.node}
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType} {
		if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typ}); err != nil {
			return fmt.Errorf("subscribing: %w", err)
		}
	}
	subscribed := false
	for {
		resp, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("receiving: %w", err)
		}
		req := &discoveryv3.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
		if resp.GetTypeUrl() == resourcev3.EndpointType {
			req.ResourceNames = p.clusters
		}
		if err := stream.Send(req); err != nil {
			return fmt.Errorf("acknowledging: %w", err)
		}
		if resp.GetTypeUrl() == resourcev3.EndpointType {
			if err := p.acked(resp.GetResources(), time.Now()); err != nil {
				return err
			}
		}
		if resp.GetTypeUrl() == resourcev3.ClusterType && !subscribed {
			subscribed = true
			if err := stream.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: p.clusters}); err != nil {
				return fmt.Errorf("subscribing to endpoints: %w", err)
			}
		}
	}
}

func (p *proxy) followDelta(ctx context.Context, c discoveryv3.AggregatedDiscoveryServiceClient) error {
	stream, err := c.DeltaAggregatedResources(ctx)
	if err != nil {
		return fmt.Errorf("opening the stream: %w", err)
	}
	node := &corev3.Node{Id: p.node}
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType} {
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: typ}); err != nil {
			return fmt.Errorf("subscribing: %w", err)
		}
	}
	subscribed := false
	for {
		resp, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("receiving: %w", err)
		}
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}); err != nil {
			return fmt.Errorf("acknowledging: %w", err)
		}
		if resp.GetTypeUrl() == resourcev3.EndpointType {
			rs := make([]*anypb.Any, 0, len(resp.GetResources()))
			for _, r := range resp.GetResources() {
				rs = append(rs, r.GetResource())
			}
			if err := p.acked(rs, time.Now()); err != nil {
				return err
			}
		}
		if resp.GetTypeUrl() == resourcev3.ClusterType && !subscribed {
			subscribed = true
			if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: p.clusters}); err != nil {
				return fmt.Errorf("subscribing to endpoints: %w", err)
			}
		}
	}
}

// acked reports the assignments the proxy has just acknowledged: it is
// ready once it has all of its clusters', and each marker address is a
// change it now has.
func (p *proxy) acked(rs []*anypb.Any, at time.Time) error {
	for _, a := range rs {
		var cla endpointv3.ClusterLoadAssignment
		if err := a.UnmarshalTo(&cla); err != nil {
			return fmt.Errorf("decoding an assignment: %w", err)
		}
		if p.seen != nil {
			p.seen[cla.GetClusterName()] = true
		}
		for _, l := range cla.GetEndpoints() {
			for _, e := range l.GetLbEndpoints() {
				addr, err := netip.ParseAddr(e.GetEndpoint().GetAddress().GetSocketAddress().GetAddress())
				if err != nil {
					continue
				}
				if i := ChangeOf(addr); i > 0 {
					p.board.ack(p.id, i, at)
				}
			}
		}
	}
	if p.seen != nil && len(p.seen) >= len(p.clusters) {
		p.seen = nil
		p.board.setReady(p.id)
	}
	return nil
}
