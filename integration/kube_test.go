package integration

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weftmesh/weft/controlplane"
	"github.com/weftmesh/weft/controlplane/ca"
	"github.com/weftmesh/weft/controlplane/kube"
	"github.com/weftmesh/weft/controlplane/kube/kubetest"
	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
	"github.com/weftmesh/weft/meshid"
	"github.com/weftmesh/weft/proxy/identity"
	"github.com/weftmesh/weft/proxy/xdsclient"
)

// TestKubernetesModeFollowsEndpointSlices runs the control plane in
// Kubernetes mode against a real API server (envtest) and a Pod's xDS
// client authenticated with an SVID its CA issued for the Pod's projected
// ServiceAccount token: the client gets the Service's cluster and
// endpoints, follows EndpointSlice edits up and down and the Service's
// deletion, and keeps its configuration across a control-plane restart.
func TestKubernetesModeFollowsEndpointSlices(t *testing.T) {
	env := kubetest.StartT(t, kubetest.Options{})
	k := newKubeFixture(t, env)
	const ns = "shop"
	k.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "weft-system"}})
	k.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	k.create(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "client"}})
	clientPod := k.runPod(ns, "client-1", "client", "198.18.0.10")
	k.create(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	})
	ips := map[string]string{}
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("web-%d", i)
		ips[name] = fmt.Sprintf("198.18.0.%d", i)
		k.runPod(ns, name, "web", ips[name])
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: "web-x1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptrTo("http"), Port: ptrTo(int32(8080))}},
	}
	setEndpoints := func(pods ...string) {
		t.Helper()
		slice.Endpoints = nil
		for _, p := range pods {
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
				Addresses: []string{ips[p]},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: p},
			})
		}
		var err error
		if slice.ResourceVersion == "" {
			err = k.c.Create(t.Context(), slice)
		} else {
			err = k.c.Update(t.Context(), slice)
		}
		if err != nil {
			t.Fatalf("write EndpointSlice: %v", err)
		}
	}
	setEndpoints("web-1", "web-2")

	k.startControlPlane("127.0.95.1:0")
	xc := k.startXDSClient(clientPod, "client")
	cluster := translate.OutboundClusterName(model.NamespacedName{Namespace: ns, Name: "web"}, 80)

	xc.waitFor(t, "the cluster of shop/web with web-1 and web-2", cluster, "198.18.0.1:8080", "198.18.0.2:8080")
	// Scale up, then down.
	setEndpoints("web-1", "web-2", "web-3")
	xc.waitFor(t, "three endpoints", cluster, "198.18.0.1:8080", "198.18.0.2:8080", "198.18.0.3:8080")
	setEndpoints("web-3")
	xc.waitFor(t, "one endpoint", cluster, "198.18.0.3:8080")

	// A restart: the client keeps what it has while the control plane is
	// down, reconnects, and follows changes made after the restart.
	xc.markRestart()
	if err := k.cp.Close(); err != nil {
		t.Fatalf("close control plane: %v", err)
	}
	setEndpoints("web-2", "web-3")
	time.Sleep(300 * time.Millisecond) // the client is disconnected meanwhile
	if got := xc.endpoints(cluster); !slices.Equal(got, []string{"198.18.0.3:8080"}) {
		t.Fatalf("while the control plane is down the client has %q, want what it had", got)
	}
	k.startControlPlane(k.cfg.XDSAddress)
	xc.waitFor(t, "the endpoints changed during the restart", cluster, "198.18.0.2:8080", "198.18.0.3:8080")
	waitFor(t, "the client reconnected", func() bool { return xc.client.Status().Connected })
	if lost := xc.lostAfterRestart(cluster); lost != "" {
		t.Errorf("after the restart the client was handed a configuration without %s", lost)
	}

	// Deleting the Service removes its cluster.
	if err := k.c.Delete(t.Context(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cluster of the deleted Service gone", func() bool {
		return !slices.Contains(xc.clusterNames(), cluster) && xc.endpoints(cluster) == nil
	})
}

// kubeFixture is an API server, clients for it, and the control plane in
// Kubernetes mode.
type kubeFixture struct {
	t   *testing.T
	env *kubetest.Env
	c   client.Client
	cs  kubernetes.Interface
	cfg controlplane.Config
	cp  *controlplane.ControlPlane
	td  spiffeid.TrustDomain
}

func newKubeFixture(t *testing.T, env *kubetest.Env) *kubeFixture {
	t.Helper()
	scheme, err := kube.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return &kubeFixture{t: t, env: env, c: c, cs: cs, td: spiffeid.RequireTrustDomainFromString(model.DefaultTrustDomain)}
}

func (k *kubeFixture) create(objs ...client.Object) {
	k.t.Helper()
	for _, o := range objs {
		if err := k.c.Create(k.t.Context(), o); err != nil {
			k.t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// runPod creates an injected Pod and gives it an address and the Running
// phase through the status subresource, as the kubelet would.
func (k *kubeFixture) runPod(ns, name, sa, ip string) *corev1.Pod {
	k.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": strings.Split(name, "-")[0]}},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			Containers: []corev1.Container{
				{Name: "app", Image: "example.com/app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}},
				{Name: kube.ProxyContainer, Image: "example.com/weft-proxy"},
			},
		},
	}
	k.create(pod)
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	if err := k.c.Status().Update(k.t.Context(), pod); err != nil {
		k.t.Fatalf("set status of pod %s: %v", name, err)
	}
	return pod
}

// startControlPlane starts the control plane in Kubernetes mode on addr
// for xDS; a restart passes the address the first start was given.
func (k *kubeFixture) startControlPlane(xdsAddr string) {
	k.t.Helper()
	k.cfg = controlplane.Default()
	k.cfg.KubeRESTConfig = k.env.Config
	k.cfg.XDSAddress, k.cfg.MonitorAddress = xdsAddr, "127.0.95.1:0"
	k.cfg.WebhookAddress = "127.0.95.1:0" // loopback, never :15017 on every address
	cp := controlplane.New(k.cfg, testLogger(k.t, "controlplane"))
	if err := cp.Start(k.t.Context()); err != nil {
		k.t.Fatalf("start control plane in Kubernetes mode: %v", err)
	}
	k.cfg.XDSAddress = cp.XDSAddr().String()
	k.cp = cp
	k.t.Cleanup(func() { _ = cp.Close() })
}

// caRoots reads the root the control plane keeps in its Secret.
func (k *kubeFixture) caRoots() []*x509.Certificate {
	k.t.Helper()
	ref := ca.DefaultSecretRef()
	s, err := k.cs.CoreV1().Secrets(ref.Namespace).Get(k.t.Context(), ref.Name, metav1.GetOptions{})
	if err != nil {
		k.t.Fatalf("read the CA Secret: %v", err)
	}
	var roots []*x509.Certificate
	for rest := s.Data["ca.crt"]; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			k.t.Fatal(err)
		}
		roots = append(roots, cert)
	}
	if len(roots) == 0 {
		k.t.Fatal("the CA Secret holds no roots in ca.crt")
	}
	return roots
}

// startXDSClient gets an SVID for pod (service account sa) from the control
// plane's CA with a projected token bound to the pod, as the sidecar does,
// and runs the proxy's xDS client with it as node <pod>.<namespace>.
func (k *kubeFixture) startXDSClient(pod *corev1.Pod, sa string) *xdsRecorder {
	k.t.Helper()
	expiry := int64((10 * time.Minute).Seconds())
	tr, err := k.cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(k.t.Context(), sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         []string{ca.TokenAudience},
			ExpirationSeconds: &expiry,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		k.t.Fatalf("TokenRequest: %v", err)
	}
	token := tr.Status.Token
	ids := identity.New(identity.Config{
		CAAddress:      k.cp.XDSAddr().String(),
		TrustDomain:    k.td,
		Namespace:      pod.Namespace,
		ServiceAccount: sa,
		Token:          func(context.Context) (string, error) { return token, nil },
		RootCAs:        k.caRoots(),
		RetryInitial:   50 * time.Millisecond,
		RetryMax:       time.Second,
		Logger:         testLogger(k.t, "identity"),
	})
	startCtx, cancel := context.WithTimeout(k.t.Context(), 30*time.Second)
	defer cancel()
	if err := ids.Start(startCtx); err != nil {
		k.t.Fatalf("SVID for %s/%s: %v", pod.Namespace, sa, err)
	}
	k.t.Cleanup(func() { _ = ids.Close() })

	tlsConfig := tlsconfig.MTLSClientConfig(ids, ids, tlsconfig.AuthorizeID(meshid.ControlPlane(k.td)))
	conn, err := grpc.NewClient(k.cp.XDSAddr().String(),
		grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, MaxDelay: time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	)
	if err != nil {
		k.t.Fatal(err)
	}
	rec := &xdsRecorder{eps: map[string][]string{}}
	rec.client = xdsclient.New(xdsclient.Config{
		Conn:           conn,
		Node:           &corev3.Node{Id: meshid.NodeID(pod.Name, pod.Namespace), Cluster: pod.Namespace},
		Handler:        rec,
		Logger:         testLogger(k.t, "xdsclient"),
		InitialBackoff: 50 * time.Millisecond,
		MaxBackoff:     time.Second,
	})
	ctx, stop := context.WithCancel(k.t.Context())
	done := make(chan error, 1)
	go func() { done <- rec.client.Run(ctx) }()
	k.t.Cleanup(func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			k.t.Errorf("xDS client: %v", err)
		}
		_ = conn.Close()
	})
	return rec
}

// xdsRecorder is an xdsclient.Handler that keeps what it was given.
type xdsRecorder struct {
	client *xdsclient.Client

	mu       sync.Mutex
	clusters []string
	eps      map[string][]string
	// history holds, from markRestart on, the cluster lists and
	// assignments handed over.
	recording bool
	history   []map[string][]string
}

func (r *xdsRecorder) OnClusters(_ context.Context, cs []*clusterv3.Cluster) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clusters = nil
	for _, c := range cs {
		r.clusters = append(r.clusters, c.GetName())
	}
	slices.Sort(r.clusters)
	if r.recording {
		r.history = append(r.history, map[string][]string{"clusters": slices.Clone(r.clusters)})
	}
	return nil
}

func (r *xdsRecorder) OnEndpoints(_ context.Context, assignments []*endpointv3.ClusterLoadAssignment) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eps = map[string][]string{}
	for _, cla := range assignments {
		var addrs []string
		for _, lle := range cla.GetEndpoints() {
			for _, lb := range lle.GetLbEndpoints() {
				sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
				addrs = append(addrs, fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue()))
			}
		}
		slices.Sort(addrs)
		r.eps[cla.GetClusterName()] = addrs
	}
	if r.recording {
		r.history = append(r.history, cloneEndpoints(r.eps))
	}
	return nil
}

func (r *xdsRecorder) OnListeners(context.Context, []*listenerv3.Listener) error { return nil }

func (r *xdsRecorder) OnRoutes(context.Context, []*routev3.RouteConfiguration) error { return nil }

func cloneEndpoints(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}

func (r *xdsRecorder) clusterNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.clusters)
}

func (r *xdsRecorder) endpoints(cluster string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.eps[cluster])
}

// markRestart starts recording what the client is handed.
func (r *xdsRecorder) markRestart() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recording = true
}

// lostAfterRestart names what a configuration handed over since
// markRestart lacked: the cluster, or its endpoints.
func (r *xdsRecorder) lostAfterRestart(cluster string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.history {
		if cs, ok := h["clusters"]; ok {
			if !slices.Contains(cs, cluster) {
				return "the cluster " + cluster
			}
			continue
		}
		if len(h[cluster]) == 0 {
			return "the endpoints of " + cluster
		}
	}
	return ""
}

// waitFor waits until the client has cluster with exactly the endpoints
// want.
func (r *xdsRecorder) waitFor(t *testing.T, what, cluster string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := r.endpoints(cluster)
		if slices.Contains(r.clusterNames(), cluster) && slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the xDS client did not get %s within 30s: clusters %q, endpoints of %s %q, status %+v",
				what, r.clusterNames(), cluster, got, r.client.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ptrTo[T any](v T) *T { return &v }
