package dataplane_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/weftmesh/weft/proxy/capture"
	"github.com/weftmesh/weft/proxy/dataplane"
)

// The tests below run the real capture rules (capture.Install) in a pod
// network namespace the test creates, joined by a veth to a peer
// namespace:
//
//	pod  198.18.0.1/24  eth0 ── eth0  198.18.0.2/24  peer
//	     default via 198.18.0.2 (so that 198.18.9.9, a ClusterIP, routes)
//
// The dataplane runs in the test process, with its sockets in the pod
// namespace; its dials are made as UID 1337 (setfsuid on a thread of
// their own), the app's as UID 1000, as in a pod.

const (
	podIP     = "198.18.0.1"
	peerIP    = "198.18.0.2"
	appUID    = 1000
	unusedUID = 4242
)

var netnsCount atomic.Int32

// podNetwork is the two namespaces.
type podNetwork struct {
	pod, peer netns.NsHandle
}

func newPodNetwork(t *testing.T) *podNetwork {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and installs nftables capture rules in them (CI runs as root)")
	}
	n := &podNetwork{pod: newNetns(t), peer: newNetns(t)}
	hp, hq := netnsHandle(t, n.pod), netnsHandle(t, n.peer)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "peer0", PeerNamespace: netlink.NsFd(int(n.peer))}
	if err := hp.LinkAdd(veth); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	peerEnd, err := hq.LinkByName("peer0")
	if err != nil {
		t.Fatalf("veth peer: %v", err)
	}
	if err := hq.LinkSetName(peerEnd, "eth0"); err != nil {
		t.Fatalf("rename veth peer: %v", err)
	}
	for _, side := range []struct {
		h    *netlink.Handle
		addr string
	}{{hp, podIP + "/24"}, {hq, peerIP + "/24"}} {
		l, err := side.h.LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		a, err := netlink.ParseAddr(side.addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := side.h.AddrAdd(l, a); err != nil {
			t.Fatalf("add address %s: %v", side.addr, err)
		}
		if err := side.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	if err := hp.RouteAdd(&netlink.Route{Gw: net.ParseIP(peerIP)}); err != nil {
		t.Fatalf("pod default route: %v", err)
	}
	return n
}

// newNetns makes a network namespace with loopback up, removed when the
// test ends.
func newNetns(t *testing.T) netns.NsHandle {
	t.Helper()
	name := fmt.Sprintf("weft-t-%d-%d", os.Getpid(), netnsCount.Add(1))
	var ns netns.NsHandle
	if err := onThread(func() error {
		var err error
		ns, err = netns.NewNamed(name) // and enters it, on this thread only
		return err
	}); err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	t.Cleanup(func() {
		ns.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	h := netnsHandle(t, ns)
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatalf("lo up: %v", err)
	}
	return ns
}

func netnsHandle(t *testing.T, ns netns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// onThread runs fn on a locked thread that is thrown away afterwards, so
// that its namespace and fsuid never leak to other goroutines.
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		errc <- fn()
	}()
	return <-errc
}

// in runs fn in ns, as uid when it is not 0 (setfsuid: the sockets fn
// creates belong to uid, which the capture rules match on).
func in(ns netns.NsHandle, uid int, fn func() error) error {
	return onThread(func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("enter netns: %w", err)
		}
		if uid != 0 {
			_, _ = unix.SetfsuidRetUid(uid)
			// setfsuid answers the previous fsuid; -1 changes nothing.
			if got, _ := unix.SetfsuidRetUid(-1); got != uid {
				return fmt.Errorf("setfsuid(%d): fsuid is %d", uid, got)
			}
		}
		return fn()
	})
}

// listenIn opens a listener in ns.
func listenIn(ns netns.NsHandle) func(ctx context.Context, network, address string) (net.Listener, error) {
	return func(ctx context.Context, network, address string) (net.Listener, error) {
		var ln net.Listener
		err := in(ns, 0, func() error {
			var lc net.ListenConfig
			var err error
			ln, err = lc.Listen(ctx, network, address)
			return err
		})
		return ln, err
	}
}

// dialIn connects from ns as uid.
func dialIn(ns netns.NsHandle, uid int) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		var c net.Conn
		err := in(ns, uid, func() error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(ctx, network, address)
			return err
		})
		return c, err
	}
}

// backendIn starts a backend (helpers_test.go) listening in ns.
func backendIn(t *testing.T, ns netns.NsHandle, name, address string) *backend {
	t.Helper()
	ln, err := listenIn(ns)(t.Context(), "tcp", address)
	if err != nil {
		t.Fatalf("backend %s: %v", name, err)
	}
	b := &backend{name: name, ln: ln}
	b.wg.Add(1)
	go b.serve()
	t.Cleanup(func() {
		ln.Close()
		b.wg.Wait()
	})
	return b
}

// installCapture installs the capture rules in the pod namespace with
// proxyUID exempted, and removes them when the test ends.
func (n *podNetwork) installCapture(t *testing.T, proxyUID uint32) {
	t.Helper()
	cfg := capture.Default()
	cfg.ProxyUID = proxyUID
	if err := in(n.pod, 0, func() error { return capture.Install(cfg) }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := in(n.pod, 0, capture.Cleanup); err != nil {
			t.Error(err)
		}
	})
}

// TestCaptureInNetworkNamespaces runs the dataplane behind the real
// capture rules: the app dials as if there were no mesh, and each
// connection takes the path of docs/capture.md.
func TestCaptureInNetworkNamespaces(t *testing.T) {
	n := newPodNetwork(t)
	n.installCapture(t, capture.ProxyUID)
	backendIn(t, n.peer, "web", peerIP+":9000")
	backendIn(t, n.peer, "direct", peerIP+":7000")
	backendIn(t, n.pod, "app", podIP+":8080")
	backendIn(t, n.pod, "undeclared", podIP+":8081")

	dp, reg := newDataplane(t, newCA(t, "cluster.local"), clientID, func(c *dataplane.Config) {
		c.Listen = listenIn(n.pod)
		c.Dial = dialIn(n.pod, capture.ProxyUID)
	})
	must(t, dp.OnClusters(t.Context(), []*clusterv3.Cluster{
		originalDstCluster("PassthroughCluster"),
		originalDstCluster("InboundPassthroughCluster"),
		blackHoleCluster("BlackHoleCluster"),
		staticCluster(t, "outbound|80||web", peerIP+":9000"),
		staticCluster(t, "inbound|8080", podIP+":8080"),
	}))
	listeners := func(outboundDefault string) []*listenerv3.Listener {
		return []*listenerv3.Listener{
			virtualOutbound(t, "0.0.0.0:15001", outboundDefault),
			virtualListener(t, "outbound|web|80", "198.18.9.9:80", "outbound|80||web"),
			virtualInbound(t, "0.0.0.0:15006", "InboundPassthroughCluster", inboundPort{8080, "inbound|8080"}),
		}
	}
	must(t, dp.OnListeners(t.Context(), listeners("PassthroughCluster")))

	app, peer := dialIn(n.pod, appUID), dialIn(n.peer, 0)
	tests := []struct {
		name     string
		dial     func(ctx context.Context, network, address string) (net.Conn, error)
		to       string
		want     string // the backend's greeting; empty: closed
		listener string
		result   string
	}{
		{"app to a ClusterIP: virtual listener", app, "198.18.9.9:80", "web:", "outbound|web|80", "ok"},
		{"app to an unknown destination: passthrough", app, peerIP + ":7000", "direct:", "virtualOutbound", "ok"},
		{"peer to a declared port: its chain", peer, podIP + ":8080", "app:", "virtualInbound", "ok"},
		{"peer to an undeclared port: passthrough", peer, podIP + ":8081", "undeclared:", "virtualInbound", "ok"},
		{"app dialing 15001 directly", app, podIP + ":15001", "", "virtualOutbound", "loop"},
		{"app dialing 15006 on loopback", app, "127.0.0.1:15006", "", "virtualInbound", "loop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCaptured(t, reg, tt.dial, tt.to, tt.want, tt.listener, tt.result)
		})
	}

	t.Run("REGISTRY_ONLY: unknown destination closed", func(t *testing.T) {
		must(t, dp.OnListeners(t.Context(), listeners("BlackHoleCluster")))
		t.Cleanup(func() { must(t, dp.OnListeners(t.Context(), listeners("PassthroughCluster"))) })
		checkCaptured(t, reg, app, peerIP+":7000", "", "virtualOutbound", "no_endpoints")
	})

	t.Run("proxy UID not exempted: loop closed, not spinning", func(t *testing.T) {
		n.installCapture(t, unusedUID)
		t.Cleanup(func() { n.installCapture(t, capture.ProxyUID) })
		start := time.Now()
		labels := connections("virtualOutbound", "outbound", "", "loop")
		before := metric(t, reg, "weft_proxy_connections_total", labels)
		c, err := app(t.Context(), "tcp", peerIP+":7000")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		refused(t, c)
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("the looping connection took %v to close", took)
		}
		eventually(t, func() string {
			if metric(t, reg, "weft_proxy_connections_total", labels) < before+1 {
				return "no loop counted"
			}
			return ""
		})
	})
}

// checkCaptured dials to with dial, expects the backend's greeting want
// (or a closed connection when want is empty), and the connection counted
// under listener with result.
func checkCaptured(t *testing.T, reg *prometheus.Registry, dial func(ctx context.Context, network, address string) (net.Conn, error), to, want, listener, result string) {
	t.Helper()
	direction := "outbound"
	if listener == "virtualInbound" {
		direction = "inbound"
	}
	labels := connections(listener, direction, "", result)
	before := metric(t, reg, "weft_proxy_connections_total", labels)
	c, err := dial(t.Context(), "tcp", to)
	if err != nil {
		t.Fatalf("dial %s: %v", to, err)
	}
	defer c.Close()
	if want == "" {
		refused(t, c)
	} else {
		exchange(t, c, "hello", want+"hello")
	}
	eventually(t, func() string {
		if got := metric(t, reg, "weft_proxy_connections_total", labels); got != before+1 {
			return fmt.Sprintf("%v connections of %s with result %s, want %v", got, listener, result, before+1)
		}
		return ""
	})
}
