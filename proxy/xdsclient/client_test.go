package xdsclient

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
)

func verifyNoLeaks(t testing.TB) {
	t.Helper()
	// Registered first, so it runs after every other cleanup.
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

func TestAppliesInEnvoyOrderAndAcks(t *testing.T) {
	forEachProtocol(t, testAppliesInEnvoyOrderAndAcks)
}

func testAppliesInEnvoyOrderAndAcks(t *testing.T, p Protocol) {
	verifyNoLeaks(t)
	srv := startServer(t, "127.0.0.1:0")
	srv.setSnapshot(t, snapshot(t, "1", resources{
		clusters:  []*clusterv3.Cluster{staticCluster("b"), edsCluster("a", "")},
		endpoints: []*endpointv3.ClusterLoadAssignment{assignment("a", "127.0.0.2")},
		listeners: []*listenerv3.Listener{testListener("l1", 15001)},
	}))
	rec := newRecorder()
	reg := prometheus.NewPedanticRegistry()
	c := startClient(t, p, dial(t, srv.addr), rec, reg)

	for _, typ := range []string{ClusterType, EndpointType, ListenerType} {
		eventually(t, "ACK of version 1 for "+typ, func() bool { return srv.acked(typ, "1") })
	}

	if got, want := rec.state(), "cds=a,b eds=a lds=l1"; got != want {
		t.Errorf("handler state %q, want %q", got, want)
	}
	calls := rec.callList()
	if len(calls) != 3 || calls[0].typ != "cds" {
		t.Fatalf("handler calls %v, want clusters first, then endpoints and listeners once each", calls)
	}
	if !slices.Equal(calls[0].names, []string{"a", "b"}) {
		t.Errorf("clusters handed over as %v, want sorted [a b]", calls[0].names)
	}
	if got := srv.edsSubscriptions(); len(got) != 1 || !slices.Equal(got[0], []string{"a"}) {
		t.Errorf("EDS subscriptions %v, want [[a]]", got)
	}
	first := srv.requestsOf(ClusterType)[0]
	wildcard := len(first.names) == 0
	if p == ProtocolDelta {
		wildcard = slices.Equal(first.subscribe, []string{"*"}) && len(first.initial) == 0
	}
	if first.node.GetId() != testNodeID || first.version != "" || !wildcard {
		t.Errorf("first CDS request %+v, want node %q, no version, wildcard", first, testNodeID)
	}

	st := c.Status()
	if !st.Connected {
		t.Error("Status().Connected = false on an open stream")
	}
	for _, typ := range l4Types {
		if ts := st.Types[typ]; ts != (TypeStatus{Version: "1", Accepted: true}) {
			t.Errorf("status of %s = %+v, want version 1 accepted and no error", typ, ts)
		}
	}
	for _, typ := range []string{"cds", "eds", "lds"} {
		if got := metricValue(t, reg, "weft_xds_updates_total", "type", typ, "result", "ack"); got != 1 {
			t.Errorf("weft_xds_updates_total{type=%q,result=ack} = %v, want 1", typ, got)
		}
	}
	if got := metricValue(t, reg, "weft_xds_connected"); got != 1 {
		t.Errorf("weft_xds_connected = %v, want 1", got)
	}
}

func TestNackKeepsStateAndNextSnapshotApplies(t *testing.T) {
	forEachProtocol(t, testNackKeepsStateAndNextSnapshotApplies)
}

func testNackKeepsStateAndNextSnapshotApplies(t *testing.T, p Protocol) {
	verifyNoLeaks(t)
	srv := startServer(t, "127.0.0.1:0")
	v1 := resources{
		clusters:  []*clusterv3.Cluster{edsCluster("a", "")},
		endpoints: []*endpointv3.ClusterLoadAssignment{assignment("a", "127.0.0.2")},
		listeners: []*listenerv3.Listener{testListener("l1", 15001)},
	}
	srv.setSnapshot(t, snapshot(t, "1", v1))
	rec := newRecorder()
	reg := prometheus.NewPedanticRegistry()
	c := startClient(t, p, dial(t, srv.addr), rec, reg)
	eventually(t, "LDS ACK of version 1", func() bool { return srv.acked(ListenerType, "1") })

	const reason = "listener bad: filter envoy.filters.network.redis_proxy is not supported"
	rec.setReject("bad", reason)
	v2 := v1
	v2.listeners = []*listenerv3.Listener{testListener("l1", 15001), testListener("bad", 15002)}
	srv.setSnapshot(t, snapshot(t, "2", v2))

	eventually(t, "LDS NACK", func() bool { return len(srv.nacks(ListenerType)) > 0 })
	nack := srv.nacks(ListenerType)[0]
	if nack.nonce == "" || (p == ProtocolSotW && nack.version != "1") {
		t.Errorf("NACK %+v, want the response's nonce (SotW: and the accepted version 1)", nack)
	}
	if d := nack.detail; d.GetCode() != int32(codes.InvalidArgument) || !strings.Contains(d.GetMessage(), reason) {
		t.Errorf("error_detail %v, want InvalidArgument with %q", d, reason)
	}
	if p == ProtocolSotW {
		// Version 2 resends every type; delta sends only the listeners.
		eventually(t, "CDS ACK of version 2", func() bool { return srv.acked(ClusterType, "2") })
	}

	// go-control-plane answers each SotW NACK by resending the rejected
	// response at once; the client must not turn that into a busy loop.
	time.Sleep(500 * time.Millisecond)
	if n := len(srv.nacks(ListenerType)); n > 12 {
		t.Errorf("%d NACKs in half a second: the client spins on a resent rejected response", n)
	}
	if got, want := rec.state(), "cds=a eds=a lds=l1"; got != want {
		t.Errorf("handler state after NACK %q, want %q", got, want)
	}
	// Version 1 took three calls; version 2 changed only the listeners.
	for _, cl := range rec.callList()[3:] {
		if cl.typ != "lds" {
			t.Errorf("handler call %v: unchanged clusters or endpoints of version 2 were applied again", cl)
		}
	}
	st := c.Status().Types[ListenerType]
	if st.Version != "1" || st.RejectedVersion != "2" || !strings.Contains(st.Error, reason) {
		t.Errorf("LDS status %+v, want version 1, rejected 2 with the handler's error", st)
	}
	if got := metricValue(t, reg, "weft_xds_updates_total", "type", "lds", "result", "nack"); got < 1 {
		t.Errorf("weft_xds_updates_total{type=lds,result=nack} = %v, want at least 1", got)
	}

	v3 := v1
	v3.listeners = []*listenerv3.Listener{testListener("l1", 15001), testListener("l2", 15003)}
	srv.setSnapshot(t, snapshot(t, "3", v3))
	eventually(t, "LDS ACK of version 3", func() bool { return srv.acked(ListenerType, "3") })
	if got, want := rec.state(), "cds=a eds=a lds=l1,l2"; got != want {
		t.Errorf("handler state after the fix %q, want %q", got, want)
	}
	if st := c.Status().Types[ListenerType]; st != (TypeStatus{Version: "3", Accepted: true}) {
		t.Errorf("LDS status after the fix %+v, want version 3 and no error", st)
	}
}

func TestEndpointSubscriptionFollowsClusters(t *testing.T) {
	forEachProtocol(t, testEndpointSubscriptionFollowsClusters)
}

func testEndpointSubscriptionFollowsClusters(t *testing.T, p Protocol) {
	verifyNoLeaks(t)
	srv := startServer(t, "127.0.0.1:0")
	srv.setSnapshot(t, snapshot(t, "1", resources{
		clusters: []*clusterv3.Cluster{
			edsCluster("a", ""), edsCluster("b", ""), edsCluster("c", "svc-c"), staticCluster("s"),
		},
		endpoints: []*endpointv3.ClusterLoadAssignment{
			assignment("a", "127.0.0.2"), assignment("b", "127.0.0.3"), assignment("svc-c", "127.0.0.4"),
		},
	}))
	rec := newRecorder()
	startClient(t, p, dial(t, srv.addr), rec, nil)
	eventually(t, "EDS ACK of version 1", func() bool { return srv.acked(EndpointType, "1") })
	if got, want := rec.state(), "cds=a,b,c,s eds=a,b,svc-c lds="; got != want {
		t.Errorf("handler state %q, want %q", got, want)
	}

	// b goes, d comes: the subscription changes.
	srv.setSnapshot(t, snapshot(t, "2", resources{
		clusters: []*clusterv3.Cluster{edsCluster("a", ""), edsCluster("c", "svc-c"), edsCluster("d", "")},
		endpoints: []*endpointv3.ClusterLoadAssignment{
			assignment("a", "127.0.0.2"), assignment("svc-c", "127.0.0.4"), assignment("d", "127.0.0.5"),
		},
	}))
	eventually(t, "EDS ACK of version 2", func() bool { return srv.acked(EndpointType, "2") })
	if got, want := rec.state(), "cds=a,c,d eds=a,d,svc-c lds="; got != want {
		t.Errorf("handler state %q, want %q", got, want)
	}

	// Same clusters, new endpoints for a, a new listener: no new subscription.
	srv.setSnapshot(t, snapshot(t, "3", resources{
		clusters: []*clusterv3.Cluster{edsCluster("a", ""), edsCluster("c", "svc-c"), edsCluster("d", "")},
		endpoints: []*endpointv3.ClusterLoadAssignment{
			assignment("a", "127.0.0.9"), assignment("svc-c", "127.0.0.4"), assignment("d", "127.0.0.5"),
		},
		listeners: []*listenerv3.Listener{testListener("l1", 15001)},
	}))
	eventually(t, "EDS ACK of version 3", func() bool { return srv.acked(EndpointType, "3") })
	eventually(t, "LDS ACK of version 3", func() bool { return srv.acked(ListenerType, "3") })
	got := srv.edsSubscriptions()
	want := [][]string{{"a", "b", "svc-c"}, {"a", "d", "svc-c"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("EDS subscriptions %v, want %v", got, want)
	}
	if p == ProtocolDelta {
		// The change of clusters names only the difference.
		change := srv.requestsOf(EndpointType)
		if i := slices.IndexFunc(change, func(r sentRequest) bool { return len(r.unsubscribe) > 0 }); i < 0 ||
			!slices.Equal(change[i].unsubscribe, []string{"b"}) || !slices.Equal(change[i].subscribe, []string{"d"}) {
			t.Errorf("EDS requests %+v, want one subscribing [d] and unsubscribing [b]", change)
		}
	}
	addr := rec.endpoint("a").GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetAddress()
	if addr != "127.0.0.9" {
		t.Errorf("endpoint of a is %s, want the updated 127.0.0.9", addr)
	}
}

func TestReconnectsAfterServerRestart(t *testing.T) {
	forEachProtocol(t, testReconnectsAfterServerRestart)
}

func testReconnectsAfterServerRestart(t *testing.T, p Protocol) {
	verifyNoLeaks(t)
	v1 := resources{
		clusters:  []*clusterv3.Cluster{edsCluster("a", "")},
		endpoints: []*endpointv3.ClusterLoadAssignment{assignment("a", "127.0.0.2")},
		listeners: []*listenerv3.Listener{testListener("l1", 15001)},
	}
	first := startServer(t, "127.0.0.1:0")
	first.setSnapshot(t, snapshot(t, "1", v1))
	rec := newRecorder()
	reg := prometheus.NewPedanticRegistry()
	c := startClient(t, p, dial(t, first.addr), rec, reg)
	for _, typ := range l4Types {
		eventually(t, "ACK of version 1 for "+typ, func() bool { return first.acked(typ, "1") })
	}
	callsBefore := rec.callList()

	first.stop()
	eventually(t, "the client to notice the outage", func() bool { return !c.Status().Connected })
	if got := metricValue(t, reg, "weft_xds_connected"); got != 0 {
		t.Errorf("weft_xds_connected = %v while the server is down, want 0", got)
	}
	time.Sleep(100 * time.Millisecond) // a few failed attempts

	second := startServer(t, first.addr)
	second.setSnapshot(t, snapshot(t, "1", v1))
	// A delta server with unchanged state answers only the wildcard CDS
	// and LDS requests (with nothing), and EDS not at all.
	reconnected := l4Types
	if p == ProtocolDelta {
		reconnected = []string{ClusterType, ListenerType}
	}
	for _, typ := range reconnected {
		eventually(t, "ACK of version 1 for "+typ+" after the restart", func() bool { return second.acked(typ, "1") })
	}
	eventually(t, "an EDS request after the restart", func() bool { return len(second.requestsOf(EndpointType)) > 0 })
	wantHeld := map[string][]string{ClusterType: {"a"}, ListenerType: {"l1"}, EndpointType: {"a"}}
	for _, typ := range l4Types {
		r := second.requestsOf(typ)[0]
		switch {
		case r.nonce != "":
			t.Errorf("first %s request after the restart %+v, want no nonce", typeLabel(typ), r)
		case p == ProtocolSotW && r.version != "1":
			t.Errorf("first %s request after the restart %+v, want the accepted version 1", typeLabel(typ), r)
		case p == ProtocolDelta && !slices.Equal(slices.Sorted(maps.Keys(r.initial)), wantHeld[typ]):
			t.Errorf("first %s request after the restart %+v, want initial_resource_versions for %v", typeLabel(typ), r, wantHeld[typ])
		}
	}
	if r := second.requestsOf(EndpointType)[0]; !slices.Equal(r.names, []string{"a"}) {
		t.Errorf("first EDS request after the restart %+v, want a subscription to [a]", r)
	}
	if p == ProtocolDelta {
		for _, typ := range l4Types {
			for _, r := range second.deltaResponsesOf(typ) {
				if len(r.GetResources()) > 0 || len(r.GetRemovedResources()) > 0 {
					t.Errorf("delta %s response after the restart %v: the versions held were not used", typeLabel(typ), r)
				}
			}
		}
	}
	if got := rec.callList(); !slices.EqualFunc(got, callsBefore, equalCall) {
		t.Errorf("handler calls after reconnecting to unchanged state: %v, want none beyond %v", got, callsBefore)
	}
	if !c.Status().Connected {
		t.Error("Status().Connected = false after reconnecting")
	}
	if got := metricValue(t, reg, "weft_xds_reconnects_total"); got < 1 {
		t.Errorf("weft_xds_reconnects_total = %v, want at least 1", got)
	}

	v2 := v1
	v2.listeners = append(slices.Clone(v1.listeners), testListener("l2", 15002))
	second.setSnapshot(t, snapshot(t, "2", v2))
	eventually(t, "LDS ACK of version 2", func() bool { return second.acked(ListenerType, "2") })
	if got, want := rec.state(), "cds=a eds=a lds=l1,l2"; got != want {
		t.Errorf("handler state %q, want %q", got, want)
	}
	for _, cl := range rec.callList() {
		if len(cl.names) == 0 {
			t.Errorf("handler got an empty %s update", cl.typ)
		}
	}
}

func equalCall(a, b call) bool { return a.typ == b.typ && slices.Equal(a.names, b.names) }

// l4Types are the types a configuration without HTTP listeners uses.
var l4Types = []string{ClusterType, EndpointType, ListenerType}
