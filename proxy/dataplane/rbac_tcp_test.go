package dataplane_test

import (
	"io"
	"net/http"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// tcpSidecar starts a client sidecar with identity id whose outbound TCP
// listener goes to the server's inbound listener at inbound, and returns
// the listener's address.
func tcpSidecar(t *testing.T, ca *testCA, id, inbound string) string {
	t.Helper()
	client, _ := newDataplane(t, ca, id)
	ctx := t.Context()
	must(t, client.OnClusters(ctx, []*clusterv3.Cluster{edsCluster(t, outboundCluster, outboundSNI, serverID)}))
	must(t, client.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, inbound)}))
	must(t, client.OnListeners(ctx, []*listenerv3.Listener{outboundListener(t, outboundName, "127.0.0.1:0", outboundCluster)}))
	return listenerAddr(t, client, outboundName)
}

// TestRBACDeniesTCPBeforeUpstreamConnect puts a network RBAC filter that
// denies one service account before tcp_proxy: that client's connection
// is closed without a byte and the backend never sees a connection for
// it; the metric and the proxy's log name the policy.
func TestRBACDeniesTCPBeforeUpstreamConnect(t *testing.T) {
	const key = "default/deny-other/rules[0]"
	backend := startCountingBackend(t)
	ca := newCA(t, "cluster.local")
	var logs logBuffer
	server, reg := newDataplane(t, ca, serverID, logTo(&logs))
	l := inboundListener(t, inboundName, "127.0.0.1:0", inboundName, "spiffe://cluster.local/")
	l.FilterChains[0].Filters = append([]*listenerv3.Filter{netRBAC(t, inboundName, rbacv3.RBAC_DENY, map[string]*rbacv3.Policy{
		key: policy(perms(anyPermission()), principal(otherID)),
	})}, l.FilterChains[0].Filters...)
	ctx := t.Context()
	must(t, server.OnClusters(ctx, []*clusterv3.Cluster{staticCluster(t, inboundName, backend.ln.Addr().String())}))
	must(t, server.OnListeners(ctx, []*listenerv3.Listener{l}))
	inbound := listenerAddr(t, server, inboundName)

	refused(t, dial(t, tcpSidecar(t, ca, otherID, inbound)))
	exchange(t, dial(t, tcpSidecar(t, ca, clientID, inbound)), "hi", "echo:hi")

	if n := backend.accepted.Load(); n != 1 {
		t.Errorf("the backend accepted %d connections, want 1: the denied one must never reach it", n)
	}
	if v := metric(t, reg, "weft_proxy_authz_denied_total", denials(inboundName, key, "denied")); v != 1 {
		t.Errorf("denials of %s: %v, want 1", key, v)
	}
	if v := metric(t, reg, "weft_proxy_connections_total", connections(inboundName, "inbound", otherID, "rbac_denied")); v != 1 {
		t.Errorf("rbac_denied connections from %s: %v, want 1", otherID, v)
	}
	var found bool
	for _, rec := range logs.find(t, "connection refused") {
		if rec["reason"] == "rbac_denied" && rec["policy"] == key && rec["peer_id"] == otherID {
			found = true
		}
	}
	if !found {
		t.Errorf("no log record reason=rbac_denied policy=%s peer_id=%s", key, otherID)
	}
}

// TestRBACOnSniffedPort gives a port that declares no protocol HTTP
// rules on its HTTP chain and network rules on its TCP chain: each kind
// of traffic meets its own.
func TestRBACOnSniffedPort(t *testing.T) {
	const httpKey, tcpKey = "default/deny-admin/rules[0]", "default/deny-tcp/rules[0]"
	ca := newCA(t, "cluster.local")
	app := &pathRecorder{}
	server, reg := newDataplane(t, ca, serverID)
	l := autoListener(t, withRBAC(t, httpInboundListener(t, inboundName, "127.0.0.1:0"), "", httpRBAC(t, rbacv3.RBAC_DENY, map[string]*rbacv3.Policy{
		httpKey: policy(perms(urlPath("prefix", "/admin", false)), anyPrincipal()),
	})), inboundName)
	l.FilterChains[1].Filters = append([]*listenerv3.Filter{netRBAC(t, inboundName, rbacv3.RBAC_DENY, map[string]*rbacv3.Policy{
		tcpKey: policy(perms(anyPermission()), principal(clientID)),
	})}, l.FilterChains[1].Filters...)
	ctx := t.Context()
	must(t, server.OnClusters(ctx, []*clusterv3.Cluster{httpInboundCluster(t, inboundName, app.start(t), false)}))
	must(t, server.OnListeners(ctx, []*listenerv3.Listener{l}))

	client, _ := newDataplane(t, ca, clientID)
	must(t, client.OnClusters(ctx, []*clusterv3.Cluster{httpOutboundCluster(t, outboundCluster, outboundSNI, serverID)}))
	must(t, client.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, listenerAddr(t, server, inboundName))}))
	must(t, client.OnListeners(ctx, []*listenerv3.Listener{autoListener(t, httpOutboundListener(t, outboundName, "127.0.0.1:0"), outboundCluster)}))
	must(t, client.OnRoutes(ctx, []*routev3.RouteConfiguration{routeTo(outboundName, outboundVhost, outboundCluster)}))
	outbound := listenerAddr(t, client, outboundName)

	if code, body := rawRequest(t, dial(t, outbound), "GET", "/shop"); code != http.StatusOK {
		t.Errorf("GET /shop: %d %q, want 200", code, body)
	}
	if code, body := rawRequest(t, dial(t, outbound), "GET", "/admin"); code != http.StatusForbidden {
		t.Errorf("GET /admin: %d %q, want 403", code, body)
	}
	c := dial(t, outbound)
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		t.Fatal(err)
	}
	refused(t, c)
	if v := metric(t, reg, "weft_proxy_authz_denied_total", denials(inboundName, httpKey, "denied")); v != 1 {
		t.Errorf("HTTP denials: %v, want 1", v)
	}
	if v := metric(t, reg, "weft_proxy_authz_denied_total", denials(inboundName, tcpKey, "denied")); v != 1 {
		t.Errorf("TCP denials: %v, want 1", v)
	}
}
