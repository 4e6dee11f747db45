//go:build e2e

package cluster

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// appImage is the test app of integration/e2e/apps (hack/e2eimages).
const (
	appImage   = "weft.dev/e2e/app:v1"
	appTarball = "weft-e2e-app.tar"
)

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// testConfig is the cluster of these tests, from the environment make e2e sets.
func testConfig(t *testing.T) Config {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		StateDir:  envOr("WEFT_E2E_DIR", DefaultStateDir),
		BinDir:    envOr("WEFT_E2E_CLUSTER_BIN", filepath.Join(root, "bin", "cluster", "v1.37.2")),
		ImagesDir: envOr("WEFT_E2E_IMAGES", filepath.Join(root, "bin", "images")),
		LogDir:    os.Getenv("WEFT_E2E_LOGS"),
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
}

// TestClean removes what an interrupted run left (go test -timeout,
// Ctrl-C): `go test -tags e2e ./integration/cluster -run '^TestClean$'`.
// With nothing left, it checks that nothing is.
func TestClean(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the cluster needs root")
	}
	cfg := testConfig(t)
	if err := Clean(t.Context(), cfg.StateDir); err != nil {
		t.Fatalf("Clean: %v", err)
	}
	assertNothingLeft(t, cfg.StateDir)
}

// A run killed with SIGKILL while its cluster runs leaves processes,
// mounts, links and rules behind; Clean removes them all.
func TestCleanAfterCrash(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the cluster needs root")
	}
	cfg := testConfig(t)
	if os.Getenv("WEFT_E2E_CRASH_CHILD") == "1" {
		// The child: bring the cluster up, worker included, with a pod
		// running (so that there are shims, mounts, a pod netns and
		// cgroups), say so, and wait to be killed.
		cfg.Worker = true
		c, err := Up(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := kubernetes.NewForConfig(c.RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "crash"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "pause", Image: PauseImage, ImagePullPolicy: corev1.PullNever,
			}}},
		}
		if _, err := cs.CoreV1().Pods(metav1.NamespaceDefault).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t.Context(), t, time.Minute, func() (string, error) {
			p, err := cs.CoreV1().Pods(metav1.NamespaceDefault).Get(t.Context(), pod.Name, metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if p.Status.Phase != corev1.PodRunning {
				return "", fmt.Errorf("pod %s is %s", pod.Name, p.Status.Phase)
			}
			return "", nil
		})
		fmt.Println("CLUSTER UP")
		select {}
	}
	ctx := t.Context()
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCleanAfterCrash$", "-test.timeout=5m")
	child.Env = append(os.Environ(), "WEFT_E2E_CRASH_CHILD=1")
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	up := false
	for sc := bufio.NewScanner(out); sc.Scan(); {
		if sc.Text() == "CLUSTER UP" {
			up = true
			break
		}
	}
	_ = child.Process.Kill()
	_ = child.Wait()
	if !up {
		t.Fatal("the child's cluster did not come up")
	}
	if pids := processesMentioning(layout{dir: cfg.StateDir}.containerdSocket()); len(pids) == 0 {
		t.Fatal("the crashed run left no shim behind; the test proves nothing")
	}
	if _, ok := pidFromFile(workerNode(layout{dir: cfg.StateDir}).l, "kubelet"); !ok || !netnsExists(WorkerNetns) {
		t.Fatal("the crashed run left no worker behind; the test proves nothing")
	}
	if mounts, _ := mountsBelow(cfg.StateDir); len(mounts) == 0 {
		t.Fatal("the crashed run left no mount behind; the test proves nothing")
	}
	start := time.Now()
	if err := Clean(ctx, cfg.StateDir); err != nil {
		t.Fatalf("Clean: %v", err)
	}
	t.Logf("Clean took %s", time.Since(start).Round(time.Millisecond))
	assertNothingLeft(t, cfg.StateDir)
}

// The harness brings up a node that runs a pod, whose Service the pod
// reaches through itself (hairpin) and by name through the cluster DNS,
// and whose NodePort the external client reaches; Down leaves nothing
// named weft-e2e behind.
func TestUpDown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the cluster needs root")
	}
	ctx := t.Context()
	cfg := testConfig(t)
	ipForward := readSysctl(t, "net/ipv4/ip_forward")

	started := time.Now()
	c, err := Up(ctx, cfg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Logf("Up took %s (kube-proxy mode %s)", time.Since(started).Round(time.Millisecond), c.ProxyMode)
	downed := false
	t.Cleanup(func() {
		if !downed {
			if err := c.Down(context.WithoutCancel(ctx)); err != nil {
				t.Errorf("Down: %v", err)
			}
		}
	})

	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	node, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := node.Status.NodeInfo.KubeletVersion; v != "v1.37.2" {
		t.Errorf("node reports kubelet %q, want v1.37.2", v)
	}
	if sv, err := cs.Discovery().ServerVersion(); err != nil || sv.GitVersion != "v1.37.2" {
		t.Errorf("API server version %v (%v), want v1.37.2", sv, err)
	}

	importStart := time.Now()
	if err := c.ImportImages(ctx, filepath.Join(cfg.ImagesDir, appTarball)); err != nil {
		t.Fatal(err)
	}
	t.Logf("importing the app image took %s", time.Since(importStart).Round(time.Millisecond))

	podStart := time.Now()
	svc, pod := runApp(ctx, t, cs, "hairpin", firstNode(c.l))
	t.Logf("pod %s Running %s after its creation, on %s", pod.Name, time.Since(podStart).Round(time.Millisecond), pod.Status.PodIP)

	t.Run("external client reaches the NodePort", func(t *testing.T) {
		addr := net.JoinHostPort(NodeIP, strconv.Itoa(int(svc.Spec.Ports[0].NodePort)))
		body := eventually(ctx, t, time.Minute, func() (string, error) { return getFromNetns(ctx, c.ClientNetns(), addr) })
		if !strings.Contains(body, pod.Name) {
			t.Errorf("GET http://%s/ from %s answered %q, want it to name %s", addr, c.ClientNetns(), body, pod.Name)
		}
	})

	t.Run("a pod reaches itself through its Service", func(t *testing.T) {
		url := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, "80") + "/"
		logs := runEphemeral(ctx, t, cs, pod, []string{"get", url})
		if !strings.Contains(logs, pod.Name) {
			t.Errorf("get %s inside the pod printed %q, want it to name %s", url, logs, pod.Name)
		}
	})

	t.Run("a pod resolves names through the cluster DNS", func(t *testing.T) {
		for _, tt := range []struct{ name, want string }{
			{"kubernetes.default.svc.cluster.local", APIServerServiceIP},
			{"hairpin.default.svc.cluster.local", svc.Spec.ClusterIP},
			// Through resolv.conf's search list, the form of Weft's
			// weft-controlplane.weft-system.svc. (A bare "hairpin" is
			// the pod's own name: the kubelet's /etc/hosts answers it.)
			{"kubernetes.default.svc", APIServerServiceIP},
		} {
			if got := runEphemeral(ctx, t, cs, pod, []string{"resolve", tt.name}); got != tt.want+"\n" {
				t.Errorf("resolve %s inside the pod printed %q, want %s", tt.name, got, tt.want)
			}
		}
		url := "http://hairpin.default.svc.cluster.local/"
		if logs := runEphemeral(ctx, t, cs, pod, []string{"get", url}); !strings.Contains(logs, pod.Name) {
			t.Errorf("get %s inside the pod printed %q, want it to name %s", url, logs, pod.Name)
		}
	})

	t.Logf("memory: %d MiB in the components and pods", memoryBytes(t, c)>>20)

	downStart := time.Now()
	downed = true
	if err := c.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	t.Logf("Down took %s", time.Since(downStart).Round(time.Millisecond))
	assertNothingLeft(t, cfg.StateDir)
	if got := readSysctl(t, "net/ipv4/ip_forward"); got != ipForward {
		t.Errorf("net.ipv4.ip_forward is %s after Down, was %s before Up", got, ipForward)
	}
}

// runApp runs the test app in a pod named name on node n (the worker: the
// pod tolerates its taint) behind a NodePort Service of the same name,
// waits for the pod to be Ready and checks its node and IP.
func runApp(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string, n node) (*corev1.Service, *corev1.Pod) {
	t.Helper()
	labels := map[string]string{"app": name}
	svc, err := cs.CoreV1().Services(metav1.NamespaceDefault).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(svc.Spec.ClusterIP, "198.19.0.") {
		t.Errorf("Service got ClusterIP %s, want one in %s", svc.Spec.ClusterIP, ServiceCIDR)
	}
	spec := corev1.PodSpec{
		TerminationGracePeriodSeconds: new(int64),
		Containers: []corev1.Container{{
			Name: "app", Image: appImage, ImagePullPolicy: corev1.PullNever,
			Args:  []string{"serve", "--http-port", "8080"},
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
				PeriodSeconds: 1,
			},
		}},
	}
	if n.netns != "" {
		OnWorker(&spec)
	}
	pod, err := cs.CoreV1().Pods(metav1.NamespaceDefault).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       spec,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var last *corev1.Pod
	eventually(ctx, t, 2*time.Minute, func() (string, error) {
		p, err := cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		last = p
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				return "", nil
			}
		}
		return "", fmt.Errorf("pod %s is %s: %+v", p.Name, p.Status.Phase, p.Status.ContainerStatuses)
	})
	_, subnet, _ := net.ParseCIDR(n.podSubnet)
	if last.Spec.NodeName != n.name || !subnet.Contains(net.ParseIP(last.Status.PodIP)) {
		t.Errorf("pod %s on %s with IP %q, want %s and an IP in %s", last.Name, last.Spec.NodeName, last.Status.PodIP, n.name, n.podSubnet)
	}
	return svc, last
}

// runEphemeral runs args in a new ephemeral container of pod (so, in its
// network namespace) and returns its output once it has exited 0.
func runEphemeral(ctx context.Context, t *testing.T, cs kubernetes.Interface, pod *corev1.Pod, args []string) string {
	t.Helper()
	var name string
	// The kubelet updates the pod's status meanwhile: retry on conflict.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		name = fmt.Sprintf("check-%d", len(p.Spec.EphemeralContainers))
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: name, Image: appImage, ImagePullPolicy: corev1.PullNever, Args: args,
			},
		})
		_, err = cs.CoreV1().Pods(p.Namespace).UpdateEphemeralContainers(ctx, p.Name, p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(ctx, t, time.Minute, func() (string, error) {
		p, err := cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		for _, s := range p.Status.EphemeralContainerStatuses {
			if s.Name == name && s.State.Terminated != nil {
				if s.State.Terminated.ExitCode != 0 {
					logs, _ := cs.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: name}).DoRaw(ctx)
					t.Fatalf("%v in pod %s exited %d: %s", args, pod.Name, s.State.Terminated.ExitCode, logs)
				}
				return "", nil
			}
		}
		return "", fmt.Errorf("ephemeral container %s has not exited: %+v", name, p.Status.EphemeralContainerStatuses)
	})
	logs, err := cs.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: name}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("logs of %s: %v", name, err)
	}
	return string(logs)
}

// getFromNetns sends GET / to addr from a socket made in the named
// network namespace and returns the body of a 200 answer.
func getFromNetns(ctx context.Context, netns, addr string) (string, error) {
	var conn net.Conn
	err := ns.WithNetNSPath(filepath.Join("/run/netns", netns), func(ns.NetNS) error {
		var d net.Dialer
		dialCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var err error
		conn, err = d.DialContext(dialCtx, "tcp", addr)
		return err
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", addr); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := bufio.NewReader(resp.Body).WriteTo(&b); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET http://%s/: %s", addr, resp.Status)
	}
	return b.String(), nil
}

// eventually retries try every 250ms until it succeeds or d has passed.
func eventually(ctx context.Context, t *testing.T, d time.Duration, try func() (string, error)) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		v, err := try()
		if err == nil {
			return v
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("after %s: %v", d, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// memoryBytes sums the resident memory of the components (PID files)
// and containerd's shims, plus the pods' cgroup.
func memoryBytes(t *testing.T, c *Cluster) int64 {
	t.Helper()
	var total int64
	pids := processesMentioning(c.l.containerdSocket())
	for _, name := range append(nodeComponents(), append(controlComponents(), "containerd")...) {
		if pid, ok := pidFromFile(c.l, name); ok {
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				total += kb << 10
			}
		}
	}
	if data, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", CgroupRoot, "memory.usage_in_bytes")); err == nil {
		n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		total += n
	}
	return total
}

func readSysctl(t *testing.T, name string) string {
	t.Helper()
	v, err := os.ReadFile(filepath.Join("/proc/sys", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(v))
}

// assertNothingLeft checks the machine for anything of the cluster: links,
// namespaces, routes, cgroups, processes, mounts, kube-proxy's nftables
// table, and the state directory.
func assertNothingLeft(t *testing.T, stateDir string) {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, namePrefix) {
			t.Errorf("link %s is left", l.Attrs().Name)
		}
	}
	if nss, _ := filepath.Glob("/run/netns/" + namePrefix + "*"); len(nss) > 0 {
		t.Errorf("network namespaces left: %v", nss)
	}
	routes, err := netlink.RouteList(nil, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	_, testNet, _ := net.ParseCIDR("198.18.0.0/15")
	for _, r := range routes {
		if r.Type == unix.RTN_UNREACHABLE && r.Priority == unreachableMetric || r.Dst != nil && testNet.Contains(r.Dst.IP) {
			t.Errorf("route left: %v", r)
		}
	}
	for _, dir := range cgroupDirs() {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("cgroup %s is left", dir)
		}
	}
	if pids := processesMentioning(stateDir); len(pids) > 0 {
		for _, pid := range pids {
			t.Errorf("process %d is left: %s", pid, cmdline(pid))
		}
	}
	if mounts, err := mountsBelow(stateDir); err != nil || len(mounts) > 0 {
		t.Errorf("mounts left below %s: %v (%v)", stateDir, mounts, err)
	}
	for _, path := range []string{stateDir, lockPath(stateDir)} {
		if _, err := os.Stat(path); err == nil {
			t.Errorf("%s is left", path)
		}
	}
	conn, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == "kube-proxy" {
			t.Errorf("nftables table %v kube-proxy is left", tb.Family)
		}
	}
}
