package xdsclient

import (
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// sotwWire speaks state of the world: every request names the type's
// whole subscription and the version last accepted.
type sotwWire struct {
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   *nodeOnce
	types  map[string]*typeState // the client's, read for versions
}

func (w *sotwWire) recv() (*response, error) {
	resp, err := w.stream.Recv()
	if err != nil {
		return nil, err
	}
	r := &response{
		typeURL:   resp.GetTypeUrl(),
		version:   resp.GetVersionInfo(),
		nonce:     resp.GetNonce(),
		resources: make([]resource, len(resp.GetResources())),
	}
	for i, a := range resp.GetResources() {
		r.resources[i] = resource{body: a}
	}
	return r, nil
}

func (w *sotwWire) subscribe(typeURL string, _, names []string, _ bool, nonce string) error {
	return w.send(&discoveryv3.DiscoveryRequest{
		TypeUrl:       typeURL,
		VersionInfo:   w.types[typeURL].version,
		ResponseNonce: nonce,
		ResourceNames: names,
	})
}

// answer names the version accepted: the response's after an ACK, the one
// kept after a NACK.
func (w *sotwWire) answer(r *response, names []string, reason error) error {
	return w.send(&discoveryv3.DiscoveryRequest{
		TypeUrl:       r.typeURL,
		VersionInfo:   w.types[r.typeURL].version,
		ResponseNonce: r.nonce,
		ResourceNames: names,
		ErrorDetail:   nackStatus(reason),
	})
}

func (w *sotwWire) send(req *discoveryv3.DiscoveryRequest) error {
	req.Node = w.node.take()
	return sendError(req.GetTypeUrl(), w.stream.Send(req))
}
