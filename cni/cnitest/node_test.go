package cnitest_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/weftmesh/weft/cni/cnitest"
)

// Two pods on one node reach each other at the addresses CNI gave them,
// across the node's bridge, and nothing of it shows in the test's own
// namespace.
func TestPodsReachEachOther(t *testing.T) {
	node := cnitest.NewNode(t)
	a := node.AddPod(t, "shop/a")
	b := node.AddPod(t, "b")

	subnet := netip.MustParsePrefix(cnitest.PodSubnet)
	for _, p := range []*cnitest.Pod{a, b} {
		if !subnet.Contains(p.IP) {
			t.Errorf("pod %s/%s has IP %s, want one in %s", p.Namespace, p.Name, p.IP, subnet)
		}
	}
	if a.IP == b.IP {
		t.Fatalf("both pods got %s", a.IP)
	}
	if a.Namespace != "shop" || a.Name != "a" || b.Namespace != "default" || b.Name != "b" {
		t.Errorf("pods are %s/%s and %s/%s, want shop/a and default/b", a.Namespace, a.Name, b.Namespace, b.Name)
	}

	var ln net.Listener
	if err := a.Do(func() (err error) {
		ln, err = net.Listen("tcp", ":8080")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- err.Error()
			return
		}
		defer c.Close()
		_, _ = io.WriteString(c, "hello from a")
		accepted <- c.RemoteAddr().(*net.TCPAddr).IP.String()
	}()

	target := netip.AddrPortFrom(a.IP, 8080).String()
	var got []byte
	if err := b.Do(func() error {
		c, err := net.DialTimeout("tcp", target, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		got, err = io.ReadAll(c)
		return err
	}); err != nil {
		t.Fatalf("pod b dials pod a at %s: %v", target, err)
	}
	if string(got) != "hello from a" {
		t.Errorf("pod b read %q, want %q", got, "hello from a")
	}
	if from := <-accepted; from != b.IP.String() {
		t.Errorf("pod a saw a connection from %s, want pod b's %s", from, b.IP)
	}

	// The bridge is the node's, not the test machine's.
	if _, err := netlink.LinkByName(cnitest.BridgeName); err == nil {
		t.Errorf("%s exists in the test's own namespace: the plugins ran outside the node", cnitest.BridgeName)
	}
	var bridge bool
	if err := node.Do(func() error {
		_, err := netlink.LinkByName(cnitest.BridgeName)
		bridge = err == nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !bridge {
		t.Errorf("no %s in the node namespace", cnitest.BridgeName)
	}
}

// Command starts processes inside the pod's namespace, as the given user.
func TestCommandRunsInPod(t *testing.T) {
	node := cnitest.NewNode(t)
	p := node.AddPod(t, "cmd")
	var st syscall.Stat_t
	if err := syscall.Stat(p.NetNSPath, &st); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("net:[%d] 1337", st.Ino)

	out, err := p.Command(t.Context(), "/bin/sh", "-c", `echo "$(readlink /proc/self/ns/net) $(id -u)"`).AsUser(1337).Output()
	if err != nil {
		t.Fatalf("run in pod: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("process in pod reports %q, want %q (the pod's namespace, UID 1337)", got, want)
	}
}

// Del takes the pod off the network: its address is freed, and a second
// DEL (the runtime retrying) succeeds.
func TestDelDetachesPod(t *testing.T) {
	node := cnitest.NewNode(t)
	p := node.AddPod(t, "gone")
	if err := p.Check(t.Context()); err != nil {
		t.Fatalf("CNI CHECK of a pod just added: %v", err)
	}
	if err := p.Del(t.Context()); err != nil {
		t.Fatalf("CNI DEL: %v", err)
	}
	var eth0 error
	if err := p.Do(func() error {
		_, eth0 = netlink.LinkByName("eth0")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var notFound netlink.LinkNotFoundError
	if !errors.As(eth0, &notFound) {
		t.Errorf("after DEL, eth0 in the pod: %v, want not found", eth0)
	}
	if err := p.Del(t.Context()); err != nil {
		t.Errorf("second CNI DEL: %v, want success (DEL is idempotent)", err)
	}
	if _, err := os.Stat(p.NetNSPath); err != nil {
		t.Errorf("DEL removed the pod's namespace (%v); the runtime owns it", err)
	}
}
