package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is a running cluster: one node, or two with Config.Worker.
type Cluster struct {
	cfg   Config
	l     layout
	log   *slog.Logger
	procs []*process
	rest  *rest.Config
	lock  *runLock
	down  bool // Down succeeded; the state directory may be another run's now
	// ProxyMode is kube-proxy's mode: nftables, or iptables when
	// nftables did not come up.
	ProxyMode string
}

// Up brings up the cluster from an empty state directory (it calls Clean
// first) and returns once the node is Ready, kube-proxy has synced, the
// default ServiceAccount exists and the cluster DNS (CoreDNS behind
// kube-dns, dns.go) answers. On failure it tears down what it
// started and returns the error with the end of the failing component's log.
func Up(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg = cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, l: layout{dir: cfg.StateDir}, log: cfg.Logger}
	lock, err := acquireLock(ctx, cfg.StateDir, c.log)
	if err != nil {
		return nil, err
	}
	c.lock = lock
	if err := clean(ctx, c.l, c.log); err != nil {
		lock.release()
		return nil, fmt.Errorf("cleaning a previous run: %w", err)
	}
	started := time.Now()
	if err := c.up(ctx); err != nil {
		if downErr := c.Down(context.WithoutCancel(ctx)); downErr != nil {
			err = errors.Join(err, fmt.Errorf("tearing down after a failed start: %w", downErr))
		}
		return nil, err
	}
	c.log.Info("cluster up", "took", time.Since(started).Round(time.Millisecond), "stateDir", cfg.StateDir, "proxyMode", c.ProxyMode)
	return c, nil
}

func (c *Cluster) up(ctx context.Context) error {
	l := c.l
	if err := os.MkdirAll(l.dir, 0o750); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if err := os.WriteFile(l.path(binDirFile), []byte(c.cfg.BinDir+"\n"), 0o600); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if err := recordOutside(l); err != nil {
		return err
	}
	if err := saveAndSetSysctls(l); err != nil {
		return err
	}
	if err := setUpNetwork(c.cfg.Worker); err != nil {
		return err
	}
	nodes := c.nodes()
	if err := makeCgroupRoots(nodes); err != nil {
		return err
	}
	if err := writePKI(l, nodes); err != nil {
		return err
	}
	for _, n := range nodes {
		if err := writeConfigs(n, c.cfg.CNIBinDir); err != nil {
			return err
		}
	}
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		return fmt.Errorf("admin kubeconfig: %w", err)
	}
	c.rest = rc

	if err := c.startControlPlane(ctx); err != nil {
		return err
	}
	// CoreDNS's objects go in before the node comes up, so that its pod
	// is scheduled the moment the node is Ready.
	if err := c.applyDNS(ctx); err != nil {
		return err
	}
	for _, n := range nodes {
		if err := c.startNode(ctx, n); err != nil {
			return err
		}
	}
	if err := c.startKubeProxy(ctx); err != nil {
		return err
	}
	return c.waitDNS(ctx)
}

func (c *Cluster) bin(name string) string { return filepath.Join(c.cfg.BinDir, name) }

func (c *Cluster) start(name string, args []string, env ...string) (*process, error) {
	return c.startOn(firstNode(c.l), name, args, env...)
}

// startOn starts a node's component in the node's network namespace,
// with its PID file and log in the node's directory.
func (c *Cluster) startOn(n node, name string, args []string, env ...string) (*process, error) {
	bin, args := n.command(c.bin(name), args)
	p, err := start(n.l, name, bin, args, env)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	c.log.Info("started", "component", name, "node", n.name, "pid", p.pid)
	return p, nil
}

// startControlPlane starts etcd and waits for its health, then the API
// server (waiting for /readyz), the controller manager and the scheduler.
func (c *Cluster) startControlPlane(ctx context.Context) error {
	var ports etcdPorts
	var err error
	if ports.client, err = freePort(); err != nil {
		return err
	}
	if ports.peer, err = freePort(); err != nil {
		return err
	}
	etcd, err := c.start("etcd", etcdArgs(c.l, ports))
	if err != nil {
		return err
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := etcd.waitFor(wait, "health", httpOK(&http.Client{Timeout: time.Second}, ports.clientURL()+"/health")); err != nil {
		return err
	}
	c.log.Info("ready", "component", "etcd")
	apiserver, err := c.start("kube-apiserver", apiServerArgs(c.l, ports))
	if err != nil {
		return err
	}
	client, err := c.tlsClient()
	if err != nil {
		return err
	}
	wait, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := apiserver.waitFor(wait, "readyz", httpOK(client, c.l.apiServerURL()+"/readyz")); err != nil {
		return err
	}
	c.log.Info("ready", "component", "kube-apiserver")
	if _, err := c.start("kube-controller-manager", controllerManagerArgs(c.l)); err != nil {
		return err
	}
	_, err = c.start("kube-scheduler", schedulerArgs(c.l))
	return err
}

// tlsClient is an HTTP client with the admin's certificate that trusts
// the cluster CA.
func (c *Cluster) tlsClient() (*http.Client, error) {
	caPEM, err := os.ReadFile(c.l.pkiFile("ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(c.l.pkiFile("admin.crt"), c.l.pkiFile("admin.key"))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		}},
	}, nil
}

// startNode starts a node's containerd, imports the pause image (and on
// the first node, which runs it, CoreDNS's), starts the kubelet and waits
// for the Node to be Ready.
func (c *Cluster) startNode(ctx context.Context, n node) error {
	path := c.cfg.BinDir + string(os.PathListSeparator) + os.Getenv("PATH")
	containerd, err := c.startOn(n, "containerd", []string{"--config=" + n.l.path("containerd.toml")}, "PATH="+path)
	if err != nil {
		return err
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := containerd.waitFor(wait, "version", func(ctx context.Context) error {
		return run(ctx, c.bin("ctr"), "--address", n.l.containerdSocket(), "version")
	}); err != nil {
		return err
	}
	images := []string{filepath.Join(c.cfg.ImagesDir, pauseTarball)}
	if n.netns == "" {
		images = append(images, filepath.Join(c.cfg.ImagesDir, corednsTarball))
	}
	if err := importImages(ctx, c.bin("ctr"), n, images); err != nil {
		return err
	}
	kubelet, err := c.startOn(n, "kubelet", kubeletArgs(n), "PATH="+path)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(c.rest)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	wait, cancel = context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	err = kubelet.waitFor(wait, "node Ready", func(ctx context.Context) error {
		node, err := cs.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				if cond.Status == corev1.ConditionTrue {
					return nil
				}
				return fmt.Errorf("node %s: Ready=%s: %s", n.name, cond.Status, cond.Message)
			}
		}
		return fmt.Errorf("node %s has no Ready condition yet", n.name)
	})
	if err != nil {
		return err
	}
	c.log.Info("ready", "component", "kubelet", "node", n.name)
	return nil
}

// startKubeProxy starts kube-proxy on each node (after the nodes are
// Ready: started before its Node exists it exits): on the first in
// nftables mode, falling back to iptables mode if nftables does not sync,
// on the worker in the mode that worked. Then it waits for the default
// ServiceAccount, without which no pod of namespace default is admitted.
func (c *Cluster) startKubeProxy(ctx context.Context) error {
	var errs []error
	nodes := c.nodes()
	for _, mode := range []string{"nftables", "iptables"} {
		err := c.tryKubeProxy(ctx, nodes[0], mode)
		if err == nil {
			c.ProxyMode = mode
			break
		}
		c.log.Warn("kube-proxy did not come up", "mode", mode, "err", err)
		errs = append(errs, err)
	}
	if c.ProxyMode == "" {
		return errors.Join(errs...)
	}
	for _, n := range nodes[1:] {
		if err := c.tryKubeProxy(ctx, n, c.ProxyMode); err != nil {
			return err
		}
	}
	cs, err := kubernetes.NewForConfig(c.rest)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(wait, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if !apierrors.IsNotFound(err) && wait.Err() == nil {
			c.log.Debug("waiting for the default ServiceAccount", "err", err)
		}
		select {
		case <-wait.Done():
			return fmt.Errorf("default ServiceAccount: %w (last: %w)", wait.Err(), err)
		case <-tick.C:
		}
	}
}

func (c *Cluster) tryKubeProxy(ctx context.Context, n node, mode string) error {
	conf, err := kubeProxyConfig(n, mode)
	if err != nil {
		return err
	}
	if err := os.WriteFile(n.l.config("kube-proxy.yaml"), conf, 0o600); err != nil {
		return fmt.Errorf("kube-proxy config: %w", err)
	}
	p, err := c.startOn(n, "kube-proxy", []string{"--config=" + n.l.config("kube-proxy.yaml")})
	if err != nil {
		return err
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	healthz := "http://" + n.healthzHost() + ":10256/healthz"
	err = p.waitFor(wait, "healthz", httpOK(&http.Client{Timeout: time.Second}, healthz))
	if err == nil {
		c.log.Info("ready", "component", "kube-proxy", "node", n.name, "mode", mode)
		return nil
	}
	stopPID(p.pid, stopGrace)
	<-p.done
	if n.netns != "" {
		return err // its rules go with its namespace
	}
	if cleanErr := cleanKubeProxyRules(ctx, n.l); cleanErr != nil {
		err = errors.Join(err, cleanErr)
	}
	return err
}

// Kubeconfig is the path of the admin kubeconfig (user weft-e2e-admin in
// group system:masters).
func (c *Cluster) Kubeconfig() string { return c.l.kubeconfig("admin") }

// RESTConfig is the admin's client configuration; callers may modify the
// copy they get.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.rest) }

// ClientNetns is the name (under /run/netns) of the external client's
// network namespace on the node network.
func (c *Cluster) ClientNetns() string { return ClientNetns }

// StateDir is the cluster's state directory (logs are in its logs/).
func (c *Cluster) StateDir() string { return c.l.dir }

// ImportImages loads image tarballs (docker or OCI archives) into every
// node's containerd, in its k8s.io namespace, where pods with
// imagePullPolicy: Never find them.
func (c *Cluster) ImportImages(ctx context.Context, tarballs ...string) error {
	for _, n := range c.nodes() {
		if err := importImages(ctx, c.bin("ctr"), n, tarballs); err != nil {
			return err
		}
	}
	return nil
}

func importImages(ctx context.Context, ctr string, n node, tarballs []string) error {
	for _, t := range tarballs {
		if err := run(ctx, ctr, "--address", n.l.containerdSocket(), "-n", k8sNamespace, "images", "import", t); err != nil {
			return fmt.Errorf("importing %s on %s: %w", t, n.name, err)
		}
	}
	return nil
}

// Down stops everything Up started and removes everything it made (see
// Clean). It may be called more than once (after one that succeeded it
// does nothing), and after a failed Up.
func (c *Cluster) Down(ctx context.Context) error {
	if c.down {
		return nil
	}
	c.saveLogs()
	err := clean(ctx, c.l, c.log)
	for _, p := range c.procs {
		if alive(p.pid) {
			stopPID(p.pid, stopGrace)
		}
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			err = errors.Join(err, fmt.Errorf("%s (pid %d) did not end", p.name, p.pid))
		}
	}
	c.procs = nil
	if err == nil {
		c.down = true
		// Keep the lock of a half-cleaned run until this process ends,
		// so that the next Clean starts from what is left.
		c.lock.release()
	}
	return err
}

// saveLogs copies the components' logs to Config.LogDir, if set.
func (c *Cluster) saveLogs() {
	dest := c.cfg.LogDir
	if dest == "" {
		return
	}
	if err := os.MkdirAll(dest, 0o750); err != nil {
		c.log.Warn("saving logs", "err", err)
		return
	}
	for _, n := range c.nodes() {
		c.saveLogsOf(n, dest)
	}
}

// saveLogsOf copies a node's logs (the first node's are the control
// plane's too); the worker's are named <WorkerName>-<component>.log.
func (c *Cluster) saveLogsOf(n node, dest string) {
	prefix := ""
	if n.netns != "" {
		prefix = n.name + "-"
	}
	logs, _ := filepath.Glob(filepath.Join(n.l.logs(), "*.log"))
	for _, f := range logs {
		data, err := os.ReadFile(f)
		if err == nil {
			err = os.WriteFile(filepath.Join(dest, prefix+filepath.Base(f)), data, 0o600) //nolint:gosec // the caller's log directory
		}
		if err != nil {
			c.log.Warn("saving logs", "err", err)
		}
	}
}
