package cnitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
)

// Pod is a pod's network namespace, attached to its node's bridge by CNI
// ADD of the node's conflist.
type Pod struct {
	// Name and Namespace are the Kubernetes pod's (K8S_POD_NAME and
	// K8S_POD_NAMESPACE of CNI_ARGS).
	Name      string
	Namespace string
	// ContainerID is the sandbox's ID (CNI_CONTAINERID).
	ContainerID string
	// NetNSPath is the namespace's path (CNI_NETNS).
	NetNSPath string
	// IP is the address host-local gave eth0.
	IP netip.Addr

	node     *Node
	list     *libcni.NetworkConfigList
	loopback *libcni.PluginConfig
	rt       *libcni.RuntimeConf
	deleted  bool
}

// AddPod creates a pod namespace and runs CNI ADD for it, as a runtime
// does: the loopback plugin, then the conflist [bridge with host-local
// IPAM on PodSubnet, chain...], each element of chain being one more
// plugin's configuration (e.g. {"type": "weft-cni", ...}). name is
// "namespace/name", or a name in the namespace "default". When t ends, CNI
// DEL runs (unless Del did) and the namespace is removed. ADD failing
// fails t; use TryAddPod to see the error.
func (n *Node) AddPod(t testing.TB, name string, chain ...map[string]any) *Pod {
	t.Helper()
	p, err := n.TryAddPod(t, name, chain...)
	if err != nil {
		t.Fatalf("CNI ADD of pod %s: %v", name, err)
	}
	return p
}

// TryAddPod is AddPod returning ADD's error (the pod's namespace is still
// removed when t ends).
func (n *Node) TryAddPod(t testing.TB, name string, chain ...map[string]any) (*Pod, error) {
	t.Helper()
	namespace, podName, ok := strings.Cut(name, "/")
	if !ok {
		namespace, podName = "default", name
	}
	nsName, path, err := newNetNS("pod")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := deleteNetNS(nsName); err != nil {
			t.Errorf("remove pod namespace: %v", err)
		}
	})
	list, err := n.conflist(chain)
	if err != nil {
		t.Fatal(err)
	}
	lo, err := libcni.NetworkPluginConfFromBytes(fmt.Appendf(nil, `{"cniVersion": %q, "name": "cni-loopback", "type": "loopback"}`, n.CNIVersion))
	if err != nil {
		t.Fatal(err)
	}
	p := &Pod{
		Name:        podName,
		Namespace:   namespace,
		ContainerID: strings.TrimPrefix(nsName, "weft-t-"),
		NetNSPath:   path,
		node:        n,
		list:        list,
		loopback:    lo,
	}
	p.rt = &libcni.RuntimeConf{
		ContainerID: p.ContainerID,
		NetNS:       path,
		IfName:      "eth0",
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", namespace},
			{"K8S_POD_NAME", podName},
			{"K8S_POD_INFRA_CONTAINER_ID", p.ContainerID},
		},
	}
	// Registered after the namespace's removal, so it runs before it.
	t.Cleanup(func() {
		if p.deleted {
			return
		}
		if err := p.Del(context.WithoutCancel(t.Context())); err != nil {
			t.Errorf("CNI DEL of pod %s/%s: %v", namespace, podName, err)
		}
	})
	ctx := t.Context()
	err = n.Do(func() error {
		if _, err := n.cni.AddNetwork(ctx, lo, p.rt); err != nil {
			return fmt.Errorf("loopback: %w", err)
		}
		res, err := n.cni.AddNetworkList(ctx, list, p.rt)
		if err != nil {
			return err
		}
		r, err := types100.NewResultFromResult(res)
		if err != nil {
			return fmt.Errorf("result: %w", err)
		}
		for _, ipc := range r.IPs {
			if a, ok := netip.AddrFromSlice(ipc.Address.IP); ok {
				p.IP = a.Unmap()
				return nil
			}
		}
		return fmt.Errorf("result has no address: %+v", r)
	})
	return p, err
}

// conflist is the node's pod network followed by chain.
func (n *Node) conflist(chain []map[string]any) (*libcni.NetworkConfigList, error) {
	plugins := []map[string]any{{
		"type":        "bridge",
		"bridge":      BridgeName,
		"isGateway":   true,
		"ipMasq":      false,
		"hairpinMode": true,
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  [][]map[string]string{{{"subnet": PodSubnet, "gateway": Gateway}}},
			"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
			"dataDir": n.dir + "/host-local",
		},
	}}
	plugins = append(plugins, chain...)
	raw, err := json.Marshal(map[string]any{"cniVersion": n.CNIVersion, "name": NetworkName, "plugins": plugins})
	if err != nil {
		return nil, fmt.Errorf("conflist: %w", err)
	}
	list, err := libcni.NetworkConfFromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("conflist %s: %w", raw, err)
	}
	return list, nil
}

// Check runs CNI CHECK of the pod's conflist.
func (p *Pod) Check(ctx context.Context) error {
	return p.node.Do(func() error { return p.node.cni.CheckNetworkList(ctx, p.list, p.rt) })
}

// Del runs CNI DEL of the pod's conflist and loopback, as a runtime does
// when the pod's sandbox goes (its namespace may be gone already).
func (p *Pod) Del(ctx context.Context) error {
	err := p.node.Do(func() error {
		if err := p.node.cni.DelNetworkList(ctx, p.list, p.rt); err != nil {
			return err
		}
		if err := p.node.cni.DelNetwork(ctx, p.loopback, p.rt); err != nil {
			return fmt.Errorf("loopback: %w", err)
		}
		return nil
	})
	if err == nil {
		p.deleted = true
	}
	return err
}

// RemoveNetNS removes the pod's namespace now, as a runtime may before it
// runs DEL.
func (p *Pod) RemoveNetNS() error {
	return deleteNetNS(filepath.Base(p.NetNSPath))
}

// Do runs f on a thread locked into the pod's namespace: sockets f opens
// stay there.
func (p *Pod) Do(f func() error) error {
	return ns.WithNetNSPath(p.NetNSPath, func(ns.NetNS) error { return f() })
}

// Cmd is an exec.Cmd whose process starts inside a pod's namespace. Use
// its Start, Run, Output and CombinedOutput (the embedded exec.Cmd's own
// would start the process in the test's namespace).
type Cmd struct {
	*exec.Cmd
	netns string
}

// Command is exec.CommandContext for a process in the pod's namespace.
func (p *Pod) Command(ctx context.Context, name string, args ...string) *Cmd {
	return &Cmd{Cmd: exec.CommandContext(ctx, name, args...), netns: p.NetNSPath} //nolint:gosec // the test names the command
}

// AsUser makes the process run as uid (and gid uid), e.g. the proxy's
// 1337, whose traffic capture leaves alone.
func (c *Cmd) AsUser(uid uint32) *Cmd {
	if c.SysProcAttr == nil {
		c.SysProcAttr = &syscall.SysProcAttr{}
	}
	c.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: uid}
	return c
}

// Start starts the process from a thread locked into the namespace: a
// forked process keeps the namespace of the thread that forked it.
func (c *Cmd) Start() error {
	return ns.WithNetNSPath(c.netns, func(ns.NetNS) error { return c.Cmd.Start() })
}

// Run starts the process and waits for it.
func (c *Cmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs the process and returns its standard output.
func (c *Cmd) Output() ([]byte, error) {
	var out bytes.Buffer
	c.Stdout = &out
	err := c.Run()
	return out.Bytes(), err
}

// CombinedOutput runs the process and returns its standard output and
// error, interleaved.
func (c *Cmd) CombinedOutput() ([]byte, error) {
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	return out.Bytes(), err
}
