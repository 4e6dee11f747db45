package xds

import (
	"context"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// The two ADS variants, as ProxyStatus.Variant and the variant label of
// weft_xds_connected_proxies.
const (
	variantSotW  = "sotw"
	variantDelta = "delta"
)

// ProxyStatus is what one connected proxy last did with its configuration.
type ProxyStatus struct {
	Node     string
	Identity string
	// Variant is "sotw" (state of the world) or "delta" (incremental).
	Variant string
	// Acked is the last version the proxy accepted, per type URL. For a
	// delta stream it is the system version of the last response of that
	// type the proxy acknowledged: a type whose resources did not change
	// in a push gets no response, so it may lag behind the other types.
	Acked map[string]string
	// Nacked is the error detail of the proxy's last refusal, per type URL,
	// cleared when it accepts that type again.
	Nacked map[string]string
	// Latest is the version of the last snapshot set for the node: a
	// state-of-the-world proxy is in sync when every type's Acked equals
	// it; a delta proxy when its newest ACK does (see Acked). Empty when
	// no snapshot has been set for the node yet.
	Latest string
	Since  time.Time
}

// streamKey tells streams apart: go-control-plane numbers state-of-the-world
// and delta streams with two separate counters, so an ID alone is ambiguous.
type streamKey struct {
	delta bool
	id    int64
}

// stream is one open ADS stream.
type stream struct {
	peer spiffeid.ID
	// status is nil until the stream's first request has been authorized.
	status *ProxyStatus
	// sent holds, per type URL, the nonce and version of the last delta
	// response: a delta ACK names the nonce, not the version.
	sent map[string]sentResponse
	// timed holds, per type URL, the version whose ACK latency has been
	// observed, so that a repeated ACK is not counted twice.
	timed map[string]string
}

type sentResponse struct{ nonce, version string }

// push is a snapshot set for a node, for the ACK latency.
type push struct {
	version string
	at      time.Time
	// connect: set because the node connected, not by an update; its
	// ACK measures the connection, not a push, and is not timed.
	connect bool
}

// streams implements go-control-plane's server callbacks: it authorizes
// every stream and records ACKs and NACKs, for both variants.
type streams struct {
	log       *slog.Logger
	metrics   *metrics
	authorize func(node string, peer spiffeid.ID) error

	// up and down are told, outside mu, that a node's first authorized
	// stream opened (before its request is answered) or its last one
	// closed (connected.go); nil: nobody is.
	up, down func(node string)

	mu    sync.Mutex
	byKey map[streamKey]*stream
	// nodes counts each node's authorized open streams.
	nodes map[string]int
	// pushes are the last recentPushes snapshots set per node, oldest
	// first: under a burst of updates a proxy may ACK a version after the
	// next one has been set.
	pushes map[string][]push
}

const recentPushes = 4

func newStreams(log *slog.Logger, m *metrics, authorize func(string, spiffeid.ID) error) *streams {
	return &streams{
		log:       log,
		metrics:   m,
		authorize: authorize,
		byKey:     map[streamKey]*stream{},
		nodes:     map[string]int{},
		pushes:    map[string][]push{},
	}
}

// peerID returns the SPIFFE ID of the client certificate the TLS handshake
// verified, or an error when the stream carries none.
func peerID(ctx context.Context) (spiffeid.ID, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return spiffeid.ID{}, status.Error(codes.Unauthenticated, "no peer information")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return spiffeid.ID{}, status.Error(codes.Unauthenticated, "xDS requires a client certificate issued by the mesh CA")
	}
	id, err := x509svid.IDFromCert(info.State.VerifiedChains[0][0])
	if err != nil {
		return spiffeid.ID{}, status.Errorf(codes.Unauthenticated, "client certificate has no SPIFFE ID: %v", err)
	}
	return id, nil
}

func (k streamKey) variant() string {
	if k.delta {
		return variantDelta
	}
	return variantSotW
}

func (s *streams) open(ctx context.Context, key streamKey) error {
	pid, err := peerID(ctx)
	if err != nil {
		s.metrics.rejected.Inc()
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byKey[key] = &stream{peer: pid, sent: map[string]sentResponse{}, timed: map[string]string{}}
	return nil
}

func (s *streams) closed(key streamKey) {
	s.mu.Lock()
	var gone string // a node whose last stream this was
	if st := s.byKey[key]; st != nil && st.status != nil {
		s.metrics.connected.WithLabelValues(key.variant()).Dec()
		if s.dropNodeLocked(st.status.Node) {
			gone = st.status.Node
		}
	}
	delete(s.byKey, key)
	s.mu.Unlock()
	if gone != "" && s.down != nil {
		s.down(gone)
	}
}

// dropNodeLocked counts one stream of node less and reports whether it
// was the last.
func (s *streams) dropNodeLocked(node string) bool {
	if s.nodes[node]--; s.nodes[node] > 0 {
		return false
	}
	delete(s.nodes, node)
	return true
}

// connected reports whether node has an authorized open stream.
func (s *streams) connected(node string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nodes[node] > 0
}

// request authorizes the node of every request, then records an ACK or a
// NACK. The node is checked on each request, not just the first, because a
// client may change it mid-stream. A delta request names the response it
// acknowledges by nonce only; its version is looked up in what was sent.
//
// A node's first stream is announced (up) before request returns, hence
// before go-control-plane looks for the node's snapshot; a stream that
// switches nodes counts as leaving the old one (down).
func (s *streams) request(key streamKey, node *corev3.Node, typeURL, version, nonce string, nack *string) error {
	up, down, err := s.requestLocked(key, node, typeURL, version, nonce, nack)
	if down != "" && s.down != nil {
		s.down(down)
	}
	if up != "" && s.up != nil {
		s.up(up)
	}
	return err
}

// requestLocked is request under s.mu; it returns the node whose first
// stream this became and the node whose last stream it was, if any.
func (s *streams) requestLocked(key streamKey, node *corev3.Node, typeURL, version, nonce string, nack *string) (up, down string, _ error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.byKey[key]
	if st == nil {
		return "", "", status.Error(codes.Internal, "request on a stream that was never opened")
	}
	if st.status == nil || (node != nil && node.GetId() != st.status.Node) {
		if err := s.authorize(node.GetId(), st.peer); err != nil {
			s.metrics.rejected.Inc()
			s.log.Warn("xDS stream refused", "node", node.GetId(), "peer", st.peer.String(), "error", err)
			return "", "", err
		}
		if st.status == nil {
			s.metrics.connected.WithLabelValues(key.variant()).Inc()
		} else if s.dropNodeLocked(st.status.Node) {
			down = st.status.Node
		}
		if s.nodes[node.GetId()]++; s.nodes[node.GetId()] == 1 {
			up = node.GetId()
		}
		st.status = &ProxyStatus{
			Node: node.GetId(), Identity: st.peer.String(), Variant: key.variant(),
			Acked: map[string]string{}, Nacked: map[string]string{}, Since: time.Now(),
		}
	}
	if key.delta {
		version = ""
		if sent, ok := st.sent[typeURL]; ok && nonce != "" && sent.nonce == nonce {
			version = sent.version
		}
	}
	switch {
	case nack != nil:
		st.status.Nacked[typeURL] = *nack
		s.metrics.nacks.WithLabelValues(typeURL).Inc()
		s.log.Warn("proxy refused configuration", "node", st.status.Node, "type", typeURL, "detail", *nack)
	case version != "":
		st.status.Acked[typeURL] = version
		delete(st.status.Nacked, typeURL)
		s.observeACKLocked(st, typeURL, version)
	}
	return up, down, nil
}

// observeACKLocked records how long the proxy took to accept one of the
// last snapshots set for it, once per type and version, and only when the
// stream was already open then: a new stream's first ACK measures its
// connection, not a push.
func (s *streams) observeACKLocked(st *stream, typeURL, version string) {
	if st.timed[typeURL] == version {
		return
	}
	for _, p := range s.pushes[st.status.Node] {
		if p.version == version && !p.connect && !st.status.Since.After(p.at) {
			st.timed[typeURL] = version
			s.metrics.ackLatency.WithLabelValues(typeURL).Observe(time.Since(p.at).Seconds())
			return
		}
	}
}

// deltaResponse remembers the nonce and version of a delta response, which
// the proxy's ACK or NACK will name by nonce.
func (s *streams) deltaResponse(key streamKey, resp *discoveryv3.DeltaDiscoveryResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.byKey[key]; st != nil {
		st.sent[resp.GetTypeUrl()] = sentResponse{nonce: resp.GetNonce(), version: resp.GetSystemVersionInfo()}
	}
}

// pushed records that node's snapshot is now version, set at time at
// (connect: because the node connected).
func (s *streams) pushed(node, version string, at time.Time, connect bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := append(s.pushes[node], push{version: version, at: at, connect: connect})
	if len(ps) > recentPushes {
		ps = slices.Delete(ps, 0, len(ps)-recentPushes)
	}
	s.pushes[node] = ps
}

// forget drops what pushed recorded for a node that left the mesh.
func (s *streams) forget(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pushes, node)
}

func (s *streams) status() []ProxyStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ProxyStatus, 0, len(s.byKey))
	for _, st := range s.byKey {
		if st.status == nil {
			continue
		}
		c := *st.status
		c.Acked = copyMap(st.status.Acked)
		c.Nacked = copyMap(st.status.Nacked)
		if ps := s.pushes[c.Node]; len(ps) > 0 {
			c.Latest = ps[len(ps)-1].version
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Node != out[j].Node {
			return out[i].Node < out[j].Node
		}
		return out[i].Since.Before(out[j].Since)
	})
	return out
}

func copyMap(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// nackDetail is the message of a request's error detail, nil for an ACK.
func nackDetail(d *statuspb.Status) *string {
	if d == nil {
		return nil
	}
	msg := d.GetMessage()
	return &msg
}

// OnStreamOpen implements go-control-plane's callbacks.
func (s *streams) OnStreamOpen(ctx context.Context, id int64, _ string) error {
	return s.open(ctx, streamKey{id: id})
}

// OnStreamClosed implements go-control-plane's callbacks.
func (s *streams) OnStreamClosed(id int64, _ *corev3.Node) { s.closed(streamKey{id: id}) }

// OnStreamRequest implements go-control-plane's callbacks.
func (s *streams) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	return s.request(streamKey{id: id}, req.GetNode(), req.GetTypeUrl(), req.GetVersionInfo(), req.GetResponseNonce(),
		nackDetail(req.GetErrorDetail()))
}

// OnStreamResponse implements go-control-plane's callbacks.
func (s *streams) OnStreamResponse(context.Context, int64, *discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {
}

// OnDeltaStreamOpen implements go-control-plane's callbacks.
func (s *streams) OnDeltaStreamOpen(ctx context.Context, id int64, _ string) error {
	return s.open(ctx, streamKey{delta: true, id: id})
}

// OnDeltaStreamClosed implements go-control-plane's callbacks.
func (s *streams) OnDeltaStreamClosed(id int64, _ *corev3.Node) {
	s.closed(streamKey{delta: true, id: id})
}

// OnStreamDeltaRequest implements go-control-plane's callbacks.
func (s *streams) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	return s.request(streamKey{delta: true, id: id}, req.GetNode(), req.GetTypeUrl(), "", req.GetResponseNonce(),
		nackDetail(req.GetErrorDetail()))
}

// OnStreamDeltaResponse implements go-control-plane's callbacks.
func (s *streams) OnStreamDeltaResponse(id int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
	s.deltaResponse(streamKey{delta: true, id: id}, resp)
}

// OnFetchRequest refuses REST fetches: they carry no stream to authorize.
func (s *streams) OnFetchRequest(context.Context, *discoveryv3.DiscoveryRequest) error {
	return status.Error(codes.Unimplemented, "weft serves xDS over ADS streams only")
}

// OnFetchResponse implements go-control-plane's callbacks.
func (s *streams) OnFetchResponse(*discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {}
