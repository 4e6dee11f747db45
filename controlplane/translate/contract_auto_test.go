package translate

import (
	"slices"
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	httpinspector "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/weftmesh/weft/controlplane/model"
)

// These tests check the "Ports without a declared protocol" section of
// docs/xds.md directly.

// wantAuto checks the shape of an auto port's listener: the HTTP
// inspector, an HCM chain matching sniffed HTTP, and a default TCP chain
// to tcpCluster, both behind the same transport socket.
func wantAuto(t *testing.T, l *listener.Listener, statPrefix, tcpCluster string) {
	t.Helper()
	lf := l.GetListenerFilters()
	if len(lf) != 1 || lf[0].GetName() != "envoy.filters.listener.http_inspector" {
		t.Fatalf("%s: listener filters %v, want the HTTP inspector", l.GetName(), lf)
	}
	unpack[*httpinspector.HttpInspector](t, lf[0].GetTypedConfig())
	fcs := l.GetFilterChains()
	if len(fcs) != 2 {
		t.Fatalf("%s: %d filter chains, want 2", l.GetName(), len(fcs))
	}
	if got := fcs[0].GetFilterChainMatch().GetApplicationProtocols(); !slices.Equal(got, []string{"http/1.0", "http/1.1", "h2c"}) {
		t.Errorf("%s: HTTP chain matches %q", l.GetName(), got)
	}
	wantHCM(t, fcs[0], statPrefix)
	if fcs[1].GetFilterChainMatch() != nil {
		t.Errorf("%s: default chain has a match", l.GetName())
	}
	wantTCPProxy(t, fcs[1], tcpCluster)
	if !proto.Equal(fcs[0].GetTransportSocket(), fcs[1].GetTransportSocket()) {
		t.Errorf("%s: chains have different transport sockets", l.GetName())
	}
}

// wantDeclaredTCP checks that a declared-TCP port is never inspected.
func wantDeclaredTCP(t *testing.T, l *listener.Listener) {
	t.Helper()
	if len(l.GetListenerFilters()) != 0 || len(l.GetFilterChains()) != 1 || l.GetFilterChains()[0].GetFilterChainMatch() != nil {
		t.Errorf("%s: declared TCP port is inspected: %v", l.GetName(), l)
	}
}

func TestAutoPortContract(t *testing.T) {
	db := model.NamespacedName{Namespace: "data", Name: "db"}
	out := translateIn(t, autoMesh, model.NamespacedName{Namespace: "data", Name: "app"})
	lname, cname := OutboundListenerName(db, 3306), OutboundClusterName(db, 3306)
	wantAuto(t, find[*listener.Listener](t, out[resource.ListenerType], lname), lname, cname)
	wantHTTP2Upstream(t, find[*cluster.Cluster](t, out[resource.ClusterType], cname), true)
	wantDeclaredTCP(t, find[*listener.Listener](t, out[resource.ListenerType], OutboundListenerName(db, 5432)))

	in := translateIn(t, autoMesh, model.NamespacedName{Namespace: "data", Name: "db-1"})
	wantAuto(t, wantPermissive(t, find[*listener.Listener](t, in[resource.ListenerType], InboundName(3306))), InboundName(3306), InboundName(3306))
	wantHTTP2Upstream(t, find[*cluster.Cluster](t, in[resource.ClusterType], InboundName(3306)), false)
	wantDeclaredTCP(t, wantPermissive(t, find[*listener.Listener](t, in[resource.ListenerType], InboundName(5432))))
}
