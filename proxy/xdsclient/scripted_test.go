package xdsclient

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// scriptedServer is a real gRPC ADS server whose responses the test writes
// by hand, for what a well-behaved control plane never sends.
type scriptedServer struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	streams chan *scriptedStream
}

type scriptedStream struct {
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer
	reqs   chan *discoveryv3.DiscoveryRequest
}

func (s *scriptedServer) StreamAggregatedResources(stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	ss := &scriptedStream{stream: stream, reqs: make(chan *discoveryv3.DiscoveryRequest, 64)}
	select {
	case s.streams <- ss:
	case <-stream.Context().Done():
		return nil
	}
	defer close(ss.reqs)
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		ss.reqs <- req
	}
}

// startScripted serves a scriptedServer on loopback and returns the address
// and the channel of accepted streams.
func startScripted(t *testing.T) (string, <-chan *scriptedStream) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := &scriptedServer{streams: make(chan *scriptedStream)}
	gs := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := gs.Serve(lis); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-done
	})
	return lis.Addr().String(), srv.streams
}

func acceptStream(t *testing.T, streams <-chan *scriptedStream) *scriptedStream {
	t.Helper()
	select {
	case s := <-streams:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no ADS stream opened")
		return nil
	}
}

// next returns the next request the client sent.
func (s *scriptedStream) next(t *testing.T) *discoveryv3.DiscoveryRequest {
	t.Helper()
	select {
	case req, ok := <-s.reqs:
		if !ok {
			t.Fatal("stream closed")
		}
		return req
	case <-time.After(10 * time.Second):
		t.Fatal("no request from the client")
		return nil
	}
}

// quiet fails if the client sends anything within d.
func (s *scriptedStream) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case req := <-s.reqs:
		t.Fatalf("unexpected request %v", req)
	case <-time.After(d):
	}
}

func (s *scriptedStream) respond(t *testing.T, typeURL, version, nonce string, resources ...*anypb.Any) {
	t.Helper()
	err := s.stream.Send(&discoveryv3.DiscoveryResponse{
		TypeUrl:     typeURL,
		VersionInfo: version,
		Nonce:       nonce,
		Resources:   resources,
	})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
}

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatalf("any: %v", err)
	}
	return a
}

// subscribed reads the client's opening CDS and LDS requests.
func (s *scriptedStream) subscribed(t *testing.T) {
	t.Helper()
	for _, want := range []string{ClusterType, ListenerType} {
		if req := s.next(t); req.GetTypeUrl() != want || len(req.GetResourceNames()) != 0 {
			t.Fatalf("opening request %v, want a wildcard %s request", req, want)
		}
	}
}

func TestMalformedResponsesAreNacked(t *testing.T) {
	verifyNoLeaks(t)
	addr, streams := startScripted(t)
	rec := newRecorder()
	c := startClient(t, dial(t, addr), rec, nil)
	s := acceptStream(t, streams)
	s.subscribed(t)

	good := mustAny(t, edsCluster("a", ""))
	tests := []struct {
		name      string
		resources []*anypb.Any
		want      string
	}{{
		name:      "resource of another type",
		resources: []*anypb.Any{good, mustAny(t, testListener("l1", 15001))},
		want:      `resource 1: type "` + ListenerType + `" in a "` + ClusterType + `" response`,
	}, {
		name:      "resource that does not unmarshal",
		resources: []*anypb.Any{{TypeUrl: ClusterType, Value: []byte{0x0a, 0x7f, 'x'}}, good},
		want:      "resource 0: unmarshalling " + ClusterType,
	}, {
		name:      "duplicate name",
		resources: []*anypb.Any{good, mustAny(t, staticCluster("b")), good},
		want:      `resource 2: duplicate name "a" (also resource 0)`,
	}, {
		name:      "empty name",
		resources: []*anypb.Any{good, mustAny(t, &clusterv3.Cluster{})},
		want:      "resource 1: empty name",
	}}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nonce := string(rune('1' + i))
			s.respond(t, ClusterType, "v"+nonce, nonce, tc.resources...)
			req := s.next(t)
			if req.GetTypeUrl() != ClusterType || req.GetResponseNonce() != nonce || req.GetVersionInfo() != "" {
				t.Fatalf("answer %v, want a CDS NACK of nonce %s keeping the empty version", req, nonce)
			}
			d := req.GetErrorDetail()
			if d.GetCode() != int32(codes.InvalidArgument) || !strings.Contains(d.GetMessage(), tc.want) {
				t.Errorf("error_detail %v, want InvalidArgument containing %q", d, tc.want)
			}
			if st := c.Status().Types[ClusterType]; st.Version != "" || st.RejectedVersion != "v"+nonce || !strings.Contains(st.Error, tc.want) {
				t.Errorf("status %+v, want no version, rejected v%s with %q", st, nonce, tc.want)
			}
		})
	}
	if calls := rec.callList(); len(calls) != 0 {
		t.Errorf("handler called with malformed responses: %v", calls)
	}

	// A good response after all that is applied.
	s.respond(t, ClusterType, "v9", "9", good)
	if req := s.next(t); req.GetResponseNonce() != "9" || req.GetVersionInfo() != "v9" || req.GetErrorDetail() != nil {
		t.Errorf("answer %v, want an ACK of v9", req)
	}
	if got, want := rec.state(), "cds=a eds= lds="; got != want {
		t.Errorf("handler state %q, want %q", got, want)
	}
}

func TestListenersWaitForClusters(t *testing.T) {
	verifyNoLeaks(t)
	addr, streams := startScripted(t)
	rec := newRecorder()
	startClient(t, dial(t, addr), rec, nil)
	s := acceptStream(t, streams)
	s.subscribed(t)

	// Listeners first: the client must hold them until it has clusters.
	s.respond(t, ListenerType, "l1", "1", mustAny(t, testListener("l1", 15001)))
	s.quiet(t, 200*time.Millisecond)
	if calls := rec.callList(); len(calls) != 0 {
		t.Fatalf("handler called before any cluster arrived: %v", calls)
	}

	s.respond(t, ClusterType, "c1", "2",
		mustAny(t, staticCluster("s")), mustAny(t, edsCluster("b", "")), mustAny(t, edsCluster("a", "svc-a")))
	want := []struct {
		typeURL, version, nonce string
		names                   []string
	}{
		{ClusterType, "c1", "2", nil},
		{EndpointType, "", "", []string{"b", "svc-a"}},
		{ListenerType, "l1", "1", nil},
	}
	for _, w := range want {
		req := s.next(t)
		if req.GetTypeUrl() != w.typeURL || req.GetVersionInfo() != w.version || req.GetResponseNonce() != w.nonce ||
			!slices.Equal(req.GetResourceNames(), w.names) || req.GetErrorDetail() != nil {
			t.Errorf("request %v, want %s version %q nonce %q names %v", req, w.typeURL, w.version, w.nonce, w.names)
		}
	}

	// Only subscribed assignments reach the handler.
	s.respond(t, EndpointType, "e1", "3",
		mustAny(t, assignment("svc-a", "127.0.0.2")), mustAny(t, assignment("zz", "127.0.0.3")))
	if req := s.next(t); req.GetVersionInfo() != "e1" || req.GetErrorDetail() != nil ||
		!slices.Equal(req.GetResourceNames(), []string{"b", "svc-a"}) {
		t.Errorf("answer %v, want an ACK of e1 keeping the subscription", req)
	}
	// A later response carrying only b keeps svc-a (EDS responses need not
	// be complete).
	s.respond(t, EndpointType, "e2", "4", mustAny(t, assignment("b", "127.0.0.4")))
	if req := s.next(t); req.GetVersionInfo() != "e2" || req.GetErrorDetail() != nil {
		t.Errorf("answer %v, want an ACK of e2", req)
	}

	// New clusters with the same EDS names: ACK, and no new EDS request.
	s.respond(t, ClusterType, "c2", "5", mustAny(t, edsCluster("b", "")), mustAny(t, edsCluster("a", "svc-a")))
	if req := s.next(t); req.GetTypeUrl() != ClusterType || req.GetVersionInfo() != "c2" || req.GetErrorDetail() != nil {
		t.Errorf("answer %v, want an ACK of c2", req)
	}
	s.quiet(t, 200*time.Millisecond)

	var got []string
	for _, cl := range rec.callList() {
		got = append(got, cl.typ+"="+strings.Join(cl.names, ","))
	}
	wantCalls := []string{"cds=a,b,s", "lds=l1", "eds=svc-a", "eds=b,svc-a", "cds=a,b"}
	if !slices.Equal(got, wantCalls) {
		t.Errorf("handler calls %v, want %v", got, wantCalls)
	}
}

func TestIgnoresUnrequestedTypes(t *testing.T) {
	verifyNoLeaks(t)
	addr, streams := startScripted(t)
	rec := newRecorder()
	startClient(t, dial(t, addr), rec, nil)
	s := acceptStream(t, streams)
	s.subscribed(t)

	// Endpoints before any EDS request, and routes, which the client never
	// asks for: neither is applied nor answered.
	s.respond(t, EndpointType, "e1", "1", mustAny(t, assignment("a", "127.0.0.2")))
	s.respond(t, "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", "r1", "2")
	s.quiet(t, 200*time.Millisecond)
	if calls := rec.callList(); len(calls) != 0 {
		t.Errorf("handler called for unrequested types: %v", calls)
	}
}
