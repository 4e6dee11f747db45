package dataplane_test

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftmesh/weft/proxy/dataplane"
)

// Names of the two-proxy mesh, as the translator makes them.
const (
	clientID = "spiffe://cluster.local/ns/default/sa/client"
	serverID = "spiffe://cluster.local/ns/default/sa/echo"

	inboundName     = "inbound|9000"
	outboundName    = "outbound|echo.default|9000"
	outboundCluster = "outbound|9000||echo.default.svc.cluster.local"
	outboundSNI     = "outbound_.9000_._.echo.default.svc.cluster.local"
)

// mesh is an app → client proxy → mTLS → server proxy → echo backend path.
type mesh struct {
	ca                        *testCA
	backend                   *backend
	client, server            *dataplane.Dataplane
	clientMetrics, srvMetrics *prometheus.Registry
	// inbound and outbound are the addresses the proxies listen on.
	inbound, outbound string
}

// serverListeners and the other functions below return each proxy's
// configuration; tests change it from there.
func (m *mesh) serverListeners(t *testing.T) []*listenerv3.Listener {
	return []*listenerv3.Listener{inboundListener(t, inboundName, "127.0.0.1:0", inboundName, "spiffe://cluster.local/")}
}

func (m *mesh) serverClusters(t *testing.T) []*clusterv3.Cluster {
	return []*clusterv3.Cluster{staticCluster(t, inboundName, m.backend.addr())}
}

func (m *mesh) clientListeners(t *testing.T) []*listenerv3.Listener {
	return []*listenerv3.Listener{outboundListener(t, outboundName, "127.0.0.1:0", outboundCluster)}
}

func (m *mesh) clientClusters(t *testing.T, serverIDs ...string) []*clusterv3.Cluster {
	if len(serverIDs) == 0 {
		serverIDs = []string{serverID}
	}
	return []*clusterv3.Cluster{edsCluster(t, outboundCluster, outboundSNI, serverIDs...)}
}

func (m *mesh) clientEndpoints(t *testing.T) []*endpointv3.ClusterLoadAssignment {
	return []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, m.inbound)}
}

func newMesh(t *testing.T) *mesh {
	t.Helper()
	ca := newCA(t, "cluster.local")
	m := &mesh{ca: ca, backend: startBackend(t, "echo")}
	m.server, m.srvMetrics = newDataplane(t, ca, serverID)
	m.client, m.clientMetrics = newDataplane(t, ca, clientID)
	ctx := t.Context()
	must(t, m.server.OnClusters(ctx, m.serverClusters(t)))
	must(t, m.server.OnListeners(ctx, m.serverListeners(t)))
	m.inbound = listenerAddr(t, m.server, inboundName)
	must(t, m.client.OnClusters(ctx, m.clientClusters(t)))
	must(t, m.client.OnEndpoints(ctx, m.clientEndpoints(t)))
	must(t, m.client.OnListeners(ctx, m.clientListeners(t)))
	m.outbound = listenerAddr(t, m.client, outboundName)
	return m
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
