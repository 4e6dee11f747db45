package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// unreachableMetric is the metric of the unreachable routes for the test
// ranges: higher than any connected route, so a specific route always wins
// and a missing one ends here instead of at the default gateway.
const unreachableMetric = 4242

// clientLink is the host end of the client's veth; clientIf its name
// inside ClientNetns.
const (
	clientLink = "weft-e2e-client"
	clientIf   = "eth0"
)

// unreachableRanges are the ranges docs/e2e.md reserves.
func unreachableRanges() []string { return []string{"192.0.2.0/24", "198.18.0.0/15"} }

// lanRoutes are the parts of the node network routed to LANBridge from the
// root namespace: the client, the worker node and MetalLB's pool. The
// bridge's address carries no /24 prefix route, because the machine's own
// uplink may sit in 192.0.2.0/24 too (it does on the CI machine): a second
// /24 route would race it.
func lanRoutes() []string {
	return []string{ClientIP + "/32", WorkerIP + "/32", "192.0.2.240/28", ServiceCIDR}
}

// workerLink is the root namespace's end of the worker's veth.
const workerLink = "weft-e2e-node2"

// sysctl values the cluster needs, and those the kubelet sets by itself
// (saved so that Clean restores them).
func sysctlsToSet() map[string]string {
	return map[string]string{
		"net/ipv4/ip_forward":                "1",
		"net/bridge/bridge-nf-call-iptables": "1",
	}
}

func sysctlsKubeletSets() []string {
	return []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops"}
}

// saveAndSetSysctls records the current values in <state>/sysctls.json,
// then sets those the cluster needs. br_netfilter must be loaded for
// net/bridge to exist.
func saveAndSetSysctls(l layout) error {
	saved := map[string]string{}
	names := sysctlsKubeletSets()
	for name := range sysctlsToSet() {
		names = append(names, name)
	}
	for _, name := range names {
		v, err := os.ReadFile(filepath.Join("/proc/sys", name))
		if err != nil {
			return fmt.Errorf("sysctl %s: %w (for net/bridge: modprobe br_netfilter)", name, err)
		}
		saved[name] = strings.TrimSpace(string(v))
	}
	data, err := json.Marshal(saved)
	if err != nil {
		return fmt.Errorf("sysctls: %w", err)
	}
	if err := os.WriteFile(l.sysctls(), data, 0o600); err != nil {
		return fmt.Errorf("sysctls: %w", err)
	}
	for name, v := range sysctlsToSet() {
		if err := writeSysctl(name, v); err != nil {
			return err
		}
	}
	return nil
}

// restoreSysctls puts back what saveAndSetSysctls recorded.
func restoreSysctls(l layout) error {
	data, err := os.ReadFile(l.sysctls())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sysctls: %w", err)
	}
	saved := map[string]string{}
	if err := json.Unmarshal(data, &saved); err != nil {
		return fmt.Errorf("sysctls: %s: %w", l.sysctls(), err)
	}
	var errs []error
	for name, v := range saved {
		if err := writeSysctl(name, v); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return os.Remove(l.sysctls())
	}
	return errors.Join(errs...)
}

func writeSysctl(name, value string) error {
	if err := os.WriteFile(filepath.Join("/proc/sys", name), []byte(value), 0o644); err != nil { //nolint:gosec // /proc/sys keeps its own modes
		return fmt.Errorf("sysctl %s=%s: %w", name, value, err)
	}
	return nil
}

// checkAddressesFree refuses to start when an address the cluster routes
// is already used by a link that is not the cluster's, or is the next hop
// of a route: taking it over could cut the machine off its network.
func checkAddressesFree() error {
	var ours []*net.IPNet
	for _, s := range append(lanRoutes(), NodeIP+"/32") {
		_, n, _ := net.ParseCIDR(s)
		ours = append(ours, n)
	}
	taken := func(ip net.IP) bool {
		for _, n := range ours {
			if n.Contains(ip) {
				return true
			}
		}
		return false
	}
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	for _, link := range links {
		if strings.HasPrefix(link.Attrs().Name, namePrefix) {
			continue
		}
		addrs, err := netlink.AddrList(link, unix.AF_INET)
		if err != nil {
			return fmt.Errorf("network: %w", err)
		}
		for _, a := range addrs {
			if taken(a.IP) {
				return fmt.Errorf("network: %s has %s, which the e2e cluster routes to %s", link.Attrs().Name, a.IPNet, LANBridge)
			}
		}
	}
	routes, err := netlink.RouteList(nil, unix.AF_INET)
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	for _, r := range routes {
		if r.Gw != nil && taken(r.Gw) {
			return fmt.Errorf("network: a route to %v goes via %s, which the e2e cluster routes to %s", r.Dst, r.Gw, LANBridge)
		}
	}
	return nil
}

// setUpNetwork makes the unreachable routes, the node network's bridge
// with the node's address, the external client's namespace on it and,
// with worker, the worker node's. The pods' bridges are the CNI bridge
// plugin's to make.
func setUpNetwork(worker bool) error {
	if err := checkAddressesFree(); err != nil {
		return err
	}
	for _, r := range unreachableRanges() {
		_, dst, _ := net.ParseCIDR(r)
		route := &netlink.Route{Dst: dst, Type: unix.RTN_UNREACHABLE, Priority: unreachableMetric}
		if err := netlink.RouteReplace(route); err != nil {
			return fmt.Errorf("network: unreachable route %s: %w", r, err)
		}
	}
	lan := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: LANBridge}}
	if err := netlink.LinkAdd(lan); err != nil {
		return fmt.Errorf("network: bridge %s: %w", LANBridge, err)
	}
	nodeAddr, _ := netlink.ParseAddr(NodeIP + "/24")
	nodeAddr.Flags = unix.IFA_F_NOPREFIXROUTE
	if err := netlink.AddrAdd(lan, nodeAddr); err != nil {
		return fmt.Errorf("network: %s on %s: %w", nodeAddr, LANBridge, err)
	}
	if err := netlink.LinkSetUp(lan); err != nil {
		return fmt.Errorf("network: %s up: %w", LANBridge, err)
	}
	src := net.ParseIP(NodeIP)
	for _, r := range lanRoutes() {
		_, dst, _ := net.ParseCIDR(r)
		route := &netlink.Route{LinkIndex: lan.Index, Dst: dst, Src: src, Scope: netlink.SCOPE_LINK}
		if err := netlink.RouteAdd(route); err != nil {
			return fmt.Errorf("network: route %s dev %s: %w", r, LANBridge, err)
		}
	}
	if err := setUpClient(lan); err != nil {
		return err
	}
	if worker {
		return setUpWorker(lan)
	}
	return nil
}

// setUpClient makes ClientNetns with a veth into the bridge, ClientIP and
// a default route via the node.
func setUpClient(lan *netlink.Bridge) error {
	ns, err := newNamedNetns(ClientNetns)
	if err != nil {
		return err
	}
	defer ns.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: clientLink, MasterIndex: lan.Index},
		PeerName:      clientIf,
		PeerNamespace: netlink.NsFd(int(ns)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("network: veth %s: %w", clientLink, err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		return fmt.Errorf("network: %s up: %w", clientLink, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("network: netlink in %s: %w", ClientNetns, err)
	}
	defer h.Close()
	for _, name := range []string{"lo", clientIf} {
		link, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("network: %s in %s: %w", name, ClientNetns, err)
		}
		if name == clientIf {
			addr, _ := netlink.ParseAddr(ClientIP + "/24")
			if err := h.AddrAdd(link, addr); err != nil {
				return fmt.Errorf("network: %s in %s: %w", addr, ClientNetns, err)
			}
		}
		if err := h.LinkSetUp(link); err != nil {
			return fmt.Errorf("network: %s up in %s: %w", name, ClientNetns, err)
		}
	}
	if err := h.RouteAdd(&netlink.Route{Gw: net.ParseIP(NodeIP)}); err != nil {
		return fmt.Errorf("network: default route in %s: %w", ClientNetns, err)
	}
	return nil
}

// newNamedNetns creates /run/netns/<name> from a locked thread and puts
// the thread back in its namespace. If that fails the thread stays locked,
// so that it ends with its goroutine instead of running others in the
// wrong namespace.
func newNamedNetns(name string) (netns.NsHandle, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return 0, fmt.Errorf("network: current namespace: %w", err)
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name)
	if setErr := netns.Set(orig); setErr != nil {
		if err == nil {
			ns.Close()
		}
		return 0, fmt.Errorf("network: back from namespace %s: %w", name, setErr)
	}
	runtime.UnlockOSThread()
	if err != nil {
		return 0, fmt.Errorf("network: namespace %s: %w", name, err)
	}
	return ns, nil
}

// tearDownNetwork removes the client's and worker's namespaces, every link named
// weft-e2e* (and veths still enslaved to one of those bridges), and the
// unreachable routes. Missing pieces are not errors.
func tearDownNetwork() error {
	var errs []error
	for _, name := range []string{ClientNetns, WorkerNetns} {
		if netnsExists(name) {
			if err := netns.DeleteNamed(name); err != nil {
				errs = append(errs, fmt.Errorf("network: deleting namespace %s: %w", name, err))
			}
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	ours := map[int]bool{}
	for _, link := range links {
		if strings.HasPrefix(link.Attrs().Name, namePrefix) {
			ours[link.Attrs().Index] = true
		}
	}
	// Enslaved ports first (a pod's veth whose namespace outlived it),
	// then the bridges and veths named for the cluster.
	for _, link := range links {
		a := link.Attrs()
		if !ours[a.Index] && a.MasterIndex != 0 && ours[a.MasterIndex] {
			if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, fmt.Errorf("network: deleting %s: %w", a.Name, err))
			}
		}
	}
	for _, link := range links {
		if ours[link.Attrs().Index] {
			if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, fmt.Errorf("network: deleting %s: %w", link.Attrs().Name, err))
			}
		}
	}
	for _, r := range unreachableRanges() {
		_, dst, _ := net.ParseCIDR(r)
		route := &netlink.Route{Dst: dst, Type: unix.RTN_UNREACHABLE, Priority: unreachableMetric}
		if err := netlink.RouteDel(route); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("network: deleting unreachable %s: %w", r, err))
		}
	}
	return errors.Join(errs...)
}
