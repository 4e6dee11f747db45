package cluster

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// workerSysctls are what the worker's namespace needs for its pods: to
// forward their packets, and to pass bridged ones through kube-proxy's
// rules (a pod reaching a pod of its own bridge through a Service).
func workerSysctls() map[string]string {
	return map[string]string{
		"net/ipv4/ip_forward":                "1",
		"net/bridge/bridge-nf-call-iptables": "1",
	}
}

// setUpWorker makes WorkerNetns on the node network: a veth from the
// bridge (workerLink here, LANBridge inside) with WorkerIP, a route to
// every test range (the first node's pods, Services) via the first node,
// which routes the worker's pod subnet back to it. Nothing else is
// routed: a packet for any other address fails in the namespace.
func setUpWorker(lan *netlink.Bridge) error {
	ns, err := newNamedNetns(WorkerNetns)
	if err != nil {
		return err
	}
	defer ns.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: workerLink, MasterIndex: lan.Index},
		PeerName:      LANBridge,
		PeerNamespace: netlink.NsFd(int(ns)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("network: veth %s: %w", workerLink, err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		return fmt.Errorf("network: %s up: %w", workerLink, err)
	}
	_, podSubnet, _ := net.ParseCIDR(WorkerPodSubnet)
	if err := netlink.RouteAdd(&netlink.Route{Dst: podSubnet, Gw: net.ParseIP(WorkerIP), LinkIndex: lan.Index}); err != nil {
		return fmt.Errorf("network: route %s via %s: %w", WorkerPodSubnet, WorkerIP, err)
	}

	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("network: netlink in %s: %w", WorkerNetns, err)
	}
	defer h.Close()
	for _, name := range []string{"lo", LANBridge} {
		link, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("network: %s in %s: %w", name, WorkerNetns, err)
		}
		if name == LANBridge {
			addr, _ := netlink.ParseAddr(WorkerIP + "/24")
			if err := h.AddrAdd(link, addr); err != nil {
				return fmt.Errorf("network: %s in %s: %w", addr, WorkerNetns, err)
			}
		}
		if err := h.LinkSetUp(link); err != nil {
			return fmt.Errorf("network: %s up in %s: %w", name, WorkerNetns, err)
		}
	}
	_, testRange, _ := net.ParseCIDR("198.18.0.0/15")
	if err := h.RouteAdd(&netlink.Route{Dst: testRange, Gw: net.ParseIP(NodeIP)}); err != nil {
		return fmt.Errorf("network: route %s via %s in %s: %w", testRange, NodeIP, WorkerNetns, err)
	}
	return inNetns(ns, func() error {
		for name, v := range workerSysctls() {
			if err := writeSysctl(name, v); err != nil {
				return fmt.Errorf("in %s: %w", WorkerNetns, err)
			}
		}
		return nil
	})
}

// inNetns runs f on a locked thread in ns (/proc/sys/net is the calling
// thread's namespace's). If the thread cannot get back, it stays locked
// and ends with its goroutine.
func inNetns(ns netns.NsHandle, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("network: current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("network: entering a namespace: %w", err)
			return
		}
		err = f()
		if setErr := netns.Set(orig); setErr != nil {
			errc <- fmt.Errorf("network: back from a namespace: %w", setErr)
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// netnsPath is the bind mount of a named namespace.
func netnsPath(name string) string { return filepath.Join("/run/netns", name) }

// netnsExists reports whether the named namespace is there.
func netnsExists(name string) bool {
	_, err := os.Stat(netnsPath(name))
	return err == nil
}
