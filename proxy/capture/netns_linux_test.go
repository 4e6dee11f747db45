package capture

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Network namespaces for the tests: each test makes its own, named
// weft-t-<pid>-<n>, and removes them when it ends.

var nsCount atomic.Int32

// skipUnlessRoot skips tests that program nftables or make namespaces.
func skipUnlessRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and programs nftables in them (run as root, as CI does)")
	}
}

// newNS makes a network namespace with loopback up.
func newNS(t *testing.T) netns.NsHandle {
	t.Helper()
	name := fmt.Sprintf("weft-t-%d-%d", os.Getpid(), nsCount.Add(1))
	var ns netns.NsHandle
	err := onFreshThread(func() error {
		var err error
		ns, err = netns.NewNamed(name) // and enters it, on this thread only
		return err
	})
	if err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	t.Cleanup(func() {
		ns.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	h := nsHandle(t, ns)
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatalf("netns %s: %v", name, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatalf("netns %s: lo up: %v", name, err)
	}
	return ns
}

// nsHandle is a netlink handle acting in ns.
func nsHandle(t *testing.T, ns netns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// vethPair joins a and b with a veth (eth0 in a, eth0 in b) and gives each end
// its addresses (CIDR notation); IPv6 addresses skip duplicate detection.
func vethPair(t *testing.T, a, b netns.NsHandle, addrsA, addrsB []string) {
	t.Helper()
	ha, hb := nsHandle(t, a), nsHandle(t, b)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "peer0", PeerNamespace: netlink.NsFd(int(b))}
	if err := ha.LinkAdd(veth); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	peer, err := hb.LinkByName("peer0")
	if err != nil {
		t.Fatalf("veth peer: %v", err)
	}
	if err := hb.LinkSetName(peer, "eth0"); err != nil {
		t.Fatalf("rename veth peer: %v", err)
	}
	for _, side := range []struct {
		h     *netlink.Handle
		addrs []string
	}{{ha, addrsA}, {hb, addrsB}} {
		l, err := side.h.LinkByName("eth0")
		if err != nil {
			t.Fatalf("veth: %v", err)
		}
		for _, a := range side.addrs {
			addr, err := netlink.ParseAddr(a)
			if err != nil {
				t.Fatalf("address %s: %v", a, err)
			}
			addr.Flags = unix.IFA_F_NODAD
			if err := side.h.AddrAdd(l, addr); err != nil {
				t.Fatalf("add address %s: %v", a, err)
			}
		}
		if err := side.h.LinkSetUp(l); err != nil {
			t.Fatalf("veth up: %v", err)
		}
	}
}

// inNS runs fn on a thread in ns. The thread is thrown away afterwards,
// so no other goroutine ever runs in ns by accident; sockets fn opens stay
// in ns.
func inNS(t *testing.T, ns netns.NsHandle, fn func() error) {
	t.Helper()
	if err := onFreshThread(func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("enter netns: %w", err)
		}
		return fn()
	}); err != nil {
		t.Fatal(err)
	}
}

// onFreshThread runs fn on a locked thread that ends with it.
func onFreshThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		errc <- fn()
	}()
	return <-errc
}

// listen opens a TCP listener in ns (both families on "tcp" and ":port").
func listen(t *testing.T, ns netns.NsHandle, network, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	inNS(t, ns, func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	return ln
}
