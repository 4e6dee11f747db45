package xds

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// ProxyStatus is what one connected proxy last did with its configuration.
type ProxyStatus struct {
	Node     string
	Identity string
	// Acked is the last version the proxy accepted, per type URL.
	Acked map[string]string
	// Nacked is the error detail of the proxy's last refusal, per type URL,
	// cleared when it accepts that type again.
	Nacked map[string]string
	Since  time.Time
}

// streams implements go-control-plane's server callbacks: it authorizes
// every stream and records ACKs and NACKs.
type streams struct {
	log       *slog.Logger
	metrics   *metrics
	authorize func(node string, peer spiffeid.ID) error

	mu     sync.Mutex
	byID   map[int64]*ProxyStatus
	peerOf map[int64]spiffeid.ID
}

func newStreams(log *slog.Logger, m *metrics, authorize func(string, spiffeid.ID) error) *streams {
	return &streams{
		log:       log,
		metrics:   m,
		authorize: authorize,
		byID:      map[int64]*ProxyStatus{},
		peerOf:    map[int64]spiffeid.ID{},
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

func (s *streams) open(ctx context.Context, id int64) error {
	pid, err := peerID(ctx)
	if err != nil {
		s.metrics.rejected.Inc()
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peerOf[id] = pid
	return nil
}

func (s *streams) closed(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.peerOf, id)
	delete(s.byID, id)
}

// request authorizes the node of every request, then records an ACK or a
// NACK. The node is checked on each request, not just the first, because a
// client may change it mid-stream.
func (s *streams) request(id int64, node *corev3.Node, typeURL, version string, nack *string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pid := s.peerOf[id]
	st := s.byID[id]
	if st == nil || (node != nil && node.GetId() != st.Node) {
		if err := s.authorize(node.GetId(), pid); err != nil {
			s.metrics.rejected.Inc()
			s.log.Warn("xDS stream refused", "node", node.GetId(), "peer", pid.String(), "error", err)
			return err
		}
		st = &ProxyStatus{Node: node.GetId(), Identity: pid.String(), Acked: map[string]string{}, Nacked: map[string]string{}, Since: time.Now()}
		s.byID[id] = st
	}
	switch {
	case nack != nil:
		st.Nacked[typeURL] = *nack
		s.metrics.nacks.WithLabelValues(typeURL).Inc()
		s.log.Warn("proxy refused configuration", "node", st.Node, "type", typeURL, "detail", *nack)
	case version != "":
		st.Acked[typeURL] = version
		delete(st.Nacked, typeURL)
	}
	return nil
}

func (s *streams) status() []ProxyStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ProxyStatus, 0, len(s.byID))
	for _, st := range s.byID {
		c := *st
		c.Acked = copyMap(st.Acked)
		c.Nacked = copyMap(st.Nacked)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

func copyMap(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// OnStreamOpen implements go-control-plane's callbacks.
func (s *streams) OnStreamOpen(ctx context.Context, id int64, _ string) error { return s.open(ctx, id) }

// OnStreamClosed implements go-control-plane's callbacks.
func (s *streams) OnStreamClosed(id int64, _ *corev3.Node) { s.closed(id) }

// OnStreamRequest implements go-control-plane's callbacks.
func (s *streams) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	var nack *string
	if d := req.GetErrorDetail(); d != nil {
		msg := d.GetMessage()
		nack = &msg
	}
	return s.request(id, req.GetNode(), req.GetTypeUrl(), req.GetVersionInfo(), nack)
}

// OnStreamResponse implements go-control-plane's callbacks.
func (s *streams) OnStreamResponse(context.Context, int64, *discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {
}

// OnDeltaStreamOpen implements go-control-plane's callbacks.
func (s *streams) OnDeltaStreamOpen(ctx context.Context, id int64, _ string) error {
	return s.open(ctx, id)
}

// OnDeltaStreamClosed implements go-control-plane's callbacks.
func (s *streams) OnDeltaStreamClosed(id int64, _ *corev3.Node) { s.closed(id) }

// OnStreamDeltaRequest implements go-control-plane's callbacks.
func (s *streams) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	var nack *string
	if d := req.GetErrorDetail(); d != nil {
		msg := d.GetMessage()
		nack = &msg
	}
	return s.request(id, req.GetNode(), req.GetTypeUrl(), "", nack)
}

// OnStreamDeltaResponse implements go-control-plane's callbacks.
func (s *streams) OnStreamDeltaResponse(int64, *discoveryv3.DeltaDiscoveryRequest, *discoveryv3.DeltaDiscoveryResponse) {
}

// OnFetchRequest refuses REST fetches: they carry no stream to authorize.
func (s *streams) OnFetchRequest(context.Context, *discoveryv3.DiscoveryRequest) error {
	return status.Error(codes.Unimplemented, "weft serves xDS over ADS streams only")
}

// OnFetchResponse implements go-control-plane's callbacks.
func (s *streams) OnFetchResponse(*discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {}
