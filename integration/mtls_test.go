package integration

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
)

const (
	frontendID = "spiffe://cluster.local/ns/shop/sa/frontend"
	backendID  = "spiffe://cluster.local/ns/shop/sa/backend"
)

// TestBytesFlowOverMTLSWithVerifiedIdentities checks the basic promise:
// the frontend's bytes reach the backend app through both sidecars, and
// each sidecar verified the other's SPIFFE ID.
func TestBytesFlowOverMTLSWithVerifiedIdentities(t *testing.T) {
	f := newMesh(t, 71)
	conn := f.frontendDial()
	r := bufio.NewReader(conn)
	for i := range 20 {
		f.mustRoundTrip(conn, r, fmt.Sprintf("hello %d", i))
	}

	front := metrics(t, f.frontend)
	if !hasSeries(front, "weft_proxy_connections_total", `direction="outbound"`, `peer_id="`+backendID+`"`) {
		t.Errorf("frontend sidecar did not record the backend's SPIFFE ID on its outbound connection:\n%s", grepLines(front, "weft_proxy_connections_total"))
	}
	back := metrics(t, f.backend)
	if !hasSeries(back, "weft_proxy_connections_total", `direction="inbound"`, `peer_id="`+frontendID+`"`) {
		t.Errorf("backend sidecar did not record the frontend's SPIFFE ID on its inbound connection:\n%s", grepLines(back, "weft_proxy_connections_total"))
	}
}

// TestPlaintextToMeshPortIsRefused: what an unmeshed client sees when it
// connects to the backend's mesh port without TLS, and what it sees with
// TLS but no client certificate: the connection is closed, no app byte
// comes back.
func TestPlaintextToMeshPortIsRefused(t *testing.T) {
	f := newMesh(t, 72)
	addr := fmt.Sprintf("%s3:%d", f.net, backendMeshPort)

	t.Run("plaintext", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: backend\r\n\r\n")
		got, err := io.ReadAll(conn)
		if strings.Contains(string(got), "echo:") {
			t.Fatalf("plaintext reached the backend app: %q", got)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the sidecar held the plaintext connection open instead of closing it")
		}
	})

	t.Run("TLS without a client certificate", func(t *testing.T) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{
			InsecureSkipVerify: true, // this client probes the server; it never trusts it
			MinVersion:         tls.VersionTLS13,
		})
		if err == nil {
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.WriteString(conn, "hello\n")
			got, rerr := io.ReadAll(conn)
			if rerr == nil && len(got) > 0 || strings.Contains(string(got), "echo:") {
				t.Fatalf("a client without a certificate got an answer: %q", got)
			}
		}
	})

	back := metrics(t, f.backend)
	if !strings.Contains(back, "weft_proxy_tls_handshake_errors_total") {
		t.Errorf("backend sidecar counted no failed handshake:\n%s", grepLines(back, "weft_proxy_"))
	}
}

// TestNACKedUpdateLeavesTrafficFlowing pushes the frontend a listener its
// proxy cannot run. The proxy must refuse the update, the control plane
// must see the refusal with a reason naming the listener, and traffic must
// keep flowing on old and new connections.
func TestNACKedUpdateLeavesTrafficFlowing(t *testing.T) {
	f := newMesh(t, 73)
	conn := f.frontendDial()
	r := bufio.NewReader(conn)
	f.mustRoundTrip(conn, r, "before")

	mesh := f.cp.XDS().Mesh()
	w := mesh.Workload(model.NamespacedName{Namespace: "shop", Name: "frontend-1"})
	res, err := translate.Proxy(mesh, w)
	if err != nil {
		t.Fatal(err)
	}
	res[resourcev3.ListenerType] = append(res[resourcev3.ListenerType], unsupportedListener(t, f.net+"2"))
	if err := f.cp.XDS().SetResources(t.Context(), w.NodeID(), res); err != nil {
		t.Fatal(err)
	}

	var detail string
	waitFor(t, "the frontend proxy to NACK the listener update", func() bool {
		for _, st := range f.cp.XDS().Status() {
			if st.Node == w.NodeID() && st.Nacked[resourcev3.ListenerType] != "" {
				detail = st.Nacked[resourcev3.ListenerType]
				return true
			}
		}
		return false
	})
	if !strings.Contains(detail, "bad-listener") {
		t.Errorf("NACK detail %q does not name the refused listener", detail)
	}
	f.mustRoundTrip(conn, r, "after, same connection")
	conn2 := f.frontendDial()
	f.mustRoundTrip(conn2, bufio.NewReader(conn2), "after, new connection")
}

// unsupportedListener is a listener whose only filter is one Weft's proxy
// does not implement.
func unsupportedListener(t *testing.T, addr string) types.Resource {
	t.Helper()
	cfg, err := anypb.New(&structpb.Struct{})
	if err != nil {
		t.Fatal(err)
	}
	return &listenerv3.Listener{
		Name: "bad-listener",
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: addr, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 9999},
		}}},
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name:       "envoy.filters.network.mystery",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: cfg},
		}}}},
	}
}

// TestControlPlaneOutage stops the control plane for a while: established
// connections and new connections keep working on the proxies' last good
// configuration, and when the control plane comes back on the same address
// the proxies reconnect and pick up changes.
func TestControlPlaneOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("waits through a control plane outage")
	}
	f := newMesh(t, 74)
	conn := f.frontendDial()
	r := bufio.NewReader(conn)
	f.mustRoundTrip(conn, r, "before the outage")

	if err := f.cp.Close(); err != nil {
		t.Fatalf("stopping the control plane: %v", err)
	}
	time.Sleep(3 * time.Second) // several reconnect attempts fail meanwhile
	f.mustRoundTrip(conn, r, "during the outage, same connection")
	conn2 := f.frontendDial()
	f.mustRoundTrip(conn2, bufio.NewReader(conn2), "during the outage, new connection")

	// Come back with one more outbound listener for the frontend, and watch
	// it appear: proof that the proxy reconnected and applied new config.
	writeFile(t, f.cpCfg.ConfigDir+"/mesh.yaml", strings.Replace(meshYAML(f.net),
		"  - {service: backend, port: 9000}\n",
		"  - {service: backend, port: 9000}\n  - {service: backend-v2, port: 9000, localPort: 9001}\n", 1)+`---
apiVersion: v1
kind: Service
metadata: {name: backend-v2, namespace: shop}
spec:
  selector: {app: backend}
  ports:
  - {name: tcp-echo, port: 9000}
`)
	f.startControlPlane()
	waitFor(t, "the frontend to serve the new listener after reconnecting", func() bool {
		c, err := net.DialTimeout("tcp", f.net+"2:9001", time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		got, err := roundTrip(c, bufio.NewReader(c), "via the new listener")
		return err == nil && got == "echo: via the new listener"
	})
	f.mustRoundTrip(conn, r, "after the outage, same connection")
}

func hasSeries(page, name string, labels ...string) bool {
	for _, line := range strings.Split(page, "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if ok && !strings.HasSuffix(line, " 0") {
			return true
		}
	}
	return false
}

func grepLines(page, substr string) string {
	var out []string
	for _, line := range strings.Split(page, "\n") {
		if strings.Contains(line, substr) && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
