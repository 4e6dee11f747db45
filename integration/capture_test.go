package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/cni/cnitest"
	"github.com/weftmesh/weft/controlplane/ca"
	"github.com/weftmesh/weft/controlplane/kube"
	"github.com/weftmesh/weft/controlplane/kube/kubetest"
	"github.com/weftmesh/weft/injector"
)

// TestCaptureBetweenPods is issue 9's end-to-end test: two pods made by
// the real bridge and host-local CNI plugins in network namespaces of
// their own, each with an app and a weft-proxy sidecar running as UID
// 1337, the capture rules installed once by `weft-proxy init` (the
// injected init container) and once by weft-cni in the CNI chain, and the
// control plane in Kubernetes mode against a real API server. The apps
// know nothing of the mesh: the client dials the Service's ClusterIP, the
// server listens on its port.
func TestCaptureBetweenPods(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and nftables rules (make test runs as root in CI)")
	}
	bins := buildCaptureBinaries(t)
	// ClusterIPs from a test range: the client dials them, and although
	// its sidecar captures every such connection, nothing may even try
	// another address.
	env := kubetest.StartT(t, kubetest.Options{Args: map[string]string{"service-cluster-ip-range": "198.19.0.0/24"}})
	k := newKubeFixture(t, env)
	k.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "weft-system"}})

	for _, installer := range []string{"weft-proxy init", "weft-cni"} {
		t.Run(strings.ReplaceAll(installer, " ", "-"), func(t *testing.T) {
			runCaptureScenario(t, k, bins, installer)
		})
	}
}

// captureMesh is one scenario's pods, sidecars and apps.
type captureMesh struct {
	t         *testing.T
	k         *kubeFixture
	bins      string
	ns        string
	node      *cnitest.Node
	cpAddr    string // the control plane as pods reach it
	rootsFile string

	server, client, outsider *cnitest.Pod
	serverPod, clientPod     *corev1.Pod
	clusterIP                netip.Addr
	app                      *recordingApp
	sidecars                 map[string]*cnitest.Cmd
}

func runCaptureScenario(t *testing.T, k *kubeFixture, bins, installer string) {
	cni := installer == "weft-cni"
	m := &captureMesh{t: t, k: k, bins: bins, ns: "capture-init", sidecars: map[string]*cnitest.Cmd{}}
	if cni {
		m.ns = "capture-cni"
	}
	k.t = t
	k.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: m.ns}})
	for _, sa := range []string{"web", "client"} {
		k.create(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: m.ns, Name: sa}})
	}
	// The pods exist in the API server before their sandboxes, as in a
	// cluster: weft-cni reads their annotations on ADD.
	m.serverPod = m.createPod("web-1", "web", map[string]string{injector.AnnotationExcludeInboundPorts: "9090"}, !cni)
	m.clientPod = m.createPod("client-1", "client", nil, !cni)

	m.node = cnitest.NewNode(t, bins)
	var chain []map[string]any
	if cni {
		// The plugin runs in the node's namespace and reaches the API
		// server through a forwarder there, as a node reaches it over
		// the network.
		api, err := url.Parse(k.env.Config.Host)
		if err != nil {
			t.Fatal(err)
		}
		addr, _ := m.node.Expose(t, api.Host)
		chain = append(chain, cnitest.WeftCNIConf(cnitest.WriteKubeconfig(t, k.env.Config, "https://"+addr), ""))
	}
	m.server = m.node.AddPod(t, m.ns+"/web-1", chain...)
	m.client = m.node.AddPod(t, m.ns+"/client-1", chain...)
	// An unmeshed pod: no sidecar, no rules.
	m.outsider = m.node.AddPod(t, m.ns+"/outsider")
	m.setPodIP(m.serverPod, m.server.IP)
	m.setPodIP(m.clientPod, m.client.IP)

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: m.ns, Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), AppProtocol: ptrTo("http")}},
		},
	}
	k.create(svc)
	m.clusterIP = netip.MustParseAddr(svc.Spec.ClusterIP)
	k.create(&discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: m.ns, Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptrTo("http"), Port: ptrTo(int32(8080))}},
		Endpoints: []discoveryv1.Endpoint{{
			Addresses: []string{m.server.IP.String()},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: m.ns, Name: "web-1"},
		}},
	})

	k.startControlPlane("127.0.95.1:0")
	// Pods reach the control plane through the bridge's gateway address.
	m.node.ExposeAt(t, "0.0.0.0:15012", k.cp.XDSAddr().String())
	m.cpAddr = net.JoinHostPort(cnitest.Gateway, "15012")
	m.rootsFile = m.writeRoots()

	if !cni {
		m.runInit(m.server, "--exclude-inbound-ports", "15020,9090")
		m.runInit(m.client, "--exclude-inbound-ports", "15020")
	}
	m.app = startRecordingApp(t, m.server, 8080, 9090)
	m.startSidecar("web-1", m.server, m.serverPod, "web", "--exclude-inbound-ports", "9090")
	m.startSidecar("client-1", m.client, m.clientPod, "client")

	tap := tapInterface(t, m.server.Do, "eth0")
	url := fmt.Sprintf("http://%s/", netip.AddrPortFrom(m.clusterIP, 80))

	t.Run("the client app reaches the server app through both sidecars, over TLS", func(t *testing.T) {
		tap.reset()
		marker := newMarker()
		waitFor(t, "the client app to get 200 from web through the ClusterIP", func() bool {
			code, _ := m.get(m.client, url+marker)
			return code == http.StatusOK
		})
		req, ok := m.app.request(marker)
		if !ok {
			t.Fatalf("the server app never received %s", marker)
		}
		// The server's sidecar forwards from the pod's own address.
		if req.remote != m.server.IP {
			t.Errorf("the server app saw the request from %s, want its own sidecar on %s", req.remote, m.server.IP)
		}
		if !tap.tlsHandshakes() {
			t.Error("no TLS handshake crossed the server pod's interface")
		}
		if tap.seen([]byte(marker)) {
			t.Errorf("the marker %s crossed the wire in plaintext", marker)
		}
	})

	t.Run("an unmeshed client reaches a PERMISSIVE server in plaintext", func(t *testing.T) {
		marker := newMarker()
		code, err := m.get(m.outsider, fmt.Sprintf("http://%s/%s", netip.AddrPortFrom(m.server.IP, 8080), marker))
		if code != http.StatusOK {
			t.Fatalf("got %d (%v), want 200: PERMISSIVE accepts plaintext", code, err)
		}
		if _, ok := m.app.request(marker); !ok {
			t.Fatal("the server app did not receive the plaintext request")
		}
	})

	t.Run("an unmeshed client is refused by a STRICT server; excluded ports bypass the proxy", func(t *testing.T) {
		strict := &v1alpha1.PeerAuthentication{
			ObjectMeta: metav1.ObjectMeta{Namespace: m.ns, Name: "strict"},
			Spec:       v1alpha1.PeerAuthenticationSpec{MTLS: &v1alpha1.MutualTLS{Mode: v1alpha1.MTLSStrict}},
		}
		k.create(strict)
		t.Cleanup(func() { _ = k.c.Delete(context.Background(), strict) })
		direct := fmt.Sprintf("http://%s/", netip.AddrPortFrom(m.server.IP, 8080))
		waitFor(t, "plaintext to the STRICT server refused", func() bool {
			code, _ := m.get(m.outsider, direct+newMarker())
			return code == 0
		})
		marker := newMarker()
		if code, err := m.get(m.outsider, direct+marker); code != 0 {
			t.Fatalf("plaintext to a STRICT server got %d (%v), want the connection refused or closed", code, err)
		}
		if _, ok := m.app.request(marker); ok {
			t.Fatal("the server app received a plaintext request under STRICT")
		}
		// The meshed client still gets through, to the ClusterIP and to
		// the pod's own IP: its sidecar knows that address as a meshed
		// pod's and goes over mTLS there too.
		if code, err := m.get(m.client, url+newMarker()); code != http.StatusOK {
			t.Fatalf("the meshed client got %d (%v) under STRICT, want 200", code, err)
		}
		tap.reset()
		marker = newMarker()
		if code, err := m.get(m.client, direct+marker); code != http.StatusOK {
			t.Fatalf("the meshed client got %d (%v) from the STRICT server's pod IP, want 200 over mTLS", code, err)
		}
		if req, ok := m.app.request(marker); !ok || req.remote != m.server.IP {
			t.Fatalf("the app saw the pod-IP request from %v (found %v), want its own sidecar on %s", req.remote, ok, m.server.IP)
		}
		if !tap.tlsHandshakes() || tap.seen([]byte(marker)) {
			t.Errorf("by pod IP: TLS handshake on the wire %v, marker in plaintext %v; want a handshake and no plaintext", tap.tlsHandshakes(), tap.seen([]byte(marker)))
		}
		// 9090 is excluded from capture: the app answers it directly.
		marker = newMarker()
		if code, err := m.get(m.outsider, fmt.Sprintf("http://%s/%s", netip.AddrPortFrom(m.server.IP, 9090), marker)); code != http.StatusOK {
			t.Fatalf("the excluded port 9090 got %d (%v), want 200 from the app itself", code, err)
		}
		if req, ok := m.app.request(marker); !ok || req.remote != m.outsider.IP {
			t.Fatalf("the app saw the excluded port's request from %v (found %v), want the outsider %s directly", req.remote, ok, m.outsider.IP)
		}
	})

	t.Run("kill -9 of the server's sidecar: no plaintext path, then traffic resumes", func(t *testing.T) {
		sc := m.sidecars["web-1"]
		if err := sc.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = sc.Wait()
		tap.reset()
		marker := newMarker()
		code, err := m.get(m.client, url+marker)
		if code == http.StatusOK {
			t.Fatalf("with the server's sidecar dead the client got 200")
		}
		t.Logf("with the server's sidecar dead the meshed client gets %d (%v)", code, err)
		if tap.seen([]byte(marker)) {
			t.Fatal("with the server's sidecar dead, the meshed client's request crossed the wire in plaintext")
		}
		direct := newMarker()
		if code, err := m.get(m.outsider, fmt.Sprintf("http://%s/%s", netip.AddrPortFrom(m.server.IP, 8080), direct)); code != 0 {
			t.Fatalf("an unmeshed client got %d (%v) from the dead sidecar's pod, want refused", code, err)
		}
		for _, mk := range []string{marker, direct} {
			if _, ok := m.app.request(mk); ok {
				t.Fatal("the server app received a request while its sidecar was dead")
			}
		}
		m.startSidecar("web-1", m.server, m.serverPod, "web", "--exclude-inbound-ports", "9090")
		waitFor(t, "traffic through the restarted sidecar", func() bool {
			code, _ := m.get(m.client, url+newMarker())
			return code == http.StatusOK
		})
	})

	t.Run("capture rules removed: the sidecar turns unready and counts the bypass", func(t *testing.T) {
		ready := fmt.Sprintf("http://%s/ready", netip.AddrPortFrom(m.server.IP, 15020))
		m.runInit(m.server, "--cleanup")
		waitFor(t, "the server's sidecar unready without its capture rules", func() bool {
			code, _ := m.get(m.server, ready)
			return code == http.StatusServiceUnavailable
		})
		marker := newMarker()
		if code, err := m.get(m.outsider, fmt.Sprintf("http://%s/%s", netip.AddrPortFrom(m.server.IP, 8080), marker)); code != http.StatusOK {
			t.Fatalf("without rules the app itself should answer the outsider, got %d (%v)", code, err)
		}
		if req, _ := m.app.request(marker); req.remote != m.outsider.IP {
			t.Fatalf("without rules the app saw the request from %s, want the outsider %s directly", req.remote, m.outsider.IP)
		}
		// The scanner sees established connections: hold one open.
		var conn net.Conn
		if err := m.outsider.Do(func() error {
			var err error
			conn, err = net.Dial("tcp", netip.AddrPortFrom(m.server.IP, 8080).String())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		metrics := fmt.Sprintf("http://%s/metrics", netip.AddrPortFrom(m.server.IP, 15020))
		waitFor(t, "the bypass counted on port 8080", func() bool {
			return strings.Contains(m.body(m.server, metrics), `weft_proxy_capture_bypassed_connections_total{port="8080"} 1`)
		})
		m.runInit(m.server, "--exclude-inbound-ports", "15020,9090")
		waitFor(t, "the server's sidecar ready again with its rules back", func() bool {
			code, _ := m.get(m.server, ready)
			return code == http.StatusOK
		})
	})
}

// createPod creates an injected pod object (the weft-proxy container, the
// injector's status annotation) and, in init-container mode, weft-init.
func (m *captureMesh) createPod(name, sa string, annotations map[string]string, initContainer bool) *corev1.Pod {
	m.t.Helper()
	ann := map[string]string{injector.AnnotationStatus: injector.StatusInjected}
	for k, v := range annotations {
		ann[k] = v
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: m.ns, Name: name, Annotations: ann,
			Labels: map[string]string{"app": strings.Split(name, "-")[0]},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			Containers: []corev1.Container{
				{Name: "app", Image: "example.com/app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}},
				{Name: kube.ProxyContainer, Image: "example.com/weft-proxy"},
			},
		},
	}
	if initContainer {
		pod.Spec.InitContainers = []corev1.Container{{Name: injector.InitContainerName, Image: "example.com/weft-proxy"}}
	}
	m.k.create(pod)
	return pod
}

func (m *captureMesh) setPodIP(pod *corev1.Pod, ip netip.Addr) {
	m.t.Helper()
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip.String(), PodIPs: []corev1.PodIP{{IP: ip.String()}}}
	if err := m.k.c.Status().Update(m.t.Context(), pod); err != nil {
		m.t.Fatalf("set status of pod %s: %v", pod.Name, err)
	}
}

// writeRoots writes the CA's roots where the sidecars (UID 1337) can read
// them.
func (m *captureMesh) writeRoots() string {
	var b bytes.Buffer
	for _, c := range m.k.caRoots() {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return m.writePublic("root-cert.pem", b.Bytes())
}

// writePublic writes a file in a directory UID 1337 can read.
func (m *captureMesh) writePublic(name string, data []byte) string {
	m.t.Helper()
	dir := filepath.Join(m.bins, "files-"+m.ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		m.t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		m.t.Fatal(err)
	}
	return p
}

// runInit runs `weft-proxy init` in pod's namespace, as the injected
// weft-init container does.
func (m *captureMesh) runInit(pod *cnitest.Pod, args ...string) {
	m.t.Helper()
	out, err := pod.Command(m.t.Context(), filepath.Join(m.bins, "weft-proxy"), append([]string{"init"}, args...)...).CombinedOutput()
	if err != nil {
		m.t.Fatalf("weft-proxy init in %s: %v\n%s", pod.Name, err, out)
	}
	m.t.Logf("weft-proxy init in %s: %s", pod.Name, bytes.TrimSpace(out))
}

// startSidecar starts weft-proxy as UID 1337 in pod's namespace, with a
// projected-style token bound to the pod, and waits until it is ready.
func (m *captureMesh) startSidecar(name string, pod *cnitest.Pod, obj *corev1.Pod, sa string, extra ...string) {
	m.t.Helper()
	expiry := int64((10 * time.Minute).Seconds())
	tr, err := m.k.cs.CoreV1().ServiceAccounts(m.ns).CreateToken(m.t.Context(), sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         []string{ca.TokenAudience},
			ExpirationSeconds: &expiry,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: obj.Name, UID: obj.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		m.t.Fatalf("TokenRequest: %v", err)
	}
	token := m.writePublic(name+".token", []byte(tr.Status.Token))
	args := append([]string{"--name", name, "--namespace", m.ns, "--service-account", sa,
		"--control-plane", m.cpAddr, "--ca-root-file", m.rootsFile, "--token-file", token,
		"--admin-address", "127.0.0.1:15000", "--status-address", ":15020",
		"--capture", "--drain-timeout", "1s", "--log-level", "debug"}, extra...)
	cmd := pod.Command(context.Background(), filepath.Join(m.bins, "weft-proxy"), args...).AsUser(1337)
	cmd.Stdout, cmd.Stderr = testWriter{m.t, name}, testWriter{m.t, name}
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start sidecar of %s: %v", name, err)
	}
	m.sidecars[name] = cmd
	m.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := fmt.Sprintf("http://%s/ready", netip.AddrPortFrom(pod.IP, 15020))
	waitFor(m.t, "the sidecar of "+name+" ready (mesh config and capture rules)", func() bool {
		code, _ := m.get(pod, ready)
		return code == http.StatusOK
	})
}

// get sends GET url from inside pod's network namespace, as an app of that
// pod would (not UID 1337: captured where the pod has rules). It returns
// 0 and the error when no response came.
func (m *captureMesh) get(pod *cnitest.Pod, url string) (int, error) {
	resp, err := m.httpClient(pod).Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// httpClient sends requests from inside pod's network namespace.
func (m *captureMesh) httpClient(pod *cnitest.Pod) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var conn net.Conn
				err := pod.Do(func() error {
					var d net.Dialer
					var err error
					conn, err = d.DialContext(ctx, network, addr)
					return err
				})
				return conn, err
			},
		},
	}
}

// body is the body of GET url from inside pod's namespace, or "".
func (m *captureMesh) body(pod *cnitest.Pod, url string) string {
	var b strings.Builder
	c := m.httpClient(pod)
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	_, _ = io.Copy(&b, resp.Body)
	return b.String()
}

func newMarker() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "weft-marker-" + hex.EncodeToString(b)
}

// recordingApp is a plain HTTP server in a pod's namespace that records
// the requests it gets: the app that does not know the mesh is there.
type recordingApp struct {
	mu       sync.Mutex
	requests map[string]appRequest
}

type appRequest struct{ remote netip.Addr }

func startRecordingApp(t *testing.T, pod *cnitest.Pod, ports ...int) *recordingApp {
	t.Helper()
	a := &recordingApp{requests: map[string]appRequest{}}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ap, _ := netip.ParseAddrPort(r.RemoteAddr)
			a.mu.Lock()
			a.requests[strings.TrimPrefix(r.URL.Path, "/")] = appRequest{remote: ap.Addr().Unmap()}
			a.mu.Unlock()
			_, _ = io.WriteString(w, "hello from the app\n")
		}),
	}
	for _, port := range ports {
		var ln net.Listener
		if err := pod.Do(func() error {
			var err error
			ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
			return err
		}); err != nil {
			t.Fatalf("app listener on %d: %v", port, err)
		}
		go func() { _ = srv.Serve(ln) }()
	}
	t.Cleanup(func() { _ = srv.Close() })
	return a
}

func (a *recordingApp) request(path string) (appRequest, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.requests[path]
	return r, ok
}

// buildCaptureBinaries builds weft-proxy and weft-cni into a directory
// that UID 1337 can read and run.
func buildCaptureBinaries(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "weft-capture-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.CommandContext(t.Context(), "go", "build", "-o", dir+"/", "../cmd/weft-proxy", "../cmd/weft-cni")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// testWriter sends a process's output to the test log, line by line.
type testWriter struct {
	t    *testing.T
	name string
}

func (w testWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Logf("%s: %s", w.name, line)
	}
	return len(p), nil
}
