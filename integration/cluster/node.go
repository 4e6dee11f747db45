package cluster

import (
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// OnWorker places a pod on the worker node: it selects the node and
// tolerates its taint.
func OnWorker(spec *corev1.PodSpec) {
	key, value, _ := strings.Cut(WorkerTaint, "=")
	spec.NodeSelector = map[string]string{corev1.LabelHostname: WorkerName}
	spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: key, Value: value, Effect: corev1.TaintEffectNoSchedule})
}

// node is one kubelet's machine. The first node shares the root network
// namespace with the control plane; the worker (Config.Worker) is a
// network namespace of its own on the node network, with its own
// containerd, kubelet and kube-proxy, its files below <state>/n2, its pods
// on WorkerPodSubnet and its cgroups below CgroupRoot/n2.
type node struct {
	name       string
	ip         string
	netns      string // "" for the root namespace
	podSubnet  string
	podGateway string
	cgroupRoot string
	// taint is registered with the Node (key=value:NoSchedule), "" for none.
	taint string
	// l holds the node's configs, PKI copy, kubeconfigs, containerd and
	// kubelet state, PID files and logs.
	l layout
}

// firstNode is the node in the root namespace, whose files are the
// cluster's own.
func firstNode(l layout) node {
	return node{
		name: NodeName, ip: NodeIP,
		podSubnet: PodSubnet, podGateway: PodGateway,
		cgroupRoot: CgroupRoot,
		l:          l,
	}
}

// workerNode is the second node, in WorkerNetns.
func workerNode(l layout) node {
	return node{
		name: WorkerName, ip: WorkerIP, netns: WorkerNetns,
		podSubnet: WorkerPodSubnet, podGateway: WorkerPodGateway,
		cgroupRoot: filepath.Join(CgroupRoot, workerDir),
		taint:      WorkerTaint + ":NoSchedule",
		l:          layout{dir: l.path(workerDir)},
	}
}

// nodes lists the cluster's nodes, the first one first.
func (c *Cluster) nodes() []node {
	ns := []node{firstNode(c.l)}
	if c.cfg.Worker {
		ns = append(ns, workerNode(c.l))
	}
	return ns
}

// command wraps bin so that it runs in the node's network namespace
// (nsenter keeps the mount namespace: the kubelet's volume mounts must be
// where containerd's runc sees them).
func (n node) command(bin string, args []string) (string, []string) {
	if n.netns == "" {
		return bin, args
	}
	return "nsenter", append([]string{"--net=" + netnsPath(n.netns), "--", bin}, args...)
}

// healthzHost is where kube-proxy serves /healthz: loopback on the first
// node; the worker's node address, which the harness reaches from the
// root namespace.
func (n node) healthzHost() string {
	if n.netns == "" {
		return "127.0.0.1"
	}
	return n.ip
}
