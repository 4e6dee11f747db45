package cluster

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// etcdPorts are etcd's client and peer ports on 127.0.0.1, chosen free at Up.
type etcdPorts struct{ client, peer int }

func (p etcdPorts) clientURL() string { return "http://127.0.0.1:" + strconv.Itoa(p.client) }
func (p etcdPorts) peerURL() string   { return "http://127.0.0.1:" + strconv.Itoa(p.peer) }

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func etcdArgs(l layout, p etcdPorts) []string {
	return []string{
		"--name=weft-e2e",
		"--data-dir=" + l.etcdData(),
		"--listen-client-urls=" + p.clientURL(),
		"--advertise-client-urls=" + p.clientURL(),
		"--listen-peer-urls=" + p.peerURL(),
		"--initial-advertise-peer-urls=" + p.peerURL(),
		"--initial-cluster=weft-e2e=" + p.peerURL(),
		"--unsafe-no-fsync=true",
		"--quota-backend-bytes=1073741824",
	}
}

func apiServerArgs(l layout, p etcdPorts) []string {
	return []string{
		"--advertise-address=" + NodeIP,
		"--bind-address=" + NodeIP,
		"--secure-port=" + strconv.Itoa(apiServerPort),
		"--etcd-servers=" + p.clientURL(),
		"--service-cluster-ip-range=" + ServiceCIDR,
		"--service-node-port-range=30000-32767",
		"--tls-cert-file=" + l.pkiFile("apiserver.crt"),
		"--tls-private-key-file=" + l.pkiFile("apiserver.key"),
		"--client-ca-file=" + l.pkiFile("ca.crt"),
		"--kubelet-client-certificate=" + l.pkiFile("apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + l.pkiFile("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority=" + l.pkiFile("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + l.pkiFile("sa.key"),
		"--service-account-signing-key-file=" + l.pkiFile("sa.key"),
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		"--profiling=false",
		"--cert-dir=" + l.path("apiserver-certs"),
	}
}

func controllerManagerArgs(l layout) []string {
	kc := l.kubeconfig("controller-manager")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + l.pkiFile("sa.key"),
		"--root-ca-file=" + l.pkiFile("ca.crt"),
		"--service-cluster-ip-range=" + ServiceCIDR,
		"--controllers=*",
		"--flex-volume-plugin-dir=" + l.volumePlugins(),
		"--profiling=false",
		"--cert-dir=" + l.path("controller-manager-certs"),
	}
}

func schedulerArgs(l layout) []string {
	kc := l.kubeconfig("scheduler")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
		"--profiling=false",
		"--cert-dir=" + l.path("scheduler-certs"),
	}
}

// containerdConfig is containerd 2.x's config (version 3, as in
// docs/e2e.md): every path below the state directory (shim sockets and
// runc's state included), CRI with the pause image pinned, OOM score
// adjustments restricted (root lacks CAP_SYS_RESOURCE here), pod network
// namespaces under containerd's state, and the conflist of cniConflist.
func containerdConfig(l layout, cniBinDir string) string {
	q := strconv.Quote
	return strings.Join([]string{
		`version = 3`,
		`root = ` + q(l.containerdRoot()),
		`state = ` + q(l.containerdState()),
		`temp = ` + q(l.path("containerd", "tmp")),
		`disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.nri.v1.nri"]`,
		``,
		`[grpc]`,
		`  address = ` + q(l.containerdSocket()),
		``,
		`[ttrpc]`,
		`  address = ` + q(l.containerdSocket()+".ttrpc"),
		``,
		`[plugins]`,
		`  [plugins."io.containerd.shim.v1.manager"]`,
		`    socket_dir = ` + q(l.shimSockets()),
		`  [plugins."io.containerd.cri.v1.images"]`,
		`    snapshotter = "overlayfs"`,
		`    [plugins."io.containerd.cri.v1.images".pinned_images]`,
		`      sandbox = ` + q(PauseImage),
		`  [plugins."io.containerd.cri.v1.runtime"]`,
		`    restrict_oom_score_adj = true`,
		`    netns_mounts_under_state_dir = true`,
		`    cdi_spec_dirs = []`,
		`    [plugins."io.containerd.cri.v1.runtime".containerd]`,
		`      default_runtime_name = "runc"`,
		`      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]`,
		`        runtime_type = "io.containerd.runc.v2"`,
		`        [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]`,
		`          Root = ` + q(l.runcRoot()),
		`          SystemdCgroup = false`,
		`    [plugins."io.containerd.cri.v1.runtime".cni]`,
		`      bin_dirs = [` + q(cniBinDir) + `]`,
		`      conf_dir = ` + q(l.cniConfDir()),
		`      max_conf_num = 1`,
		`  [plugins."io.containerd.grpc.v1.cri"]`,
		`    disable_tcp_service = true`,
		`    stream_server_address = "127.0.0.1"`,
		`    stream_server_port = "0"`,
		``,
	}, "\n")
}

// cniConflist is a node's pods' network: the bridge plugin on CNIBridge
// (the pods' gateway, hairpin mode so a pod reaches itself through its
// Service), host-local from the node's pod subnet with its state under
// the node's directory, and portmap for hostPorts. No ipMasq: a pod's
// address is routed as it is, to the other node or to the client.
func cniConflist(n node) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       CNINetwork,
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      CNIBridge,
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": n.podSubnet, "gateway": n.podGateway}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": n.l.cniDataDir(),
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cni conflist: %w", err)
	}
	return data, nil
}

// kubeletConfig is a node's KubeletConfiguration (JSON is YAML): cgroupfs
// on cgroups v1 below the node's cgroup root, its containerd's socket,
// webhook authn/authz with the cluster CA, its serving certificate,
// kube-dns as the pods' resolver (DNSServiceIP, ClusterDomain; dns.go),
// its taint, and eviction and image GC thresholds low enough for a busy
// CI disk.
func kubeletConfig(n node) ([]byte, error) {
	l := n.l
	sock := "unix://" + l.containerdSocket()
	conf := map[string]any{
		"apiVersion":               "kubelet.config.k8s.io/v1beta1",
		"kind":                     "KubeletConfiguration",
		"address":                  n.ip,
		"port":                     10250,
		"readOnlyPort":             0,
		"healthzBindAddress":       "127.0.0.1",
		"healthzPort":              10248,
		"cgroupDriver":             "cgroupfs",
		"cgroupRoot":               n.cgroupRoot,
		"cgroupsPerQOS":            true,
		"failCgroupV1":             false,
		"failSwapOn":               false,
		"containerRuntimeEndpoint": sock,
		"imageServiceEndpoint":     sock,
		"authentication": map[string]any{
			"anonymous": map[string]bool{"enabled": false},
			"webhook":   map[string]bool{"enabled": true},
			"x509":      map[string]string{"clientCAFile": l.pkiFile("ca.crt")},
		},
		"authorization":     map[string]string{"mode": "Webhook"},
		"tlsCertFile":       l.pkiFile("kubelet.crt"),
		"tlsPrivateKeyFile": l.pkiFile("kubelet.key"),
		"clusterDomain":     ClusterDomain,
		"clusterDNS":        []string{DNSServiceIP},
		"resolvConf":        l.path("resolv.conf"),
		"evictionHard": map[string]string{
			"memory.available":  "1Mi",
			"nodefs.available":  "1%",
			"nodefs.inodesFree": "1%",
			"imagefs.available": "1%",
		},
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"podLogsDir":                  l.podLogs(),
		"volumePluginDir":             l.volumePlugins(),
		"staticPodPath":               "",
		"rotateCertificates":          false,
		"serverTLSBootstrap":          false,
		"registerNode":                true,
		"maxPods":                     110,
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("kubelet config: %w", err)
	}
	return data, nil
}

func kubeletArgs(n node) []string {
	args := []string{
		"--config=" + n.l.config("kubelet.yaml"),
		"--kubeconfig=" + n.l.kubeconfig("kubelet"),
		"--root-dir=" + n.l.kubeletRoot(),
		"--node-ip=" + n.ip,
		"--hostname-override=" + n.name,
		"--cert-dir=" + n.l.path("kubelet-certs"),
	}
	if n.taint != "" {
		args = append(args, "--register-with-taints="+n.taint)
	}
	return args
}

// kubeProxyConfig is a node's KubeProxyConfiguration: the given mode,
// NodePorts on the node's address only, and conntrack sysctls left as
// they are.
func kubeProxyConfig(n node, mode string) ([]byte, error) {
	conf := map[string]any{
		"apiVersion":         "kubeproxy.config.k8s.io/v1alpha1",
		"kind":               "KubeProxyConfiguration",
		"mode":               mode,
		"clientConnection":   map[string]string{"kubeconfig": n.l.kubeconfig("kube-proxy")},
		"hostnameOverride":   n.name,
		"clusterCIDR":        ClusterCIDR,
		"nodePortAddresses":  []string{n.ip + "/32"},
		"healthzBindAddress": n.healthzHost() + ":10256",
		"metricsBindAddress": "127.0.0.1:10249",
		"conntrack": map[string]any{
			"maxPerCore":            0,
			"min":                   0,
			"tcpEstablishedTimeout": "0s",
			"tcpCloseWaitTimeout":   "0s",
			"udpTimeout":            "0s",
			"udpStreamTimeout":      "0s",
		},
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("kube-proxy config: %w", err)
	}
	return data, nil
}

// writeConfigs writes a node's containerd, CNI and kubelet configuration
// files.
func writeConfigs(n node, cniBinDir string) error {
	l := n.l
	conflist, err := cniConflist(n)
	if err != nil {
		return err
	}
	kubelet, err := kubeletConfig(n)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		// The node's resolver, which dnsPolicy: Default pods (CoreDNS
		// itself) get and ClusterFirst pods' search list extends: never
		// the machine's resolver (which is off the machine).
		l.path("resolv.conf"):     []byte("nameserver 127.0.0.1\n"),
		l.path("containerd.toml"): []byte(containerdConfig(l, cniBinDir)),
		filepath.Join(l.cniConfDir(), "10-"+CNINetwork+".conflist"): conflist,
		l.config("kubelet.yaml"):                                    kubelet,
	}
	for path, data := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}
