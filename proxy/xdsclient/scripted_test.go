package xdsclient

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// scriptedServer is a real gRPC ADS server, state of the world and delta,
// whose responses the test writes by hand, for what a well-behaved control
// plane never sends.
type scriptedServer struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	streams chan *scriptedStream
}

// scriptedStream is one stream of either protocol.
type scriptedStream struct {
	sotw  discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer
	delta discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer
	reqs  chan sentRequest
}

func (s *scriptedServer) StreamAggregatedResources(stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	return s.serve(stream.Context(), &scriptedStream{sotw: stream}, func() (sentRequest, error) {
		req, err := stream.Recv()
		return sotwRequest(0, req), err
	})
}

func (s *scriptedServer) DeltaAggregatedResources(stream discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	subs := deltaSubscriptions{}
	return s.serve(stream.Context(), &scriptedStream{delta: stream}, func() (sentRequest, error) {
		req, err := stream.Recv()
		if err != nil {
			return sentRequest{}, err
		}
		return subs.request(0, req), nil
	})
}

// serve hands ss to the test and queues its requests until it ends.
func (s *scriptedServer) serve(ctx context.Context, ss *scriptedStream, recv func() (sentRequest, error)) error {
	ss.reqs = make(chan sentRequest, 64)
	select {
	case s.streams <- ss:
	case <-ctx.Done():
		return nil
	}
	defer close(ss.reqs)
	for {
		req, err := recv()
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

// startScriptedClient starts a scripted server and a client speaking p to
// it, and returns the client and its stream once the opening CDS and LDS
// requests have arrived.
func startScriptedClient(t *testing.T, p Protocol, h Handler) (*Client, *scriptedStream) {
	t.Helper()
	addr, streams := startScripted(t)
	c := startClient(t, p, dial(t, addr), h, nil)
	s := acceptStream(t, streams)
	s.subscribed(t)
	return c, s
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
func (s *scriptedStream) next(t *testing.T) sentRequest {
	t.Helper()
	select {
	case req, ok := <-s.reqs:
		if !ok {
			t.Fatal("stream closed")
		}
		return req
	case <-time.After(10 * time.Second):
		t.Fatal("no request from the client")
		return sentRequest{}
	}
}

// quiet fails if the client sends anything within d.
func (s *scriptedStream) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case req := <-s.reqs:
		t.Fatalf("unexpected request %+v", req)
	case <-time.After(d):
	}
}

// respond sends resources of typeURL: as a SotW response, or as a delta
// response naming each resource, at resource version "<version>/<name>".
func (s *scriptedStream) respond(t *testing.T, typeURL, version, nonce string, resources ...*anypb.Any) {
	t.Helper()
	s.respondDelta(t, typeURL, version, nonce, nil, resources...)
}

// respondDelta is respond with removed_resources, for delta streams.
func (s *scriptedStream) respondDelta(t *testing.T, typeURL, version, nonce string, removed []string, resources ...*anypb.Any) {
	t.Helper()
	if s.sotw != nil {
		if len(removed) > 0 {
			t.Fatal("removed_resources on a SotW stream")
		}
		err := s.sotw.Send(&discoveryv3.DiscoveryResponse{
			TypeUrl:     typeURL,
			VersionInfo: version,
			Nonce:       nonce,
			Resources:   resources,
		})
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		return
	}
	var rs []*discoveryv3.Resource
	for _, a := range resources {
		name := resourceName(a)
		rs = append(rs, &discoveryv3.Resource{Name: name, Version: version + "/" + name, Resource: a})
	}
	s.sendDelta(t, &discoveryv3.DeltaDiscoveryResponse{
		TypeUrl:           typeURL,
		SystemVersionInfo: version,
		Nonce:             nonce,
		Resources:         rs,
		RemovedResources:  removed,
	})
}

func (s *scriptedStream) sendDelta(t *testing.T, resp *discoveryv3.DeltaDiscoveryResponse) {
	t.Helper()
	if err := s.delta.Send(resp); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// resourceName is the name inside a, "" when it does not unmarshal.
func resourceName(a *anypb.Any) string {
	msg, ok := newMessage(a.GetTypeUrl())
	if !ok || a.UnmarshalTo(msg) != nil {
		return ""
	}
	return nameOf(msg)
}

func mustAny(t testing.TB, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatalf("any: %v", err)
	}
	return a
}

// subscribed reads the client's opening CDS and LDS requests: wildcard, or
// for delta "*", with nothing held yet.
func (s *scriptedStream) subscribed(t *testing.T) {
	t.Helper()
	for _, want := range []string{ClusterType, ListenerType} {
		req := s.next(t)
		wildcard := len(req.names) == 0
		if req.delta {
			wildcard = slices.Equal(req.names, []string{"*"}) && len(req.initial) == 0
		}
		if req.typeURL != want || !wildcard || req.nonce != "" {
			t.Fatalf("opening request %+v, want a wildcard %s request", req, want)
		}
	}
}

func TestMalformedResponsesAreNacked(t *testing.T) {
	forEachProtocol(t, testMalformedResponsesAreNacked)
}

func testMalformedResponsesAreNacked(t *testing.T, p Protocol) {
	good := mustAny(t, edsCluster("a", ""))
	tests := []struct {
		name      string
		resources []*anypb.Any
		want      string
		stale     []string // what a delta fix must remove besides "a"
	}{{
		name:      "resource of another type",
		resources: []*anypb.Any{good, mustAny(t, testListener("l1", 15001))},
		want:      `resource 1: type "` + ListenerType + `" in a "` + ClusterType + `" response`,
		stale:     []string{"l1"},
	}, {
		name:      "resource that does not unmarshal",
		resources: []*anypb.Any{{TypeUrl: ClusterType, Value: []byte{0x0a, 0x7f, 'x'}}, good},
		want:      "resource 0: unmarshalling " + ClusterType,
		stale:     []string{""},
	}, {
		name:      "duplicate name",
		resources: []*anypb.Any{good, mustAny(t, staticCluster("b")), good},
		want:      `resource 2: duplicate name "a" (also resource 0)`,
		stale:     []string{"b"},
	}, {
		name:      "empty name",
		resources: []*anypb.Any{good, mustAny(t, &clusterv3.Cluster{})},
		want:      "resource 1: empty name",
		stale:     []string{""},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			verifyNoLeaks(t)
			rec := newRecorder()
			c, s := startScriptedClient(t, p, rec)
			s.respond(t, ClusterType, "v1", "1", tc.resources...)
			wantNack(t, s.next(t), ClusterType, "1", "", tc.want)
			if st := c.Status().Types[ClusterType]; st.Version != "" || st.Accepted || st.RejectedVersion != "v1" || !strings.Contains(st.Error, tc.want) {
				t.Errorf("status %+v, want nothing accepted, rejected v1 with %q", st, tc.want)
			}
			if calls := rec.callList(); len(calls) != 0 {
				t.Errorf("handler called with a malformed response: %v", calls)
			}

			// A good response is applied. A delta one is composed with
			// the rejected changes, so it replaces or removes them all.
			s.respondDelta(t, ClusterType, "v2", "2", deltaOnly(p, tc.stale), good)
			wantAck(t, s.next(t), ClusterType, "2", "v2")
			if got, want := rec.state(), "cds=a eds= lds="; got != want {
				t.Errorf("handler state %q, want %q", got, want)
			}
		})
	}
}

// deltaOnly returns removed for delta, nil for SotW, which removes nothing
// by name.
func deltaOnly(p Protocol, removed []string) []string {
	if p != ProtocolDelta {
		return nil
	}
	return removed
}

// TestMalformedDeltaResponsesAreNacked covers what only a delta response
// can get wrong.
func TestMalformedDeltaResponsesAreNacked(t *testing.T) {
	a := mustAny(t, staticCluster("a"))
	tests := []struct {
		name     string
		resource *discoveryv3.Resource
		removed  []string
		want     string
	}{
		{"name differs from the body's", &discoveryv3.Resource{Name: "b", Version: "1", Resource: a}, nil,
			`resource 0: named "b" in the response but "a" in its body`},
		{"no name", &discoveryv3.Resource{Version: "1", Resource: a}, nil, `resource 0: named "" in the response`},
		{"no body", &discoveryv3.Resource{Name: "a", Version: "1"}, nil, `resource 0 ("a"): no body`},
		{"updated and removed", &discoveryv3.Resource{Name: "a", Version: "1", Resource: a}, []string{"a"},
			`resource 0: "a" is also in removed_resources`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			verifyNoLeaks(t)
			rec := newRecorder()
			c, s := startScriptedClient(t, ProtocolDelta, rec)
			s.sendDelta(t, &discoveryv3.DeltaDiscoveryResponse{TypeUrl: ClusterType, SystemVersionInfo: "v1", Nonce: "1",
				Resources: []*discoveryv3.Resource{tc.resource}, RemovedResources: tc.removed})
			wantNack(t, s.next(t), ClusterType, "1", "", tc.want)
			if st := c.Status().Types[ClusterType]; st.Accepted || st.RejectedVersion != "v1" {
				t.Errorf("status %+v, want nothing accepted, v1 rejected", st)
			}
			if calls := rec.callList(); len(calls) != 0 {
				t.Errorf("handler called with a malformed response: %v", calls)
			}
		})
	}
}

func TestListenersWaitForClusters(t *testing.T) {
	forEachProtocol(t, testListenersWaitForClusters)
}

func testListenersWaitForClusters(t *testing.T, p Protocol) {
	verifyNoLeaks(t)
	rec := newRecorder()
	_, s := startScriptedClient(t, p, rec)

	// Listeners first: the client must hold them until it has clusters.
	s.respond(t, ListenerType, "l1", "1", mustAny(t, testListener("l1", 15001)))
	s.quiet(t, 200*time.Millisecond)
	if calls := rec.callList(); len(calls) != 0 {
		t.Fatalf("handler called before any cluster arrived: %v", calls)
	}

	s.respond(t, ClusterType, "c1", "2",
		mustAny(t, staticCluster("s")), mustAny(t, edsCluster("b", "")), mustAny(t, edsCluster("a", "svc-a")))
	wantAck(t, s.next(t), ClusterType, "2", "c1")
	eds := s.next(t)
	wantSubscription(t, eds, EndpointType, "b", "svc-a")
	if eds.version != "" || eds.nonce != "" || len(eds.initial) != 0 {
		t.Errorf("first EDS request %+v, want no version, nonce or initial versions", eds)
	}
	wantAck(t, s.next(t), ListenerType, "1", "l1")

	// Only subscribed assignments reach the handler.
	s.respond(t, EndpointType, "e1", "3",
		mustAny(t, assignment("svc-a", "127.0.0.2")), mustAny(t, assignment("zz", "127.0.0.3")))
	ack := s.next(t)
	wantAck(t, ack, EndpointType, "3", "e1")
	if !ack.delta && !slices.Equal(ack.names, []string{"b", "svc-a"}) {
		t.Errorf("ACK %+v, want it to keep the subscription [b svc-a]", ack)
	}
	// A later response carrying only b keeps svc-a (SotW EDS responses need
	// not be complete; delta ones never are).
	s.respond(t, EndpointType, "e2", "4", mustAny(t, assignment("b", "127.0.0.4")))
	wantAck(t, s.next(t), EndpointType, "4", "e2")

	// New clusters with the same EDS names: ACK, and no new EDS request.
	if p == ProtocolDelta {
		s.respondDelta(t, ClusterType, "c2", "5", []string{"s"})
	} else {
		s.respond(t, ClusterType, "c2", "5", mustAny(t, edsCluster("b", "")), mustAny(t, edsCluster("a", "svc-a")))
	}
	wantAck(t, s.next(t), ClusterType, "5", "c2")
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
	forEachProtocol(t, func(t *testing.T, p Protocol) {
		verifyNoLeaks(t)
		rec := newRecorder()
		_, s := startScriptedClient(t, p, rec)

		// Endpoints before any EDS request, and routes before any RDS
		// request: neither is applied nor answered.
		s.respond(t, EndpointType, "e1", "1", mustAny(t, assignment("a", "127.0.0.2")))
		s.respond(t, RouteType, "r1", "2")
		s.quiet(t, 200*time.Millisecond)
		if calls := rec.callList(); len(calls) != 0 {
			t.Errorf("handler called for unrequested types: %v", calls)
		}
	})
}
