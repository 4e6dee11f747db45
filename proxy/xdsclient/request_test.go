package xdsclient

import (
	"maps"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
)

// protocols are the protocols the behaviour tests run against.
var protocols = []Protocol{ProtocolSotW, ProtocolDelta}

// forEachProtocol runs test as a subtest per protocol.
func forEachProtocol(t *testing.T, test func(t *testing.T, p Protocol)) {
	t.Helper()
	for _, p := range protocols {
		t.Run(p.String(), func(t *testing.T) { test(t, p) })
	}
}

// sentRequest is a request of either protocol as the tests read it.
type sentRequest struct {
	stream  int64
	delta   bool
	typeURL string
	version string // SotW version_info; delta requests name none
	nonce   string
	// names is the stream's subscription once the request is taken: SotW
	// resource_names, or for delta the subscription so far changed by
	// resource_names_subscribe and _unsubscribe, sorted.
	names                  []string
	subscribe, unsubscribe []string          // delta
	initial                map[string]string // delta initial_resource_versions
	detail                 *statuspb.Status
	node                   *corev3.Node
}

func sotwRequest(stream int64, req *discoveryv3.DiscoveryRequest) sentRequest {
	return sentRequest{
		stream:  stream,
		typeURL: req.GetTypeUrl(),
		version: req.GetVersionInfo(),
		nonce:   req.GetResponseNonce(),
		names:   slices.Clone(req.GetResourceNames()),
		detail:  req.GetErrorDetail(),
		node:    req.GetNode(),
	}
}

// deltaSubscriptions follows one delta stream's subscriptions, per type.
type deltaSubscriptions map[string][]string

func (d deltaSubscriptions) request(stream int64, req *discoveryv3.DeltaDiscoveryRequest) sentRequest {
	url := req.GetTypeUrl()
	names := slices.DeleteFunc(slices.Clone(d[url]), func(n string) bool {
		return slices.Contains(req.GetResourceNamesUnsubscribe(), n)
	})
	for _, n := range req.GetResourceNamesSubscribe() {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	d[url] = names
	return sentRequest{
		stream:      stream,
		delta:       true,
		typeURL:     url,
		nonce:       req.GetResponseNonce(),
		names:       names,
		subscribe:   slices.Clone(req.GetResourceNamesSubscribe()),
		unsubscribe: slices.Clone(req.GetResourceNamesUnsubscribe()),
		initial:     maps.Clone(req.GetInitialResourceVersions()),
		detail:      req.GetErrorDetail(),
		node:        req.GetNode(),
	}
}

// isAnswer reports whether r answers nonce of typeURL, ACK or NACK, and
// changes no subscription (a delta answer names only the nonce).
func (r sentRequest) isAnswer(typeURL, nonce string) bool {
	return r.typeURL == typeURL && r.nonce == nonce && len(r.subscribe) == 0 && len(r.unsubscribe) == 0
}

// wantAck fails unless r ACKs nonce of typeURL; a SotW ACK must also name
// version, the version accepted.
func wantAck(t *testing.T, r sentRequest, typeURL, nonce, version string) {
	t.Helper()
	if !r.isAnswer(typeURL, nonce) || r.detail != nil || (!r.delta && r.version != version) {
		t.Fatalf("request %+v, want an ACK of %s nonce %q (SotW: version %q)", r, typeLabel(typeURL), nonce, version)
	}
}

// wantNack fails unless r NACKs nonce of typeURL with an InvalidArgument
// error_detail holding detail; a SotW NACK must also name kept, the version
// still accepted.
func wantNack(t *testing.T, r sentRequest, typeURL, nonce, kept, detail string) {
	t.Helper()
	if !r.isAnswer(typeURL, nonce) || (!r.delta && r.version != kept) {
		t.Fatalf("request %+v, want a NACK of %s nonce %q (SotW: version %q)", r, typeLabel(typeURL), nonce, kept)
	}
	if d := r.detail; d.GetCode() != int32(codes.InvalidArgument) || !strings.Contains(d.GetMessage(), detail) {
		t.Errorf("error_detail %v, want InvalidArgument containing %q", d, detail)
	}
}

// wantSubscription fails unless r is a subscription of typeURL to exactly
// names, no answer.
func wantSubscription(t *testing.T, r sentRequest, typeURL string, names ...string) {
	t.Helper()
	if r.typeURL != typeURL || (r.delta && r.nonce != "") || r.detail != nil || !slices.Equal(r.names, names) {
		t.Fatalf("request %+v, want a %s subscription to %v", r, typeLabel(typeURL), names)
	}
}

func TestProtocolText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Protocol
		err  bool
	}{
		{"delta", ProtocolDelta, false},
		{"sotw", ProtocolSotW, false},
		{"", "", true},
		{"incremental", "", true},
		{"SotW", "", true},
	} {
		var p Protocol
		err := p.UnmarshalText([]byte(tc.in))
		if (err != nil) != tc.err || p != tc.want {
			t.Errorf("UnmarshalText(%q) = %q, %v; want %q, error %v", tc.in, p, err, tc.want, tc.err)
		}
		if err != nil && !strings.Contains(err.Error(), "want delta or sotw") {
			t.Errorf("UnmarshalText(%q) error %q does not name the choices", tc.in, err)
		}
	}
	if got, _ := Protocol("").MarshalText(); string(got) != "sotw" {
		t.Errorf("zero Protocol marshals as %q, want sotw", got)
	}
}
