package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Names and addresses of docs/e2e.md, "Layout on the machine".
const (
	// NodeName is the name the kubelet registers its Node under.
	NodeName = "weft-e2e-node"
	// NodeIP is the node's address on the node network (bridge LANBridge).
	NodeIP = "192.0.2.10"
	// ClientIP is the external client's address on the node network.
	ClientIP = "192.0.2.100"
	// LANBridge is the node network's bridge, in the root namespace.
	LANBridge = "weft-e2e-lan"
	// ClientNetns is the external client's network namespace.
	ClientNetns = "weft-e2e-client"
	// CNIBridge is the pods' bridge, made by the CNI bridge plugin.
	CNIBridge = "weft-e2e-cni0"
	// CNINetwork is the name of the CNI network (and of its conflist).
	CNINetwork = "weft-e2e"
	// PodSubnet is what host-local hands out; PodGateway is CNIBridge's address.
	PodSubnet  = "198.18.0.0/24"
	PodGateway = "198.18.0.1"
	// ClusterCIDR is the pods' range as kube-proxy knows it.
	ClusterCIDR = "198.18.0.0/16"
	// ServiceCIDR is the Services' range; APIServerServiceIP its first address.
	ServiceCIDR        = "198.19.0.0/24"
	APIServerServiceIP = "198.19.0.1"
	apiServerPort      = 6443
	// LoadBalancerPool is MetalLB's L2 pool on LANBridge (docs/e2e.md).
	LoadBalancerPool = "192.0.2.240-192.0.2.250"
	// CgroupRoot is the kubelet's cgroupRoot: every pod cgroup is below it.
	CgroupRoot = "/weft-e2e"
	// PauseImage is the sandbox image containerd is pinned to; Up imports
	// it from <ImagesDir>/weft-e2e-pause.tar.
	PauseImage = "weft.dev/e2e/pause:v1"
	// pauseTarball is PauseImage's tarball name under Config.ImagesDir.
	pauseTarball = "weft-e2e-pause.tar"
	// namePrefix is the prefix of every link, namespace and cgroup Clean removes.
	namePrefix = "weft-e2e"
	// k8sNamespace is containerd's namespace for CRI.
	k8sNamespace = "k8s.io"
)

// The worker node (Config.Worker): its own network namespace on the node
// network, reached from the root namespace through the veth WorkerNetns
// in LANBridge (named LANBridge inside, so that MetalLB's L2Advertisement
// names the same interface on both nodes).
const (
	WorkerName       = "weft-e2e-node2"
	WorkerIP         = "192.0.2.11"
	WorkerNetns      = "weft-e2e-node2"
	WorkerPodSubnet  = "198.18.1.0/24"
	WorkerPodGateway = "198.18.1.1"
	// WorkerTaint keeps pods off the worker (NoSchedule) unless they
	// tolerate it, so that only the scenarios that ask for it span nodes.
	WorkerTaint = "weft.dev/e2e-worker=true"
	// workerDir is the worker's directory below the state directory.
	workerDir = "n2"
)

// DefaultStateDir is the state directory when neither Config.StateDir nor
// $WEFT_E2E_DIR names one.
const DefaultStateDir = "/var/lib/weft-e2e"

// maxSocketDir is the longest directory containerd's shim sockets may live
// in (docs/e2e.md): 107 bytes of sun_path, less "/" and 64 hex digits.
const maxSocketDir = 42

// Config says where the cluster's binaries, images and state are.
type Config struct {
	// StateDir holds everything the cluster writes (PKI, kubeconfigs,
	// configs, logs, data, PID files); Up empties it first, Down removes it.
	// Empty means $WEFT_E2E_DIR, else DefaultStateDir.
	StateDir string
	// BinDir holds etcd, kube-apiserver, kube-controller-manager,
	// kube-scheduler, kubelet, kube-proxy, containerd, ctr and
	// containerd-shim-runc-v2 (bin/cluster/v1.37.2, hack/cluster-bins.sh).
	BinDir string
	// ImagesDir holds the image tarballs (bin/images); Up imports the
	// pause and CoreDNS images from it. Required.
	ImagesDir string
	// CNIBinDir holds the CNI plugins bridge, host-local, portmap and
	// loopback. Empty means /usr/lib/cni (Debian's containernetworking-plugins).
	CNIBinDir string
	// LogDir, if set, receives a copy of the components' logs when Down
	// runs or Up fails, before the state directory goes.
	LogDir string
	// Worker adds a second node (WorkerName) in its own network
	// namespace, tainted WorkerTaint, with direct routes between the two
	// nodes' pod subnets.
	Worker bool
	// Logger receives progress; nil means slog.Default().
	Logger *slog.Logger
}

// binaries are the files Validate requires in BinDir.
func binaries() []string {
	return []string{
		"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
		"kubelet", "kube-proxy", "containerd", "ctr", "containerd-shim-runc-v2",
	}
}

// Default fills the empty fields that have defaults.
func (c Config) Default() Config {
	if c.StateDir == "" {
		c.StateDir = os.Getenv("WEFT_E2E_DIR")
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.CNIBinDir == "" {
		c.CNIBinDir = "/usr/lib/cni"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate checks that the directories are absolute and the binaries and
// plugins are there.
func (c Config) Validate() error {
	if err := checkStateDir(c.StateDir); err != nil {
		return err
	}
	var errs []error
	for field, dir := range map[string]string{"BinDir": c.BinDir, "ImagesDir": c.ImagesDir, "CNIBinDir": c.CNIBinDir} {
		if !filepath.IsAbs(dir) {
			errs = append(errs, fmt.Errorf("cluster config: %s %q must be an absolute path", field, dir))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, b := range binaries() {
		if _, err := os.Stat(filepath.Join(c.BinDir, b)); err != nil {
			errs = append(errs, fmt.Errorf("cluster config: BinDir: %w (run hack/cluster-bins.sh)", err))
		}
	}
	for _, p := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Stat(filepath.Join(c.CNIBinDir, p)); err != nil {
			errs = append(errs, fmt.Errorf("cluster config: CNIBinDir: %w", err))
		}
	}
	for _, img := range []string{pauseTarball, corednsTarball} {
		if _, err := os.Stat(filepath.Join(c.ImagesDir, img)); err != nil {
			errs = append(errs, fmt.Errorf("cluster config: ImagesDir: %w (run make e2e-images)", err))
		}
	}
	return errors.Join(errs...)
}

// checkStateDir refuses state directories whose removal could hurt: Clean
// deletes the directory and everything below it.
func checkStateDir(dir string) error {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
		return fmt.Errorf("cluster config: StateDir %q must be a clean absolute path", dir)
	}
	// containerd's shim sockets live in <dir>/n2/containerd/s/<64 hex>
	// (the worker's): a unix socket path has at most 107 bytes.
	if max := maxSocketDir - len("/"+workerDir+"/containerd/s"); len(dir) > max {
		return fmt.Errorf("cluster config: StateDir %q is longer than %d bytes, too long for containerd's shim sockets below it", dir, max)
	}
	if !strings.HasPrefix(filepath.Base(dir), namePrefix) {
		return fmt.Errorf("cluster config: StateDir %q: its last element must start with %q, so that removing it can only remove the cluster's own files", dir, namePrefix)
	}
	return nil
}
