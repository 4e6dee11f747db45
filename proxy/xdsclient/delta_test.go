package xdsclient

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// responseNames returns the names of a delta response's resources, sorted.
func responseNames(r *discoveryv3.DeltaDiscoveryResponse) []string {
	var out []string
	for _, res := range r.GetResources() {
		out = append(out, res.GetName())
	}
	slices.Sort(out)
	return out
}

func TestDeltaEndpointChangeSendsOnlyThatAssignment(t *testing.T) {
	verifyNoLeaks(t)
	srv := startServer(t, "127.0.0.1:0")
	v1 := resources{
		clusters:  []*clusterv3.Cluster{edsCluster("a", ""), edsCluster("b", ""), edsCluster("c", "")},
		endpoints: []*endpointv3.ClusterLoadAssignment{assignment("a", "127.0.0.2"), assignment("b", "127.0.0.3"), assignment("c", "127.0.0.4")},
		listeners: []*listenerv3.Listener{testListener("l1", 15001)},
	}
	srv.setSnapshot(t, snapshot(t, "1", v1))
	rec := newRecorder()
	startClient(t, ProtocolDelta, dial(t, srv.addr), rec, nil)
	eventually(t, "EDS ACK of version 1", func() bool { return srv.acked(EndpointType, "1") })
	if got := responseNames(srv.deltaResponsesOf(EndpointType)[0]); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("first EDS response carried %v, want every subscribed assignment", got)
	}
	before := len(rec.callList())

	v2 := v1
	v2.endpoints = []*endpointv3.ClusterLoadAssignment{assignment("a", "127.0.0.2"), assignment("b", "127.0.0.9"), assignment("c", "127.0.0.4")}
	srv.setSnapshot(t, snapshot(t, "2", v2))
	eventually(t, "EDS ACK of version 2", func() bool { return srv.acked(EndpointType, "2") })

	eds := srv.deltaResponsesOf(EndpointType)
	if len(eds) != 2 || !slices.Equal(responseNames(eds[1]), []string{"b"}) || len(eds[1].GetRemovedResources()) != 0 {
		t.Errorf("EDS responses %v, want the second to carry b alone", eds)
	}
	for _, typ := range []string{ClusterType, ListenerType} {
		if n := len(srv.deltaResponsesOf(typ)); n != 1 {
			t.Errorf("%d %s responses, want only the first: the endpoint change is not theirs", n, typeLabel(typ))
		}
	}
	// The Handler still gets the whole set, once.
	calls := rec.callList()[before:]
	if len(calls) != 1 || !equalCall(calls[0], call{typ: "eds", names: []string{"a", "b", "c"}}) {
		t.Errorf("handler calls %v, want one with every assignment", calls)
	}
	if got := rec.endpoint("b").GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetAddress(); got != "127.0.0.9" {
		t.Errorf("endpoint of b is %s, want the updated 127.0.0.9", got)
	}
}

func TestDeltaRemovalsReachTheHandler(t *testing.T) {
	verifyNoLeaks(t)
	srv := startServer(t, "127.0.0.1:0")
	srv.setSnapshot(t, snapshot(t, "1", resources{
		clusters:  []*clusterv3.Cluster{edsCluster("a", ""), edsCluster("b", "")},
		endpoints: []*endpointv3.ClusterLoadAssignment{assignment("a", "127.0.0.2"), assignment("b", "127.0.0.3")},
		listeners: []*listenerv3.Listener{testListener("l1", 15001), testListener("l2", 15002)},
	}))
	rec := newRecorder()
	startClient(t, ProtocolDelta, dial(t, srv.addr), rec, nil)
	eventually(t, "EDS ACK of version 1", func() bool { return srv.acked(EndpointType, "1") })
	eventually(t, "LDS ACK of version 1", func() bool { return srv.acked(ListenerType, "1") })

	srv.setSnapshot(t, snapshot(t, "2", resources{
		clusters:  []*clusterv3.Cluster{edsCluster("a", "")},
		endpoints: []*endpointv3.ClusterLoadAssignment{assignment("a", "127.0.0.2")},
		listeners: []*listenerv3.Listener{testListener("l1", 15001)},
	}))
	eventually(t, "the removals applied", func() bool { return rec.state() == "cds=a eds=a lds=l1" })
	for _, typ := range []string{ClusterType, ListenerType} {
		eventually(t, typeLabel(typ)+" ACK of version 2", func() bool { return srv.acked(typ, "2") })
		rs := srv.deltaResponsesOf(typ)
		if last := rs[len(rs)-1]; len(last.GetResources()) != 0 || len(last.GetRemovedResources()) != 1 {
			t.Errorf("%s response %v, want one removal and nothing else", typeLabel(typ), last)
		}
	}
	want := [][]string{{"a", "b"}, {"a"}}
	eventually(t, "EDS subscriptions [[a b] [a]]", func() bool {
		return slices.EqualFunc(srv.edsSubscriptions(), want, slices.Equal)
	})
}

// TestDeltaRemovedAssignmentIsDropped: an assignment still subscribed can
// be removed (its service lost its last EndpointSlice).
func TestDeltaRemovedAssignmentIsDropped(t *testing.T) {
	verifyNoLeaks(t)
	rec := newRecorder()
	_, s := startScriptedClient(t, ProtocolDelta, rec)
	s.respond(t, ClusterType, "c1", "1", mustAny(t, edsCluster("a", "")), mustAny(t, edsCluster("b", "")))
	wantAck(t, s.next(t), ClusterType, "1", "")
	wantSubscription(t, s.next(t), EndpointType, "a", "b")
	s.respond(t, EndpointType, "e1", "2", mustAny(t, assignment("a", "127.0.0.2")), mustAny(t, assignment("b", "127.0.0.3")))
	wantAck(t, s.next(t), EndpointType, "2", "")

	s.respondDelta(t, EndpointType, "e2", "3", []string{"b"})
	wantAck(t, s.next(t), EndpointType, "3", "")
	if got, want := rec.state(), "cds=a,b eds=a lds="; got != want {
		t.Errorf("handler state %q, want %q", got, want)
	}
	// A removal of what the client does not hold changes nothing.
	s.respondDelta(t, EndpointType, "e3", "4", []string{"b", "never"})
	wantAck(t, s.next(t), EndpointType, "4", "")
	if calls := rec.callList(); len(calls) != 3 {
		t.Errorf("handler calls %v, want cds, eds, eds: the last removal changed nothing", calls)
	}
}

// TestDeltaRejectedChangesAreKept: go-control-plane does not send a
// rejected delta response again, and takes the client to hold what it sent.
// The client composes what it rejected with what follows, so that its view
// stays the control plane's, as a SotW client's does: the set is judged
// whole, and a later fix applies every change.
func TestDeltaRejectedChangesAreKept(t *testing.T) {
	verifyNoLeaks(t)
	rec := newRecorder()
	rec.setReject("bad", "listener bad: not supported")
	_, s := startScriptedClient(t, ProtocolDelta, rec)
	s.respond(t, ClusterType, "c1", "1", mustAny(t, staticCluster("c")))
	s.next(t) // ACK
	s.respond(t, ListenerType, "l1", "2", mustAny(t, testListener("l1", 1)))
	wantAck(t, s.next(t), ListenerType, "2", "")

	s.respond(t, ListenerType, "l2", "3", mustAny(t, testListener("l2", 2)), mustAny(t, testListener("bad", 3)))
	wantNack(t, s.next(t), ListenerType, "3", "", "listener bad: not supported")
	// Another change, bad still there: rejected too, with bad's reason.
	s.respond(t, ListenerType, "l3", "4", mustAny(t, testListener("l3", 4)))
	wantNack(t, s.next(t), ListenerType, "4", "", "listener bad: not supported")
	if got, want := rec.state(), "cds=c eds= lds=l1"; got != want {
		t.Errorf("handler state after the NACKs %q, want %q", got, want)
	}
	// bad goes: l2 and l3, which only ever came with it, are applied.
	s.respondDelta(t, ListenerType, "l4", "5", []string{"bad"})
	wantAck(t, s.next(t), ListenerType, "5", "")
	if got, want := rec.state(), "cds=c eds= lds=l1,l2,l3"; got != want {
		t.Errorf("handler state after the fix %q, want %q", got, want)
	}
}

func TestDeltaReconnectGetsOnlyWhatChanged(t *testing.T) {
	verifyNoLeaks(t)
	first := startServer(t, "127.0.0.1:0")
	first.setSnapshot(t, snapshot(t, "1", resources{
		clusters:  []*clusterv3.Cluster{edsCluster("a", ""), edsCluster("b", "")},
		endpoints: []*endpointv3.ClusterLoadAssignment{assignment("a", "127.0.0.2"), assignment("b", "127.0.0.3")},
	}))
	rec := newRecorder()
	c := startClient(t, ProtocolDelta, dial(t, first.addr), rec, nil)
	eventually(t, "EDS ACK of version 1", func() bool { return first.acked(EndpointType, "1") })
	first.stop()
	eventually(t, "the client to notice the outage", func() bool { return !c.Status().Connected })

	// While the proxy was away, b went and c came.
	second := startServer(t, first.addr)
	second.setSnapshot(t, snapshot(t, "2", resources{
		clusters:  []*clusterv3.Cluster{edsCluster("a", ""), edsCluster("c", "")},
		endpoints: []*endpointv3.ClusterLoadAssignment{assignment("a", "127.0.0.2"), assignment("c", "127.0.0.4")},
	}))
	eventually(t, "EDS ACK of version 2", func() bool { return second.acked(EndpointType, "2") })
	eventually(t, "the new state", func() bool { return rec.state() == "cds=a,c eds=a,c lds=" })
	cds := second.deltaResponsesOf(ClusterType)[0]
	if !slices.Equal(responseNames(cds), []string{"c"}) || !slices.Equal(cds.GetRemovedResources(), []string{"b"}) {
		t.Errorf("CDS response after the reconnect %v, want c and the removal of b only", cds)
	}
	for _, r := range second.deltaResponsesOf(EndpointType) {
		if slices.Contains(responseNames(r), "a") {
			t.Errorf("EDS response after the reconnect %v resends the unchanged a", r)
		}
	}
}

// TestRejectedRepeatIsPaced: a control plane that answers a NACK by
// sending the rejected response again gets its repeat judged only after a
// delay, in both protocols.
func TestRejectedRepeatIsPaced(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, p Protocol) {
		verifyNoLeaks(t)
		addr, streams := startScripted(t)
		rec := newRecorder()
		rec.setReject("bad", "bad cluster")
		// The first retry waits 200-400ms: far more than the quiet period
		// below, however slow the machine (it can only make it longer).
		startClientWith(t, Config{
			Conn:           dial(t, addr),
			Node:           &corev3.Node{Id: testNodeID},
			Handler:        rec,
			Protocol:       p,
			Logger:         slog.New(slog.NewTextHandler(t.Output(), nil)),
			InitialBackoff: 400 * time.Millisecond,
		})
		s := acceptStream(t, streams)
		s.subscribed(t)

		s.respond(t, ClusterType, "c1", "1", mustAny(t, staticCluster("bad")))
		wantNack(t, s.next(t), ClusterType, "1", "", "bad cluster")
		s.respond(t, ClusterType, "c1", "2", mustAny(t, staticCluster("bad")))
		s.quiet(t, 100*time.Millisecond)
		wantNack(t, s.next(t), ClusterType, "2", "", "bad cluster")
		if calls := rec.callList(); len(calls) != 2 {
			t.Errorf("handler calls %v, want the repeat judged once more", calls)
		}
		// Something new is judged at once (for delta, bad must go).
		s.respondDelta(t, ClusterType, "c2", "3", deltaOnly(p, []string{"bad"}), mustAny(t, staticCluster("good")))
		wantAck(t, s.next(t), ClusterType, "3", "c2")
	})
}
