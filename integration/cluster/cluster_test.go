package cluster

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"k8s.io/client-go/tools/clientcmd"
)

func TestCheckStateDir(t *testing.T) {
	for _, tc := range []struct {
		dir     string
		wantErr string
	}{
		{dir: "/var/lib/weft-e2e"},
		{dir: "/tmp/weft-e2e-ci"},
		{dir: "weft-e2e", wantErr: "clean absolute path"},
		{dir: "/var/lib/weft-e2e/", wantErr: "clean absolute path"},
		{dir: "/var/lib", wantErr: `must start with "weft-e2e"`},
		{dir: "/", wantErr: `must start with "weft-e2e"`},
		{dir: "/var/lib/a-rather-long-path/weft-e2e", wantErr: "too long for containerd's shim sockets"},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			err := checkStateDir(tc.dir)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("checkStateDir(%q) = %v, want nil", tc.dir, err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("checkStateDir(%q) = %v, want an error containing %q", tc.dir, err, tc.wantErr)
			}
		})
	}
}

func TestValidateNamesMissingPieces(t *testing.T) {
	dir := t.TempDir()
	err := Config{StateDir: "/var/lib/weft-e2e", BinDir: dir, ImagesDir: dir, CNIBinDir: dir}.Validate()
	if err == nil {
		t.Fatal("Validate of empty directories succeeded")
	}
	for _, want := range []string{"kubelet", "containerd-shim-runc-v2", "host-local", pauseTarball, corednsTarball, "hack/cluster-bins.sh"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error does not name %q: %v", want, err)
		}
	}
	if err := (Config{StateDir: "/var/lib/weft-e2e", BinDir: "bin"}.Default()).Validate(); err == nil || !strings.Contains(err.Error(), "BinDir") {
		t.Errorf("Validate with a relative BinDir = %v, want an error naming BinDir", err)
	}
}

func TestDefaultStateDirFromEnvironment(t *testing.T) {
	t.Setenv("WEFT_E2E_DIR", "/tmp/weft-e2e-x")
	if got := (Config{}).Default().StateDir; got != "/tmp/weft-e2e-x" {
		t.Errorf("StateDir = %q, want $WEFT_E2E_DIR", got)
	}
	t.Setenv("WEFT_E2E_DIR", "")
	if got := (Config{}).Default().StateDir; got != DefaultStateDir {
		t.Errorf("StateDir = %q, want %q", got, DefaultStateDir)
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/var/lib/weft-e2e/kubelet`:       "/var/lib/weft-e2e/kubelet",
		`/var/lib/weft-e2e/a\040b`:        "/var/lib/weft-e2e/a b",
		`/var/lib/weft-e2e/tab\011x\134y`: "/var/lib/weft-e2e/tab\tx\\y",
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// The configurations carry the settings this machine needs (docs/e2e.md)
// and parse as what they claim to be.
func TestConfigs(t *testing.T) {
	l := layout{dir: "/var/lib/weft-e2e"}

	var containerd map[string]any
	if _, err := toml.Decode(containerdConfig(l, "/usr/lib/cni"), &containerd); err != nil {
		t.Fatalf("containerd config: %v", err)
	}
	plugins := containerd["plugins"].(map[string]any)
	runtime := plugins["io.containerd.cri.v1.runtime"].(map[string]any)
	if runtime["restrict_oom_score_adj"] != true || runtime["netns_mounts_under_state_dir"] != true {
		t.Errorf("containerd CRI runtime config = %v, want restrict_oom_score_adj and netns_mounts_under_state_dir", runtime)
	}
	images := plugins["io.containerd.cri.v1.images"].(map[string]any)
	if got := images["pinned_images"].(map[string]any)["sandbox"]; got != PauseImage {
		t.Errorf("sandbox image = %v, want %s", got, PauseImage)
	}
	for _, path := range []string{containerd["root"].(string), containerd["state"].(string), plugins["io.containerd.shim.v1.manager"].(map[string]any)["socket_dir"].(string)} {
		if !strings.HasPrefix(path, l.dir+"/") {
			t.Errorf("containerd writes %s, outside the state directory", path)
		}
	}

	for _, n := range []node{firstNode(l), workerNode(l)} {
		checkNodeConfigs(t, l, n)
	}
	w := workerNode(l)
	if args := kubeletArgs(w); !slices.Contains(args, "--register-with-taints="+WorkerTaint+":NoSchedule") ||
		!slices.Contains(args, "--node-ip="+WorkerIP) || !slices.Contains(args, "--root-dir="+l.path("n2", "kubelet")) {
		t.Errorf("the worker's kubelet args = %v", args)
	}
	if bin, args := w.command("/bin/kubelet", []string{"-v"}); bin != "nsenter" || !slices.Equal(args, []string{"--net=/run/netns/" + WorkerNetns, "--", "/bin/kubelet", "-v"}) {
		t.Errorf("the worker runs %s %v, want the kubelet in its namespace", bin, args)
	}
	if args := kubeletArgs(firstNode(l)); slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--register-with-taints") }) {
		t.Errorf("the first node is tainted: %v", args)
	}
}

// checkNodeConfigs checks a node's kubelet, kube-proxy and CNI configs:
// its address, cgroup root, socket and pod subnet, every path below its
// own directory.
func checkNodeConfigs(t *testing.T, l layout, n node) {
	t.Helper()
	var kubelet map[string]any
	data, err := kubeletConfig(n)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &kubelet); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{
		"cgroupDriver": "cgroupfs", "failCgroupV1": false, "cgroupRoot": n.cgroupRoot,
		"containerRuntimeEndpoint": "unix://" + n.l.containerdSocket(), "address": n.ip,
		"imageGCHighThresholdPercent": float64(100), "podLogsDir": n.l.podLogs(),
	} {
		if kubelet[key] != want {
			t.Errorf("%s: kubelet %s = %v, want %v", n.name, key, kubelet[key], want)
		}
	}
	if !strings.HasPrefix(n.cgroupRoot, CgroupRoot) || !strings.HasPrefix(n.l.dir, l.dir) {
		t.Errorf("%s: cgroup root %s and directory %s must be below %s and %s, which Clean removes", n.name, n.cgroupRoot, n.l.dir, CgroupRoot, l.dir)
	}

	var proxy map[string]any
	if data, err = kubeProxyConfig(n, "nftables"); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &proxy); err != nil {
		t.Fatal(err)
	}
	if proxy["hostnameOverride"] != n.name || proxy["healthzBindAddress"] != n.healthzHost()+":10256" ||
		!slices.Equal(proxy["nodePortAddresses"].([]any), []any{n.ip + "/32"}) {
		t.Errorf("%s: kube-proxy config = %s", n.name, data)
	}

	var conflist struct {
		Name    string `json:"name"`
		Plugins []struct {
			Type        string `json:"type"`
			Bridge      string `json:"bridge"`
			HairpinMode bool   `json:"hairpinMode"`
			IPAM        struct {
				Ranges  [][]struct{ Subnet string } `json:"ranges"`
				DataDir string                      `json:"dataDir"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	data, err = cniConflist(n)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &conflist); err != nil {
		t.Fatal(err)
	}
	bridge := conflist.Plugins[0]
	if conflist.Name != CNINetwork || bridge.Type != "bridge" || bridge.Bridge != CNIBridge || !bridge.HairpinMode ||
		bridge.IPAM.Ranges[0][0].Subnet != n.podSubnet || !strings.HasPrefix(bridge.IPAM.DataDir, n.l.dir+"/") {
		t.Errorf("%s: conflist = %s", n.name, data)
	}
}

// The PKI gives each component the identity RBAC's bootstrap policy
// expects, and the API server a certificate for every name pods and the
// harness use.
func TestPKI(t *testing.T) {
	l := layout{dir: t.TempDir()}
	nodes := []node{firstNode(l), workerNode(l)}
	if err := writePKI(l, nodes); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, l.pkiFile("ca.crt")))

	apiserver := readCert(t, l.pkiFile("apiserver.crt"))
	for _, name := range []string{"kubernetes.default.svc", "kubernetes.default.svc.cluster.local", APIServerServiceIP, NodeIP, "127.0.0.1"} {
		opts := x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := apiserver.Verify(opts); err != nil {
			t.Errorf("API server certificate for %s: %v", name, err)
		}
	}
	for _, n := range nodes {
		kubelet := readCert(t, n.l.pkiFile("kubelet.crt"))
		if !slices.ContainsFunc(kubelet.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.ParseIP(n.ip)) }) {
			t.Errorf("%s: kubelet certificate IPs %v lack %s", n.name, kubelet.IPAddresses, n.ip)
		}
		checkIdentities(t, n.l, roots, nodeIdentities(n))
	}
	if cn := readCert(t, workerNode(l).l.pkiFile("kubelet-client.crt")).Subject.CommonName; cn != "system:node:"+WorkerName {
		t.Errorf("the worker's kubelet is %s, want system:node:%s (the Node authorizer knows it by its name)", cn, WorkerName)
	}
	checkIdentities(t, l, roots, identities())
	for _, f := range []string{"sa.key", "admin.key"} {
		info, err := os.Stat(filepath.Join(l.pki(), f))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, info.Mode())
		}
	}
}

// checkIdentities checks client certificates and their kubeconfigs below l.
func checkIdentities(t *testing.T, l layout, roots *x509.CertPool, ids []identity) {
	t.Helper()
	for _, id := range ids {
		cert := readCert(t, l.pkiFile(id.file+".crt"))
		if cert.Subject.CommonName != id.cn || !slices.Equal(cert.Subject.Organization, id.orgs) {
			t.Errorf("%s: subject %v, want CN=%s O=%v", id.file, cert.Subject, id.cn, id.orgs)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: %v", id.file, err)
		}
		if id.kubeconfig == "" {
			continue
		}
		rc, err := clientcmd.BuildConfigFromFlags("", l.kubeconfig(id.kubeconfig))
		if err != nil {
			t.Fatalf("%s kubeconfig: %v", id.kubeconfig, err)
		}
		if rc.Host != l.apiServerURL() || rc.CertFile != l.pkiFile(id.file+".crt") || rc.CAFile != l.pkiFile("ca.crt") {
			t.Errorf("%s kubeconfig: host %s cert %s CA %s", id.kubeconfig, rc.Host, rc.CertFile, rc.CAFile)
		}
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cert
}
