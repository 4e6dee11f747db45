package xdsclient

import (
	"context"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
)

// wire is what differs between the protocols on one ADS stream: it reads
// responses and writes the session's subscriptions and answers. The
// session (stream.go) decides everything else, the same way for both.
type wire interface {
	// recv blocks for the next response. It is called from one goroutine
	// while the others are called from another.
	recv() (*response, error)
	// subscribe asks for names of a type, where the stream was subscribed
	// to was so far (first: to nothing, the type never requested on this
	// stream). names is nil for CDS and LDS: every resource. nonce is the
	// last one received for the type, which SotW requests carry.
	subscribe(typeURL string, was, names []string, first bool, nonce string) error
	// answer ACKs r, or NACKs it when reason is non-nil. names is the
	// stream's subscription to r's type.
	answer(r *response, names []string, reason error) error
}

// openWire opens an ADS stream of the configured protocol on ctx.
func (c *Client) openWire(ctx context.Context) (wire, error) {
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(c.cfg.Conn)
	node := &nodeOnce{node: c.cfg.Node}
	if c.cfg.Protocol == ProtocolDelta {
		stream, err := ads.DeltaAggregatedResources(ctx)
		if err != nil {
			return nil, fmt.Errorf("opening delta ADS stream: %w", err)
		}
		return &deltaWire{stream: stream, node: node, types: c.types}, nil
	}
	stream, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening ADS stream: %w", err)
	}
	return &sotwWire{stream: stream, node: node, types: c.types}, nil
}

// nodeOnce hands out the node for the first request of a stream only: the
// control plane keeps it for the stream.
type nodeOnce struct{ node *corev3.Node }

func (n *nodeOnce) take() *corev3.Node {
	node := n.node
	n.node = nil
	return node
}

// nackStatus is the error_detail of a NACK, nil for an ACK.
func nackStatus(reason error) *statuspb.Status {
	if reason == nil {
		return nil
	}
	return &statuspb.Status{Code: nackCode, Message: reason.Error()}
}

func sendError(typeURL string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("sending %s request: %w", typeLabel(typeURL), err)
}
