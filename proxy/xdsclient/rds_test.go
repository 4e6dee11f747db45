package xdsclient

import (
	"fmt"
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// hcmListener is a listener whose one filter is an HTTP connection manager
// taking route configuration routeName over ADS.
func hcmListener(t *testing.T, name string, port uint32, routeName string) *listenerv3.Listener {
	t.Helper()
	l := testListener(name, port)
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: name,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource: &corev3.ConfigSource{
				ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
				ResourceApiVersion:    corev3.ApiVersion_V3,
			},
			RouteConfigName: routeName,
		}},
	}
	l.FilterChains = []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{filter(t, "envoy.filters.network.http_connection_manager", hcm)}}}
	return l
}

func filter(t testing.TB, name string, m proto.Message) *listenerv3.Filter {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return &listenerv3.Filter{Name: name, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a}}
}

func routeConfig(name string) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: name, VirtualHosts: []*routev3.VirtualHost{{Name: name, Domains: []string{"*"}}}}
}

func TestRdsNames(t *testing.T) {
	tcp := testListener("tcp", 1)
	tcp.FilterChains = []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{filter(t, "envoy.filters.network.tcp_proxy", &tcpproxyv3.TcpProxy{StatPrefix: "x"})}}}
	inline := hcmListener(t, "inline", 2, "")
	tests := []struct {
		name      string
		listeners []*listenerv3.Listener
		want      []string
	}{
		{"none", nil, nil},
		{"tcp only", []*listenerv3.Listener{tcp}, nil},
		{"inline route config", []*listenerv3.Listener{inline}, nil},
		{"sorted and unique", []*listenerv3.Listener{
			hcmListener(t, "a", 3, "r2"), tcp, hcmListener(t, "b", 4, "r1"), hcmListener(t, "c", 5, "r2"),
		}, []string{"r1", "r2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var set []named
			for _, l := range tt.listeners {
				set = append(set, named{name: l.GetName(), msg: l})
			}
			if got := rdsNames(set); !slices.Equal(got, tt.want) {
				t.Errorf("rdsNames = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRouteSubscriptionFollowsListeners(t *testing.T) {
	forEachProtocol(t, testRouteSubscriptionFollowsListeners)
}

func testRouteSubscriptionFollowsListeners(t *testing.T, p Protocol) {
	verifyNoLeaks(t)
	srv := startServer(t, "127.0.0.1:0")
	clusters := []*clusterv3.Cluster{staticCluster("c")}
	srv.setSnapshot(t, snapshot(t, "1", resources{
		clusters:  clusters,
		listeners: []*listenerv3.Listener{hcmListener(t, "l1", 15001, "r1"), testListener("tcp", 15003)},
		routes:    []*routev3.RouteConfiguration{routeConfig("r1")},
	}))
	rec := newRecorder()
	startClient(t, p, dial(t, srv.addr), rec, prometheus.NewPedanticRegistry())
	eventually(t, "RDS ACK of version 1", func() bool { return srv.acked(RouteType, "1") })
	if got, want := rec.state(), "cds=c eds= lds=l1,tcp rds=r1"; got != want {
		t.Errorf("handler state %q, want %q", got, want)
	}
	calls := rec.callList()
	if i := slices.IndexFunc(calls, func(c call) bool { return c.typ == "rds" }); i < 0 ||
		!slices.ContainsFunc(calls[:i], func(c call) bool { return c.typ == "lds" }) {
		t.Errorf("handler calls %v, want routes after listeners", calls)
	}

	// A second listener names a second route configuration.
	srv.setSnapshot(t, snapshot(t, "2", resources{
		clusters:  clusters,
		listeners: []*listenerv3.Listener{hcmListener(t, "l1", 15001, "r1"), hcmListener(t, "l2", 15002, "r2")},
		routes:    []*routev3.RouteConfiguration{routeConfig("r1"), routeConfig("r2")},
	}))
	// The RDS response of a version may come before or after the LDS one
	// that changes the subscription: wait for the state itself.
	eventually(t, "routes r1 and r2", func() bool { return rec.state() == "cds=c eds= lds=l1,l2 rds=r1,r2" })

	// The first listener goes: its route configuration is dropped.
	srv.setSnapshot(t, snapshot(t, "3", resources{
		clusters:  clusters,
		listeners: []*listenerv3.Listener{hcmListener(t, "l2", 15002, "r2")},
		routes:    []*routev3.RouteConfiguration{routeConfig("r2")},
	}))
	eventually(t, "route r2 only", func() bool { return rec.state() == "cds=c eds= lds=l2 rds=r2" })
	if p == ProtocolSotW {
		// Delta sends nothing more: r2 did not change.
		eventually(t, "RDS ACK of version 3", func() bool { return srv.acked(RouteType, "3") })
	}
	want := [][]string{{"r1"}, {"r1", "r2"}, {"r2"}}
	eventually(t, "RDS subscriptions "+fmt.Sprint(want), func() bool {
		return slices.EqualFunc(srv.subscriptions(RouteType), want, slices.Equal)
	})
	if p == ProtocolDelta {
		// The server may send the removal of r1 before or after the
		// client unsubscribes from it.
		rs := srv.requestsOf(RouteType)
		if i := slices.IndexFunc(rs, func(r sentRequest) bool { return len(r.unsubscribe) > 0 }); i < 0 ||
			!slices.Equal(rs[i].unsubscribe, []string{"r1"}) || len(rs[i].subscribe) != 0 {
			t.Errorf("RDS requests %+v, want one unsubscribing r1 only", rs)
		}
	}
}

func TestRouteNackKeepsRoutes(t *testing.T) {
	forEachProtocol(t, testRouteNackKeepsRoutes)
}

func testRouteNackKeepsRoutes(t *testing.T, p Protocol) {
	verifyNoLeaks(t)
	srv := startServer(t, "127.0.0.1:0")
	res := resources{
		clusters:  []*clusterv3.Cluster{staticCluster("c")},
		listeners: []*listenerv3.Listener{hcmListener(t, "l1", 15001, "r1")},
		routes:    []*routev3.RouteConfiguration{routeConfig("r1")},
	}
	srv.setSnapshot(t, snapshot(t, "1", res))
	rec := newRecorder()
	c := startClient(t, p, dial(t, srv.addr), rec, prometheus.NewPedanticRegistry())
	eventually(t, "RDS ACK of version 1", func() bool { return srv.acked(RouteType, "1") })

	rec.setReject("r1", `route "r1": bad`)
	bad := routeConfig("r1")
	bad.VirtualHosts[0].Domains = []string{"example.com"}
	res.routes = []*routev3.RouteConfiguration{bad}
	srv.setSnapshot(t, snapshot(t, "2", res))
	eventually(t, "an RDS NACK", func() bool { return len(srv.nacks(RouteType)) > 0 })
	n := srv.nacks(RouteType)[0]
	if n.detail.GetMessage() != `route "r1": bad` || !slices.Equal(n.names, []string{"r1"}) {
		t.Errorf("NACK %+v, want the handler's message, the subscription [r1] kept", n)
	}
	if p == ProtocolSotW && n.version != "1" {
		t.Errorf("NACK %+v, want the accepted version 1", n)
	}
	if ts := c.Status().Types[RouteType]; ts.Version != "1" || ts.RejectedVersion != "2" {
		t.Errorf("RDS status %+v, want version 1 and rejected version 2", ts)
	}
	rec.mu.Lock()
	got := rec.routes
	rec.mu.Unlock()
	if len(got) != 1 || !proto.Equal(got[0], routeConfig("r1")) {
		t.Errorf("routes after the NACK %v, want the first r1 kept", got)
	}
}

// TestRoutesNoLongerNamedAreDropped scripts the case a snapshot cache
// produces: the route configurations come before the listeners that stop
// naming one of them, and nothing more is sent for the narrower
// subscription. The client drops the configuration itself.
func TestRoutesNoLongerNamedAreDropped(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, p Protocol) {
		verifyNoLeaks(t)
		rec := newRecorder()
		_, s := startScriptedClient(t, p, rec)

		s.respond(t, ClusterType, "c1", "1", mustAny(t, staticCluster("c")))
		s.next(t) // ACK
		s.respond(t, ListenerType, "l1", "2", mustAny(t, hcmListener(t, "a", 1, "r1")), mustAny(t, hcmListener(t, "b", 2, "r2")))
		s.next(t) // ACK
		wantSubscription(t, s.next(t), RouteType, "r1", "r2")
		s.respond(t, RouteType, "r1", "3", mustAny(t, routeConfig("r1")), mustAny(t, routeConfig("r2")))
		s.next(t) // ACK

		if p == ProtocolDelta {
			s.respondDelta(t, ListenerType, "l2", "4", []string{"a"})
		} else {
			s.respond(t, ListenerType, "l2", "4", mustAny(t, hcmListener(t, "b", 2, "r2")))
		}
		wantAck(t, s.next(t), ListenerType, "4", "l2")
		req := s.next(t)
		wantSubscription(t, req, RouteType, "r2")
		if (p == ProtocolSotW && req.version != "r1") || (p == ProtocolDelta && !slices.Equal(req.unsubscribe, []string{"r1"})) {
			t.Errorf("request %+v, want RDS for [r2] (SotW: at version r1; delta: unsubscribing r1)", req)
		}
		s.quiet(t, 100*time.Millisecond)
		if got, want := rec.state(), "cds=c eds= lds=b rds=r2"; got != want {
			t.Errorf("handler state %q, want %q", got, want)
		}
	})
}
