// Package cnitest builds a Kubernetes node and its pods out of network
// namespaces, wired by the real reference CNI plugins (bridge, host-local,
// loopback) through libcni, as a container runtime wires them, so that
// tests of traffic capture and of the weft-cni plugin run against the
// datapath a cluster has rather than a hand-made imitation. It is for
// tests only, as net/http/httptest is, and needs root.
//
// The node is a namespace of its own, never the test machine's: the
// plugins run from a thread locked into it, so the bridge, the host ends
// of the veths and the routes they add live there and vanish with it.
package cnitest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Addresses of the pod network: host-local hands out PodSubnet, the bridge
// weft-br0 of the node is its gateway.
const (
	PodSubnet  = "198.18.0.0/24"
	Gateway    = "198.18.0.1"
	BridgeName = "weft-br0"
	// NetworkName is the name of the conflist AddPod runs.
	NetworkName = "weft-test"
)

// Node is a network namespace holding the pod network's bridge.
type Node struct {
	// Name is the namespace's name (under /run/netns).
	Name string
	// NetNSPath is the namespace's path.
	NetNSPath string
	// CNIVersion is the cniVersion of the conflists AddPod runs
	// (default 1.0.0); set it before AddPod.
	CNIVersion string

	pluginDirs []string
	dir        string
	cni        *libcni.CNIConfig
}

// NewNode creates a node namespace, with loopback up and IPv4 forwarding
// on, and removes it when t ends. pluginDirs are searched for plugins
// (such as a weft-cni built by the test) after the reference plugins,
// which come from CNI_PLUGINS_DIR or else hack/cni-plugins.sh. It skips t
// when not run as root.
func NewNode(t testing.TB, pluginDirs ...string) *Node {
	t.Helper()
	RequireRoot(t)
	ref, err := ReferencePlugins()
	if err != nil {
		t.Fatal(err)
	}
	name, path, err := newNetNS("node")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := deleteNetNS(name); err != nil {
			t.Errorf("remove node namespace: %v", err)
		}
	})
	dir := t.TempDir()
	n := &Node{
		Name:       name,
		NetNSPath:  path,
		CNIVersion: "1.0.0",
		pluginDirs: append([]string{ref}, pluginDirs...),
		dir:        dir,
	}
	n.cni = libcni.NewCNIConfigWithCacheDir(n.pluginDirs, filepath.Join(dir, "cache"), nil)
	err = n.Do(func() error {
		if err := linkUp("lo"); err != nil {
			return err
		}
		// This namespace's own procfs entry: a write from a thread in
		// the node changes the node, not the machine.
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644) //nolint:gosec // a sysctl
	})
	if err != nil {
		t.Fatalf("set up node namespace %s: %v", name, err)
	}
	return n
}

// Do runs f on a thread locked into the node's namespace.
func (n *Node) Do(f func() error) error {
	return ns.WithNetNSPath(n.NetNSPath, func(ns.NetNS) error { return f() })
}

// Expose makes target, a TCP address reachable from the test's own
// namespace (an envtest API server on loopback, say), reachable from the
// node's namespace at the returned address on the node's loopback, as a
// real node reaches its API server over the network. Connections are
// forwarded until stop is called or t ends; after stop the address
// refuses connections, as a stopped server's does.
func (n *Node) Expose(t testing.TB, target string) (addr string, stop func()) {
	t.Helper()
	return n.ExposeAt(t, "127.0.0.1:0", target)
}

// ExposeAt is Expose listening on listen in the node's namespace, e.g.
// "0.0.0.0:15012" for a control plane that pods reach at Gateway.
func (n *Node) ExposeAt(t testing.TB, listen, target string) (addr string, stop func()) {
	t.Helper()
	var ln net.Listener
	err := n.Do(func() error {
		var err error
		// The socket stays in the node's namespace after this thread
		// leaves it.
		ln, err = net.Listen("tcp", listen)
		return err
	})
	if err != nil {
		t.Fatalf("expose %s at %s in node %s: %v", target, listen, n.Name, err)
	}
	f := &forwarder{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(f.close)
	return ln.Addr().String(), f.close
}

// forwarder copies connections accepted in one namespace to target,
// dialed from the test's namespace.
type forwarder struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
	once   sync.Once
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

func (f *forwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go f.forward(c)
	}
}

func (f *forwarder) forward(c net.Conn) {
	defer f.wg.Done()
	defer c.Close()
	up, err := net.Dial("tcp", f.target)
	if err != nil {
		return
	}
	defer up.Close()
	if !f.track(c, up) {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, c)
		_ = up.(*net.TCPConn).CloseWrite()
	}()
	_, _ = io.Copy(c, up)
	_ = c.(*net.TCPConn).CloseWrite()
	<-done
}

// track records a pair of connections to close on stop; false when
// stopped already.
func (f *forwarder) track(conns ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		return false
	}
	for _, c := range conns {
		f.conns[c] = struct{}{}
	}
	return true
}

func (f *forwarder) close() {
	f.once.Do(func() {
		_ = f.ln.Close()
		f.mu.Lock()
		for c := range f.conns {
			_ = c.Close()
		}
		f.conns = nil
		f.mu.Unlock()
		f.wg.Wait()
	})
}

// RequireRoot skips t unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create network namespaces and run CNI plugins (CI runs as root)")
	}
}

// ReferencePlugins returns the directory of the reference CNI plugins:
// CNI_PLUGINS_DIR if set, else what hack/cni-plugins.sh builds (once,
// cached under bin/cni).
func ReferencePlugins() (string, error) {
	if dir := os.Getenv("CNI_PLUGINS_DIR"); dir != "" {
		return dir, nil
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("finding hack/cni-plugins.sh: the go command is needed to locate the module: %w", err)
	}
	out, err := exec.Command(goTool, "list", "-m", "-f", "{{.Dir}}", "github.com/weftmesh/weft").Output() //nolint:gosec // the go command from PATH, fixed arguments
	if err != nil {
		return "", fmt.Errorf("finding hack/cni-plugins.sh: go list -m: %w", err)
	}
	script := filepath.Join(strings.TrimSpace(string(out)), "hack", "cni-plugins.sh")
	var stderr bytes.Buffer
	cmd := exec.Command(script) //nolint:gosec // this module's own script
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building the CNI plugins (%s; or set CNI_PLUGINS_DIR): %w\n%s", script, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}

// newNetNS creates a network namespace named weft-t-<pid>-<kind>-<random>
// and returns its name and path, after removing those dead test
// processes left.
func newNetNS(kind string) (name, path string, err error) {
	removeStaleNetNS()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name = fmt.Sprintf("weft-t-%d-%s-%s", os.Getpid(), kind, hex.EncodeToString(b[:]))
	errc := make(chan error, 1)
	go func() {
		// The thread enters the new namespace and is never unlocked: it
		// ends with this goroutine rather than serve others from there.
		runtime.LockOSThread()
		h, err := netns.NewNamed(name)
		if err == nil {
			err = h.Close()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		return "", "", fmt.Errorf("create network namespace %s: %w", name, err)
	}
	return name, filepath.Join("/run/netns", name), nil
}

// deleteNetNS removes a namespace made by newNetNS; the kernel frees it,
// with its interfaces, when the last process and socket in it are gone.
func deleteNetNS(name string) error {
	if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete network namespace %s: %w", name, err)
	}
	return nil
}

func linkUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}
