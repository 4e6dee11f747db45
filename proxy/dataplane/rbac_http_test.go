package dataplane_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weftmesh/weft/proxy/dataplane"
)

// rbacHTTP is an app behind a server sidecar whose inbound HTTP listener
// runs RBAC filters and writes an access log; clients reach it through
// sidecars of their own (sidecar) or straight over mTLS (dialInbound).
type rbacHTTP struct {
	ca        *testCA
	server    *dataplane.Dataplane
	metrics   *prometheus.Registry
	inbound   string
	accessLog string
}

// newRBACHTTP starts the server; its log goes to logs when not nil.
func newRBACHTTP(t *testing.T, appAddr string, h2c bool, logs *logBuffer, filters ...*hcmv3.HttpFilter) *rbacHTTP {
	t.Helper()
	s := &rbacHTTP{ca: newCA(t, "cluster.local"), accessLog: filepath.Join(t.TempDir(), "access.log")}
	s.server, s.metrics = newDataplane(t, s.ca, serverID, logTo(logs))
	ctx := t.Context()
	must(t, s.server.OnClusters(ctx, []*clusterv3.Cluster{httpInboundCluster(t, inboundName, appAddr, h2c)}))
	must(t, s.server.OnListeners(ctx, []*listenerv3.Listener{withRBAC(t, httpInboundListener(t, inboundName, "127.0.0.1:0"), s.accessLog, filters...)}))
	s.inbound = listenerAddr(t, s.server, inboundName)
	return s
}

// sidecar starts a client sidecar with identity id and returns the
// address of its outbound listener to the server.
func (s *rbacHTTP) sidecar(t *testing.T, id string) string {
	t.Helper()
	client, _ := newDataplane(t, s.ca, id)
	ctx := t.Context()
	must(t, client.OnClusters(ctx, []*clusterv3.Cluster{httpOutboundCluster(t, outboundCluster, outboundSNI, serverID)}))
	must(t, client.OnEndpoints(ctx, []*endpointv3.ClusterLoadAssignment{assignment(t, outboundCluster, s.inbound)}))
	must(t, client.OnListeners(ctx, []*listenerv3.Listener{httpOutboundListener(t, outboundName, "127.0.0.1:0")}))
	must(t, client.OnRoutes(ctx, []*routev3.RouteConfiguration{routeTo(outboundName, outboundVhost, outboundCluster)}))
	return listenerAddr(t, client, outboundName)
}

// dialInbound connects to the server's inbound listener over mTLS as id,
// speaking HTTP/1.1: no sidecar of ours normalizes the request first.
func (s *rbacHTTP) dialInbound(t *testing.T, id string) net.Conn {
	t.Helper()
	cfg := tlsconfig.MTLSClientConfig(s.ca.svid(t, id), s.ca.bundle, tlsconfig.AuthorizeID(spiffeid.RequireFromString(serverID)))
	cfg.NextProtos = []string{"http/1.1"}
	tc := tls.Client(dial(t, s.inbound), cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	must(t, tc.HandshakeContext(ctx))
	return tc
}

// rawRequest sends one request line as written, which Go's client would
// have cleaned, and returns the response status and body.
func rawRequest(t *testing.T, c net.Conn, method, target string) (int, string) {
	t.Helper()
	must(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	if _, err := io.WriteString(c, method+" "+target+" HTTP/1.1\r\nHost: "+outboundVhost+"\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	return resp.StatusCode, string(body)
}

func denials(listener, policy, reason string) map[string]string {
	return map[string]string{"listener": listener, "policy": policy, "reason": reason}
}

// TestRBACDenyAdminHoldsAgainstPathTricks is the DENY on /admin:
// exact /admin and prefix /admin/, case-sensitive and case-insensitive,
// against raw request targets that a lenient normalization would let
// through. Every one is answered 403 or 400, never 200, whether it comes
// through a client sidecar or straight to the server's inbound listener,
// and the app never sees it.
func TestRBACDenyAdminHoldsAgainstPathTricks(t *testing.T) {
	type want struct{ sensitive, insensitive int }
	targets := []struct {
		target string
		want   want
	}{
		{"/admin", want{403, 403}},
		{"/admin/", want{403, 403}},
		{"/admin/users", want{403, 403}},
		{"//admin", want{403, 403}},
		{"/ADMIN", want{200, 403}},
		{"/Admin/users", want{200, 403}},
		{"/app/%2E%2E/admin", want{403, 403}},
		{"/app/%2e%2e/admin/", want{403, 403}},
		{"/admin%2F", want{400, 400}},
		{"/admin%2fx", want{400, 400}},
		{"/admin;x=y", want{403, 403}},
		{"/.;x/admin", want{403, 403}},
		{"/admin#frag", want{400, 400}},
		{"/admin?x", want{403, 403}},
		{"/%61dmin", want{403, 403}},
		{"/public", want{200, 200}},
		{"/administrator", want{200, 200}},
	}
	for _, mode := range []struct {
		name       string
		ignoreCase bool
		key        string
	}{
		{"case-sensitive", false, "default/deny-admin/rules[0]"},
		{"ignore_case", true, "default/deny-admin-ci/rules[0]"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			app := &pathRecorder{}
			s := newRBACHTTP(t, app.start(t), false, nil, httpRBAC(t, rbacv3.RBAC_DENY, map[string]*rbacv3.Policy{
				mode.key: policy(perms(orRules(urlPath("exact", "/admin", mode.ignoreCase), urlPath("prefix", "/admin/", mode.ignoreCase))), anyPrincipal()),
			}))
			outbound := s.sidecar(t, clientID)
			for _, via := range []string{"sidecar", "direct"} {
				t.Run(via, func(t *testing.T) {
					for _, tt := range targets {
						want := tt.want.sensitive
						if mode.ignoreCase {
							want = tt.want.insensitive
						}
						var c net.Conn
						if via == "sidecar" {
							c = dial(t, outbound)
						} else {
							c = s.dialInbound(t, clientID)
						}
						before := len(app.received())
						denied := metric(t, s.metrics, "weft_proxy_authz_denied_total", denials(inboundName, mode.key, "denied"))
						code, body := rawRequest(t, c, "GET", tt.target)
						if code != want {
							t.Errorf("GET %s: %d %q, want %d", tt.target, code, body, want)
						}
						got := app.received()[before:]
						if want != http.StatusOK && len(got) > 0 {
							t.Errorf("GET %s reached the app as %q", tt.target, got)
						}
						if want == http.StatusForbidden {
							if body != "RBAC: access denied" {
								t.Errorf("GET %s: body %q, want the generic RBAC: access denied", tt.target, body)
							}
							if v := metric(t, s.metrics, "weft_proxy_authz_denied_total", denials(inboundName, mode.key, "denied")); v != denied+1 {
								t.Errorf("GET %s: denials of %s went from %v to %v, want one more", tt.target, mode.key, denied, v)
							}
						}
					}
				})
			}
			// Every 403 of the server is in its access log with the
			// policy and the reason.
			var forbidden int
			for _, e := range readAccessLog(t, s.accessLog) {
				if e.Code != http.StatusForbidden {
					continue
				}
				forbidden++
				if e.AuthzPolicy != mode.key || e.AuthzReason != "denied" || e.Flags != "RBAC" || e.PeerID != clientID {
					t.Errorf("access log entry %+v, want policy %s, reason denied, flag RBAC, peer %s", e, mode.key, clientID)
				}
			}
			if forbidden == 0 {
				t.Error("no 403 in the access log")
			}
		})
	}
}

// TestRBACAllowPublicForOneServiceAccount is the ALLOW on GET
// /public by one service account: it admits that client and denies
// another, and anything else the first asks; an AUDIT policy on the
// chain counts and logs without deciding.
func TestRBACAllowPublicForOneServiceAccount(t *testing.T) {
	const allowKey, auditKey = "default/public-get/rules[0]", "default/audit-public/rules[0]"
	var logs logBuffer
	app := &pathRecorder{}
	s := newRBACHTTP(t, app.start(t), false, &logs,
		httpRBAC(t, rbacv3.RBAC_LOG, map[string]*rbacv3.Policy{auditKey: policy(perms(urlPath("prefix", "/public", false)), anyPrincipal())}),
		httpRBAC(t, rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{
			allowKey: policy(perms(andRules(methodIs("GET"), urlPath("exact", "/public", false))), principal(clientID)),
		}))
	allowed, other := s.sidecar(t, clientID), s.sidecar(t, otherID)
	for _, tt := range []struct {
		name, via, method, target string
		want                      int
	}{
		{"allowed client, GET /public", allowed, "GET", "/public", 200},
		{"allowed client, GET /public?page=2", allowed, "GET", "/public?page=2", 200},
		{"other service account", other, "GET", "/public", 403},
		{"allowed client, POST", allowed, "POST", "/public", 403},
		{"allowed client, another path", allowed, "GET", "/private", 403},
		{"allowed client, /public/x", allowed, "GET", "/public/x", 403},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := rawRequest(t, dial(t, tt.via), tt.method, tt.target)
			if code != tt.want {
				t.Errorf("%s %s: %d %q, want %d", tt.method, tt.target, code, body, tt.want)
			}
		})
	}
	if got := app.received(); !slices.Equal(got, []string{"/public", "/public?page=2"}) {
		t.Errorf("the app received %q, want only the two allowed requests", got)
	}
	if v := metric(t, s.metrics, "weft_proxy_authz_denied_total", denials(inboundName, "", "not_allowed")); v != 4 {
		t.Errorf("not_allowed denials: %v, want 4", v)
	}
	if v := metric(t, s.metrics, "weft_proxy_authz_audited_total", map[string]string{"listener": inboundName, "policy": auditKey}); v != 5 {
		t.Errorf("audited requests: %v, want 5 (every /public request, allowed or not)", v)
	}
	entries := readAccessLog(t, s.accessLog)
	if len(entries) != 6 {
		t.Fatalf("%d access log entries, want 6", len(entries))
	}
	if e := entries[0]; e.AuthzPolicy != allowKey || e.AuthzReason != "allowed" || e.AuthzAudit != auditKey || e.PeerID != clientID {
		t.Errorf("allowed entry %+v", e)
	}
	if e := entries[2]; e.Code != 403 || e.AuthzPolicy != "" || e.AuthzReason != "not_allowed" || e.PeerID != otherID || e.Flags != "RBAC" {
		t.Errorf("denied entry %+v, want 403 not_allowed RBAC from %s", e, otherID)
	}
	if recs := logs.find(t, "request audited"); len(recs) != 5 {
		t.Errorf("%d audit log records, want 5", len(recs))
	}
	recs := logs.find(t, "request denied")
	if len(recs) != 4 || recs[0]["reason"] != "not_allowed" || recs[0]["peer_id"] != otherID {
		t.Errorf("denial log records %v, want 4, the first not_allowed for %s", recs, otherID)
	}
}

// TestRBACDeniesGRPCWithPermissionDenied calls through the mesh with a
// real grpc-go client: a denied method fails with PERMISSION_DENIED and
// the generic message, other methods still work.
func TestRBACDeniesGRPCWithPermissionDenied(t *testing.T) {
	const key = "default/no-unary/rules[0]"
	s := newRBACHTTP(t, startGRPCApp(t), true, nil, httpRBAC(t, rbacv3.RBAC_DENY, map[string]*rbacv3.Policy{
		key: policy(perms(urlPath("exact", "/weft.test.Echo/Unary", false)), principal(clientID)),
	}))
	conn, err := grpc.NewClient(s.sidecar(t, clientID), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority(outboundVhost))
	must(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	var out wrapperspb.StringValue
	err = conn.Invoke(ctx, "/weft.test.Echo/Unary", wrapperspb.String("hi"), &out)
	if st := status.Convert(err); st.Code() != codes.PermissionDenied || st.Message() != "RBAC: access denied" {
		t.Errorf("denied call: %v, want PERMISSION_DENIED: RBAC: access denied", err)
	}
	stream, err := conn.NewStream(ctx, &echoService.Streams[0], "/weft.test.Echo/ServerStream")
	must(t, err)
	must(t, stream.SendMsg(wrapperspb.String("n")))
	must(t, stream.CloseSend())
	if err := stream.RecvMsg(&out); err != nil || out.GetValue() != "n0" {
		t.Errorf("allowed stream: %q, %v, want n0", out.GetValue(), err)
	}
	if v := metric(t, s.metrics, "weft_proxy_authz_denied_total", denials(inboundName, key, "denied")); v != 1 {
		t.Errorf("denials of %s: %v, want 1", key, v)
	}
}
