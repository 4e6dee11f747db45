package dataplane_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	filev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"github.com/weftmesh/weft/proxy/accesslog"
)

// withTCPAccessLog gives the tcp_proxy of every chain of l (its last
// filter) an access log appended to a new file, and returns the file's
// path.
func withTCPAccessLog(t *testing.T, l *listenerv3.Listener) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "access.log")
	for _, fc := range l.GetFilterChains() {
		f := fc.GetFilters()[len(fc.GetFilters())-1]
		var tp tcpproxyv3.TcpProxy
		must(t, f.GetTypedConfig().UnmarshalTo(&tp))
		tp.AccessLog = []*accesslogv3.AccessLog{{
			Name:       "envoy.access_loggers.file",
			ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(t, &filev3.FileAccessLog{Path: path})},
		}}
		f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, &tp)}
	}
	return path
}

// tcpLogLines waits until the access log at path holds n lines (a line is
// written once the proxy has closed both sides, which may be just after
// the client saw the end), checks that no more come, and returns them
// decoded.
func tcpLogLines(t *testing.T, path string, n int) []accesslog.Entry {
	t.Helper()
	var lines []string
	read := func() {
		b, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		lines = nil
		if s := strings.TrimSpace(string(b)); s != "" {
			lines = strings.Split(s, "\n")
		}
	}
	eventually(t, func() string {
		if read(); len(lines) < n {
			return fmt.Sprintf("%d access log lines, want %d", len(lines), n)
		}
		return ""
	})
	time.Sleep(50 * time.Millisecond) // a line too many would come now
	if read(); len(lines) != n {
		t.Fatalf("%d access log lines, want %d:\n%s", len(lines), n, strings.Join(lines, "\n"))
	}
	out := make([]accesslog.Entry, n)
	for i, line := range lines {
		if err := json.Unmarshal([]byte(line), &out[i]); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		e := &out[i]
		if e.StartTime.IsZero() || time.Since(e.StartTime) > time.Minute || e.DurationMillis < 0 {
			t.Errorf("line %d: start_time %v, duration_ms %d", i, e.StartTime, e.DurationMillis)
		}
		if e.Protocol != "TCP" || e.Method != "" || e.Path != "" || e.ResponseCode != 0 || e.XRequestID != "" {
			t.Errorf("line %d: protocol %q, method %q, path %q, response_code %d, x_request_id %q; want TCP and no HTTP fields",
				i, e.Protocol, e.Method, e.Path, e.ResponseCode, e.XRequestID)
		}
		e.StartTime, e.DurationMillis = time.Time{}, 0
	}
	return out
}

// TestTCPAccessLogOverMTLS sends a message through a client sidecar's
// outbound listener and a server sidecar's mTLS inbound listener, both
// with an access log: each writes one line for the connection, with the
// bytes each way, the cluster and endpoint it went to and, on the
// server's side, the client's SPIFFE ID.
func TestTCPAccessLogOverMTLS(t *testing.T) {
	ca := newCA(t, "cluster.local")
	backend := startBackend(t, "echo")
	ctx := t.Context()

	server, _ := newDataplane(t, ca, serverID)
	in := inboundListener(t, inboundName, "127.0.0.1:0", inboundName, "spiffe://cluster.local/")
	serverLog := withTCPAccessLog(t, in)
	must(t, server.OnClusters(ctx, []*clusterv3.Cluster{staticCluster(t, inboundName, backend.addr())}))
	must(t, server.OnListeners(ctx, []*listenerv3.Listener{in}))
	inbound := listenerAddr(t, server, inboundName)

	client, _ := newDataplane(t, ca, clientID)
	out := outboundListener(t, outboundName, "127.0.0.1:0", outboundCluster)
	clientLog := withTCPAccessLog(t, out)
	must(t, client.OnClusters(ctx, []*clusterv3.Cluster{edsCluster(t, outboundCluster, outboundSNI, serverID)}))
	must(t, client.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, inbound)}))
	must(t, client.OnListeners(ctx, []*listenerv3.Listener{out}))

	msg := strings.Repeat("logged ", 1000)
	got, err := roundTrip(t, listenerAddr(t, client, outboundName), msg)
	if err != nil || got != "echo:"+msg {
		t.Fatalf("round trip: %d bytes, %v; want the echo of %d bytes", len(got), err, len(msg))
	}
	sent, received := int64(len("echo:"+msg)), int64(len(msg))
	for _, c := range []struct {
		side, path string
		want       accesslog.Entry
	}{
		// The app's connection to its sidecar is plaintext: no peer.
		{"client", clientLog, accesslog.Entry{
			Protocol: "TCP", ResponseFlags: "-", BytesReceived: received, BytesSent: sent,
			UpstreamHost: inbound, UpstreamCluster: outboundCluster,
		}},
		{"server", serverLog, accesslog.Entry{
			Protocol: "TCP", ResponseFlags: "-", BytesReceived: received, BytesSent: sent,
			UpstreamHost: backend.addr(), UpstreamCluster: inboundName, PeerID: clientID,
		}},
	} {
		if got := tcpLogLines(t, c.path, 1)[0]; got != c.want {
			t.Errorf("%s side logged %+v\nwant %+v", c.side, got, c.want)
		}
	}
}

// TestTCPAccessLogRefused: a connection that never reaches an upstream is
// logged once too, with Envoy's flag for why: UF when the endpoint
// refuses the connection, NC when the cluster does not exist, UH when it
// has no endpoints.
func TestTCPAccessLogRefused(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	must(t, err)
	dead := ln.Addr().String()
	must(t, ln.Close())

	tests := []struct {
		name     string
		clusters []*clusterv3.Cluster
		want     accesslog.Entry
	}{
		{"connect failure", []*clusterv3.Cluster{staticCluster(t, "app", dead)},
			accesslog.Entry{Protocol: "TCP", ResponseFlags: "UF", UpstreamCluster: "app", UpstreamHost: dead}},
		{"no cluster", nil,
			accesslog.Entry{Protocol: "TCP", ResponseFlags: "NC", UpstreamCluster: "app"}},
		{"no endpoints", []*clusterv3.Cluster{staticCluster(t, "app")},
			accesslog.Entry{Protocol: "TCP", ResponseFlags: "UH", UpstreamCluster: "app"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp, _ := newPlainDataplane(t)
			l := outboundListener(t, "app", "127.0.0.1:0", "app")
			path := withTCPAccessLog(t, l)
			must(t, dp.OnClusters(t.Context(), tt.clusters))
			must(t, dp.OnListeners(t.Context(), []*listenerv3.Listener{l}))
			refused(t, dial(t, listenerAddr(t, dp, "app")))
			if got := tcpLogLines(t, path, 1)[0]; got != tt.want {
				t.Errorf("logged %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestTCPAccessLogRBAC puts network RBAC filters before an inbound
// tcp_proxy with an access log: the denied connection is logged, with
// flag RBAC, the client's SPIFFE ID and what the filters decided, and no
// upstream; the admitted one with the ALLOW policy that admitted it.
func TestTCPAccessLogRBAC(t *testing.T) {
	const key = "default/tcp/rules[0]"
	tests := []struct {
		name             string
		action           rbacv3.RBAC_Action
		matched          string // the identity the policy names
		denied, admitted string // the clients
		// deniedAuthz and admittedAuthz are the authz_policy and
		// authz_reason of each client's line.
		deniedAuthz, admittedAuthz [2]string
	}{
		{name: "deny", action: rbacv3.RBAC_DENY, matched: otherID, denied: otherID, admitted: clientID,
			deniedAuthz: [2]string{key, "denied"}},
		{name: "allow", action: rbacv3.RBAC_ALLOW, matched: clientID, denied: otherID, admitted: clientID,
			deniedAuthz: [2]string{"", "not_allowed"}, admittedAuthz: [2]string{key, "allowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backend := startCountingBackend(t)
			ca := newCA(t, "cluster.local")
			server, _ := newDataplane(t, ca, serverID)
			l := inboundListener(t, inboundName, "127.0.0.1:0", inboundName, "spiffe://cluster.local/")
			l.FilterChains[0].Filters = append([]*listenerv3.Filter{netRBAC(t, inboundName, tt.action, map[string]*rbacv3.Policy{
				key: policy(perms(anyPermission()), principal(tt.matched)),
			})}, l.FilterChains[0].Filters...)
			path := withTCPAccessLog(t, l)
			ctx := t.Context()
			must(t, server.OnClusters(ctx, []*clusterv3.Cluster{staticCluster(t, inboundName, backend.ln.Addr().String())}))
			must(t, server.OnListeners(ctx, []*listenerv3.Listener{l}))
			inbound := listenerAddr(t, server, inboundName)

			refused(t, dial(t, tcpSidecar(t, ca, tt.denied, inbound)))
			c := dial(t, tcpSidecar(t, ca, tt.admitted, inbound))
			exchange(t, c, "hi", "echo:hi")
			must(t, c.Close())

			want := map[string]accesslog.Entry{
				tt.denied: {Protocol: "TCP", ResponseFlags: "RBAC", PeerID: tt.denied,
					AuthzPolicy: tt.deniedAuthz[0], AuthzReason: tt.deniedAuthz[1]},
				tt.admitted: {Protocol: "TCP", ResponseFlags: "-", PeerID: tt.admitted,
					AuthzPolicy: tt.admittedAuthz[0], AuthzReason: tt.admittedAuthz[1],
					UpstreamCluster: inboundName, UpstreamHost: backend.ln.Addr().String(),
					BytesReceived: int64(len("hi")), BytesSent: int64(len("echo:hi"))},
			}
			for _, got := range tcpLogLines(t, path, 2) {
				if got != want[got.PeerID] {
					t.Errorf("logged %+v\nwant %+v", got, want[got.PeerID])
				}
				delete(want, got.PeerID)
			}
			if len(want) > 0 {
				t.Errorf("no line for %v", want)
			}
		})
	}
}
