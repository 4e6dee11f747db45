package dataplane_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftmesh/weft/proxy/dataplane"
)

// fakeCapture stands in for the capture rules on loopback, where tests
// run without root: it tells the dataplane the original destination of
// each connection a test dials through it, and, when redirect is set,
// sends the dataplane's own dials to redirect, as rules without the
// proxy's UID exemption would. origdst_netns_test.go runs the real rules.
type fakeCapture struct {
	mu   sync.Mutex
	dsts map[string]netip.AddrPort // client address → original destination; invalid: not redirected
	// redirect is where the dataplane's dials go when set.
	redirect atomic.Pointer[string]
}

func newFakeCapture() *fakeCapture {
	return &fakeCapture{dsts: make(map[string]netip.AddrPort)}
}

// originalDst is the dataplane's Config.OriginalDst.
func (f *fakeCapture) originalDst(c net.Conn) (netip.AddrPort, error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		f.mu.Lock()
		dst, ok := f.dsts[c.RemoteAddr().String()]
		f.mu.Unlock()
		switch {
		case ok && dst.IsValid():
			return dst, nil
		case ok || time.Now().After(deadline):
			return netip.AddrPort{}, errors.New("not redirected")
		}
		time.Sleep(time.Millisecond)
	}
}

func (f *fakeCapture) record(c net.Conn, dst netip.AddrPort) {
	f.mu.Lock()
	f.dsts[c.LocalAddr().String()] = dst
	f.mu.Unlock()
}

// dial is the dataplane's Config.Dial.
func (f *fakeCapture) dial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	to := f.redirect.Load()
	if to == nil {
		return d.DialContext(ctx, network, address)
	}
	c, err := d.DialContext(ctx, network, *to)
	if err != nil {
		return nil, err
	}
	f.record(c, netip.MustParseAddrPort(address))
	return c, nil
}

// dialAs connects to a capture listener at addr as an app's connection to
// dst would arrive there (dst invalid: dialed directly).
func (f *fakeCapture) dialAs(t *testing.T, addr string, dst netip.AddrPort) *net.TCPConn {
	t.Helper()
	c := dial(t, addr)
	f.record(c, dst)
	return c
}

func newCaptureDataplane(t *testing.T, f *fakeCapture) (*dataplane.Dataplane, *prometheus.Registry) {
	t.Helper()
	return newDataplane(t, newCA(t, "cluster.local"), clientID, func(c *dataplane.Config) {
		c.OriginalDst = f.originalDst
		c.Dial = f.dial
	})
}

// TestOriginalDestinationDispatch follows captured connections on
// loopback: virtualOutbound hands each to the virtual listener of its
// original destination or passes it through, virtualInbound picks the
// chain of its destination port, and a connection to the proxy's own
// listener is closed as a loop.
func TestOriginalDestinationDispatch(t *testing.T) {
	web, app, direct := startBackend(t, "web"), startBackend(t, "app"), startBackend(t, "direct")
	f := newFakeCapture()
	dp, reg := newCaptureDataplane(t, f)
	must(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{
		originalDstCluster("PassthroughCluster"),
		staticCluster(t, "outbound|80||web", web.addr()),
		staticCluster(t, "inbound|8080", app.addr()),
	}))
	must(t, dp.OnListeners(t.Context(), []*listenerv3.Listener{
		virtualOutbound(t, "127.0.0.1:0", "PassthroughCluster"),
		virtualListener(t, "outbound|web|80", "198.18.9.9:80", "outbound|80||web", "[2001:db8::9]:80"),
		virtualListener(t, "outbound|any|9090", "0.0.0.0:9090", "outbound|80||web"),
		virtualInbound(t, "127.0.0.1:0", "PassthroughCluster", inboundPort{8080, "inbound|8080"}),
	}))
	vo, vi := listenerAddr(t, dp, "virtualOutbound"), listenerAddr(t, dp, "virtualInbound")

	tests := []struct {
		name     string
		via      string
		dst      netip.AddrPort
		want     string // the backend's greeting; empty: closed
		listener string // counted under it
		result   string
	}{
		{"virtual listener of the destination", vo, netip.MustParseAddrPort("198.18.9.9:80"), "web:", "outbound|web|80", "ok"},
		{"additional address", vo, netip.MustParseAddrPort("[2001:db8::9]:80"), "web:", "outbound|web|80", "ok"},
		{"wildcard virtual listener of the port", vo, netip.MustParseAddrPort("198.18.7.7:9090"), "web:", "outbound|any|9090", "ok"},
		{"unknown destination passes through", vo, netip.MustParseAddrPort(direct.addr()), "direct:", "virtualOutbound", "ok"},
		{"declared inbound port", vi, netip.MustParseAddrPort("198.18.0.5:8080"), "app:", "virtualInbound", "ok"},
		{"undeclared inbound port passes through", vi, netip.MustParseAddrPort(direct.addr()), "direct:", "virtualInbound", "ok"},
		{"dialed directly", vo, netip.AddrPort{}, "", "virtualOutbound", "loop"},
		{"original destination is the proxy's own listener", vo, netip.MustParseAddrPort(vi), "", "virtualOutbound", "loop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			direction := "outbound"
			if tt.listener == "virtualInbound" {
				direction = "inbound"
			}
			labels := connections(tt.listener, direction, "", tt.result)
			before := metric(t, reg, "weft_proxy_connections_total", labels)
			c := f.dialAs(t, tt.via, tt.dst)
			if tt.want == "" {
				refused(t, c)
			} else {
				exchange(t, c, "hello", tt.want+"hello")
				c.Close()
			}
			eventually(t, func() string {
				if got := metric(t, reg, "weft_proxy_connections_total", labels); got != before+1 {
					return "connection not counted under " + tt.listener + " with result " + tt.result
				}
				return ""
			})
		})
	}
}

// TestBlackHoleClusterClosesConnections: with REGISTRY_ONLY, destinations
// the mesh does not know go to a STATIC cluster without endpoints, and
// the app's connection is closed.
func TestBlackHoleClusterClosesConnections(t *testing.T) {
	direct := startBackend(t, "direct")
	f := newFakeCapture()
	dp, reg := newCaptureDataplane(t, f)
	must(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{blackHoleCluster("BlackHoleCluster")}))
	must(t, dp.OnListeners(t.Context(), []*listenerv3.Listener{virtualOutbound(t, "127.0.0.1:0", "BlackHoleCluster")}))
	refused(t, f.dialAs(t, listenerAddr(t, dp, "virtualOutbound"), netip.MustParseAddrPort(direct.addr())))
	eventually(t, func() string {
		if metric(t, reg, "weft_proxy_connections_total", connections("virtualOutbound", "outbound", "", "no_endpoints")) != 1 {
			return "connection not counted as no_endpoints"
		}
		return ""
	})
}

// TestCapturedProxyTrafficIsALoop: when the proxy's own dials are
// captured (its UID is not exempted), a passthrough connection would dial
// the proxy again and again; the dataplane recognises its own socket and
// closes both ends at once.
func TestCapturedProxyTrafficIsALoop(t *testing.T) {
	direct := startBackend(t, "direct")
	f := newFakeCapture()
	dp, reg := newCaptureDataplane(t, f)
	must(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{originalDstCluster("PassthroughCluster")}))
	must(t, dp.OnListeners(t.Context(), []*listenerv3.Listener{virtualOutbound(t, "127.0.0.1:0", "PassthroughCluster")}))
	vo := listenerAddr(t, dp, "virtualOutbound")
	f.redirect.Store(&vo)

	start := time.Now()
	refused(t, f.dialAs(t, vo, netip.MustParseAddrPort(direct.addr())))
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the looping connection took %v to close", took)
	}
	eventually(t, func() string {
		if metric(t, reg, "weft_proxy_connections_total", connections("virtualOutbound", "outbound", "", "loop")) != 1 {
			return "the proxy's own connection not counted as one loop"
		}
		return ""
	})
}

// TestVirtualListenerDrainsItsConnections: a connection handed to a
// virtual listener lives under that listener's configuration: changing
// the virtual listener drains it (closed after the 1s drain timeout),
// while changing virtualOutbound does not.
func TestVirtualListenerDrainsItsConnections(t *testing.T) {
	web := startBackend(t, "web")
	f := newFakeCapture()
	dp, _ := newCaptureDataplane(t, f)
	must(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{
		originalDstCluster("PassthroughCluster"), blackHoleCluster("BlackHoleCluster"),
		staticCluster(t, "outbound|80||web", web.addr()),
	}))
	virtual := virtualListener(t, "outbound|web|80", "198.18.9.9:80", "outbound|80||web")
	must(t, dp.OnListeners(t.Context(), []*listenerv3.Listener{virtualOutbound(t, "127.0.0.1:0", "PassthroughCluster"), virtual}))
	vo := listenerAddr(t, dp, "virtualOutbound")
	c := f.dialAs(t, vo, netip.MustParseAddrPort("198.18.9.9:80"))
	exchange(t, c, "one", "web:one")

	// virtualOutbound changes, on the same address: not this connection's
	// listener.
	must(t, dp.OnListeners(t.Context(), []*listenerv3.Listener{virtualOutbound(t, "127.0.0.1:0", "BlackHoleCluster"), virtual}))
	time.Sleep(1500 * time.Millisecond) // past the drain timeout
	exchange(t, c, "two", "two")

	changed := virtualListener(t, "outbound|web|80", "198.18.9.9:80", "outbound|80||web")
	changed.StatPrefix = "changed"
	must(t, dp.OnListeners(t.Context(), []*listenerv3.Listener{virtualOutbound(t, "127.0.0.1:0", "BlackHoleCluster"), changed}))
	exchange(t, c, "three", "three") // draining, still served
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(c); err != nil || len(rest) > 0 {
		t.Fatalf("after the drain timeout: %q, %v; want the connection closed (EOF)", rest, err)
	}
}

// TestAdditionalAddressesBind: a bound listener binds each of its
// addresses, each to its own family; an IPv6 address that cannot be bound
// because the namespace has no IPv6 is skipped, an IPv4 failure refuses
// the update.
func TestAdditionalAddressesBind(t *testing.T) {
	tests := []struct {
		name    string
		failing string // the network whose binds fail with EADDRNOTAVAIL
		err     string
		bound   []string
	}{
		{"both families", "", "", []string{"tcp4 127.0.0.1:0", "tcp6 [::1]:0"}},
		{"IPv6 unavailable", "tcp6", "", []string{"tcp4 127.0.0.1:0"}},
		{"IPv4 address unavailable", "tcp4", `listener "both": address: listen tcp4 127.0.0.1:0: bind: cannot assign requested address`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var bound []string
			dp, _ := newDataplane(t, newCA(t, "cluster.local"), clientID, func(c *dataplane.Config) {
				c.Listen = func(ctx context.Context, network, address string) (net.Listener, error) {
					if network == tt.failing {
						return nil, &net.OpError{Op: "listen", Net: network, Addr: addrOf(address), Err: os.NewSyscallError("bind", syscall.EADDRNOTAVAIL)}
					}
					bound = append(bound, network+" "+address)
					if network == "tcp6" {
						address = "127.0.0.1:0" // the test needs no IPv6
					}
					var lc net.ListenConfig
					ln, err := lc.Listen(ctx, "tcp", address)
					return ln, err
				}
			})
			l := outboundListener(t, "both", "127.0.0.1:0", "c")
			l.AdditionalAddresses = []*listenerv3.AdditionalAddress{{Address: socketAddress(t, "[::1]:0")}}
			err := dp.OnListeners(t.Context(), []*listenerv3.Listener{l})
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("OnListeners: %v", err)
			case tt.err != "" && (err == nil || err.Error() != tt.err):
				t.Fatalf("OnListeners error %v, want %s", err, tt.err)
			}
			if !slices.Equal(bound, tt.bound) {
				t.Errorf("bound %q, want %q", bound, tt.bound)
			}
		})
	}
}

func addrOf(address string) net.Addr {
	return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(address))
}

// TestRestoredDestinationPortForRBAC: on virtualInbound, a connection's
// local address is its original destination, so a network RBAC rule on
// destination_port 8080 matches connections the app's clients sent to
// 8080 (not 15006).
func TestRestoredDestinationPortForRBAC(t *testing.T) {
	app := startBackend(t, "app")
	f := newFakeCapture()
	dp, reg := newCaptureDataplane(t, f)
	must(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{staticCluster(t, "inbound|8080", app.addr())}))
	l := virtualInbound(t, "127.0.0.1:0", "", inboundPort{8080, "inbound|8080"}, inboundPort{9090, "inbound|8080"})
	deny8080 := netRBAC(t, "virtualInbound", rbacv3.RBAC_DENY, map[string]*rbacv3.Policy{
		"default/deny-8080/rules[0]": policy(perms(&rbacv3.Permission{Rule: &rbacv3.Permission_DestinationPort{DestinationPort: 8080}}), anyPrincipal()),
	})
	for _, fc := range l.FilterChains {
		fc.Filters = append([]*listenerv3.Filter{deny8080}, fc.Filters...)
	}
	must(t, dp.OnListeners(t.Context(), []*listenerv3.Listener{l}))
	vi := listenerAddr(t, dp, "virtualInbound")

	refused(t, f.dialAs(t, vi, netip.MustParseAddrPort("198.18.0.5:8080")))
	exchange(t, f.dialAs(t, vi, netip.MustParseAddrPort("198.18.0.5:9090")), "hi", "app:hi")
	if v := metric(t, reg, "weft_proxy_connections_total", connections("virtualInbound", "inbound", "", "rbac_denied")); v != 1 {
		t.Errorf("%v connections denied, want 1 (the one to port 8080)", v)
	}
}
