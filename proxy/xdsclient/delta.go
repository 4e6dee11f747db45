package xdsclient

import (
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// explicitWildcard subscribes to every resource of a type. The legacy
// wildcard (an empty first request) would do with go-control-plane, but
// servers may turn it off (it means "nothing" to proxyless gRPC).
const explicitWildcard = "*"

// deltaWire speaks incremental xDS: a request names only the changes to
// the subscription, and a stream's first request of a type names the
// versions the client holds, so that the control plane sends only what
// differs.
type deltaWire struct {
	stream discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	node   *nodeOnce
	types  map[string]*typeState // the client's, read for versions
}

func (w *deltaWire) recv() (*response, error) {
	resp, err := w.stream.Recv()
	if err != nil {
		return nil, err
	}
	r := &response{
		typeURL:     resp.GetTypeUrl(),
		version:     resp.GetSystemVersionInfo(),
		nonce:       resp.GetNonce(),
		resources:   make([]resource, len(resp.GetResources())),
		incremental: true,
		removed:     resp.GetRemovedResources(),
	}
	for i, res := range resp.GetResources() {
		r.resources[i] = resource{name: res.GetName(), version: res.GetVersion(), body: res.GetResource()}
	}
	return r, nil
}

func (w *deltaWire) subscribe(typeURL string, was, names []string, first bool, _ string) error {
	req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURL}
	switch {
	case first:
		req.ResourceNamesSubscribe = names
		if wildcard(typeURL) {
			req.ResourceNamesSubscribe = []string{explicitWildcard}
		}
		req.InitialResourceVersions = w.held(typeURL, names)
	default:
		req.ResourceNamesSubscribe = missing(names, was)
		req.ResourceNamesUnsubscribe = missing(was, names)
	}
	return w.send(req)
}

// answer names only the nonce: the control plane knows what it sent.
func (w *deltaWire) answer(r *response, _ []string, reason error) error {
	return w.send(&discoveryv3.DeltaDiscoveryRequest{
		TypeUrl:       r.typeURL,
		ResponseNonce: r.nonce,
		ErrorDetail:   nackStatus(reason),
	})
}

// held returns the names and versions of the accepted resources of a type
// that names (nil: every one) holds, nil when there are none.
func (w *deltaWire) held(typeURL string, names []string) map[string]string {
	set := w.types[typeURL].accepted
	if !wildcard(typeURL) {
		set = keepNamed(set, names)
	}
	if len(set) == 0 {
		return nil
	}
	versions := make(map[string]string, len(set))
	for _, r := range set {
		versions[r.name] = r.version
	}
	return versions
}

func (w *deltaWire) send(req *discoveryv3.DeltaDiscoveryRequest) error {
	req.Node = w.node.take()
	return sendError(req.GetTypeUrl(), w.stream.Send(req))
}

// missing returns the names of a (sorted) that b (sorted) lacks.
func missing(a, b []string) []string {
	var out []string
	for _, name := range a {
		if _, ok := slices.BinarySearch(b, name); !ok {
			out = append(out, name)
		}
	}
	return out
}
