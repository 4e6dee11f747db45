package xdsload

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/weftmesh/weft/controlplane/ca"
	"github.com/weftmesh/weft/controlplane/kube"
	"github.com/weftmesh/weft/meshid"
)

// The kube source lays the Mesh out as Kubernetes objects. Service s and
// its endpoint Pods ep-<s>-<k> live in ns-<s mod Namespaces>, as in Mesh.
// Proxy c is the Pod client-<c> in clients-<c mod Namespaces>, a namespace
// without Services, whose weft.dev/dependencies annotation names the
// Services of Mesh.Services(c): a Pod's scope is its namespace plus its
// dependencies (docs/kubernetes.md), so every proxy sees exactly the
// ServicesPerClient Services it would in the model source, and a change
// reaches the same Mesh.Callers. Services are headless (no cluster IP, as
// the model source's), so the API server's service CIDR does not bound
// their number.

// Files the kube child reads from its --dir, besides nothing else: the
// control plane is given the run's root as a provided CA, and the parent
// signs the proxies' SVIDs with it (no TokenRequest per proxy).
const (
	kubeconfigFile = "kubeconfig"
	caCertFile     = "ca.crt"
	caKeyFile      = "ca.key"
)

// servingName is the DNS name proxies check on the control plane's serving
// certificate (controlplane.Default's ServingDNSNames).
const servingName = "weft-controlplane.weft-system.svc"

func clientNamespace(c, n int) string { return fmt.Sprintf("clients-%d", c%n) }

// kubeNodeID is proxy c's node ID as a Pod: <pod>.<namespace>.
func kubeNodeID(c, n int) string {
	return meshid.NodeID(fmt.Sprintf("client-%d", c), clientNamespace(c, n))
}

// kubeIdentity is proxy c's SPIFFE ID as a Pod of service account client.
func kubeIdentity(td spiffeid.TrustDomain, c, n int) spiffeid.ID {
	return spiffeid.RequireFromPathf(td, "/ns/%s/sa/client", clientNamespace(c, n))
}

// newRootPKI makes the run's CA a Weft root of the trust domain (the
// control plane refuses a root that does not name it) and writes it where
// the kube child finds it.
func newRootPKI(td spiffeid.TrustDomain, dir string) (*pki, error) {
	cert, signer, err := ca.GenerateRoot(td, time.Now())
	if err != nil {
		return nil, err
	}
	key, ok := signer.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the root's key is a %T, want ECDSA", signer)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the root key: %w", err)
	}
	files := map[string][]byte{
		caCertFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		caKeyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return &pki{cert: cert, key: key, serial: 1}, nil
}

// writeKubeconfig writes rc as a kubeconfig file for the child.
func writeKubeconfig(rc *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthorityData: rc.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: rc.CertData, ClientKeyData: rc.KeyData, Token: rc.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("writing the kubeconfig: %w", err)
	}
	return nil
}

// fastClient is a clientset for creating the mesh: client-go's default
// 5 QPS would take an hour over 23,000 writes.
func fastClient(rc *rest.Config) (kubernetes.Interface, error) {
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = 5000, 10000
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return cs, nil
}

// parallel calls f(0…n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				if err := f(ctx, i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					cancel()
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

const setupWorkers = 48

// createKubeMesh creates the mesh of cfg in the API server.
func createKubeMesh(ctx context.Context, cs kubernetes.Interface, cfg Config, mesh *Mesh) error {
	n := cfg.Namespaces
	var nss []string
	for i := range n {
		nss = append(nss, namespace(i, n), clientNamespace(i, n))
	}
	nss = append(nss, "weft-system")
	if err := parallel(ctx, len(nss), setupWorkers, func(ctx context.Context, i int) error {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nss[i]}}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("creating namespace %s: %w", nss[i], err)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := parallel(ctx, cfg.Services, setupWorkers, func(ctx context.Context, s int) error {
		return createService(ctx, cs, mesh, s)
	}); err != nil {
		return err
	}
	eps := cfg.Services * cfg.EndpointsPerService
	if err := parallel(ctx, eps+cfg.Clients, setupWorkers, func(ctx context.Context, i int) error {
		if i < eps {
			s, k := i/cfg.EndpointsPerService, i%cfg.EndpointsPerService
			key := mesh.service(s)
			addr := mesh.slices(s, 0)[k].Address
			return runPod(ctx, cs, podSpec(key.Namespace, fmt.Sprintf("ep-%d-%d", s, k), key.Name, map[string]string{"app": key.Name}), addr)
		}
		c := i - eps
		var deps []string
		for _, s := range mesh.Services(c) {
			key := mesh.service(s)
			deps = append(deps, key.Namespace+"/"+key.Name)
		}
		pod := podSpec(clientNamespace(c, n), fmt.Sprintf("client-%d", c), "client", map[string]string{"app": "client"})
		pod.Annotations = map[string]string{kube.DependenciesAnnotation: strings.Join(deps, ",")}
		return runPod(ctx, cs, pod, netip.AddrFrom4([4]byte{10, 128 + byte(c>>16&0x3f), byte(c >> 8 & 0xff), byte(c & 0xff)}))
	}); err != nil {
		return err
	}
	return parallel(ctx, cfg.Services, setupWorkers, func(ctx context.Context, s int) error {
		_, err := cs.DiscoveryV1().EndpointSlices(mesh.service(s).Namespace).Create(ctx, endpointSlice(mesh, s, 0), metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("creating the EndpointSlice of service %d: %w", s, err)
		}
		return nil
	})
}

func createService(ctx context.Context, cs kubernetes.Interface, mesh *Mesh, s int) error {
	key := mesh.service(s)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  map[string]string{"app": key.Name},
			Ports:     []corev1.ServicePort{{Name: "tcp", Port: servicePort, TargetPort: intstr.FromInt32(servicePort), AppProtocol: ptr("tcp")}},
		},
	}
	if _, err := cs.CoreV1().Services(key.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating service %s: %w", key.Name, err)
	}
	return nil
}

// podSpec is an injected Pod: an app container and the weft-proxy sidecar.
func podSpec(ns, name, sa string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			Containers: []corev1.Container{
				{Name: "app", Image: "example.com/app", Ports: []corev1.ContainerPort{{Name: "tcp", ContainerPort: servicePort}}},
				{Name: kube.ProxyContainer, Image: "example.com/weft-proxy"},
			},
		},
	}
}

// runPod creates pod and gives it addr and the Running phase through the
// status subresource, as the kubelet would.
func runPod(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, addr netip.Addr) error {
	created, err := cs.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	ip := addr.String()
	created.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	if _, err := cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("setting the status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// endpointSlice is service s's slice after change (0: none), holding the
// same endpoints as Mesh.slices.
func endpointSlice(mesh *Mesh, s, change int) *discoveryv1.EndpointSlice {
	key := mesh.service(s)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: key.Namespace, Name: key.Name + "-bench",
			Labels: map[string]string{discoveryv1.LabelServiceName: key.Name},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("tcp"), Port: ptr(int32(servicePort)), Protocol: ptr(corev1.ProtocolTCP)}},
	}
	for _, e := range mesh.slices(s, change) {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{e.Address.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: e.Pod.Namespace, Name: e.Pod.Name},
		})
	}
	return slice
}

func ptr[T any](v T) *T { return &v }
