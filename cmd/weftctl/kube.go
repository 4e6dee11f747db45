package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// Ports of a sidecar that weftctl reads (DESIGN.md).
const (
	proxyAdminPort  = 15000 // /config_dump, /metrics: loopback only, reached by port-forward
	proxyStatusPort = 15020 // /ready, /metrics
)

// kubeFlags are the flags of commands that talk to a cluster, as kubectl
// spells them.
type kubeFlags struct {
	kubeconfig string
	context    string
	namespace  string
}

func (k *kubeFlags) register(f *pflag.FlagSet) {
	f.StringVar(&k.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&k.context, "context", "", "kubeconfig context (default: the current one)")
	f.StringVarP(&k.namespace, "namespace", "n", "", "namespace (default: the context's, else default)")
}

// restConfig is the cluster the flags name, and the namespace to use.
func (k *kubeFlags) restConfig() (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	ns := k.namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil {
			return nil, "", fmt.Errorf("kubeconfig: %w", err)
		}
	}
	return cfg, ns, nil
}

// proxyTarget is one sidecar to read from: a pod, reached through a
// port-forward by the API server (as kubectl port-forward does), or, with
// URL set, an admin address reached directly (tests, or a port-forward the
// user made: --admin-url http://127.0.0.1:15000).
type proxyTarget struct {
	Namespace, Pod string
	URL            string
}

// proxyGet fetches path (e.g. "/config_dump", "/metrics") from the admin
// port of the target's sidecar.
func proxyGet(ctx context.Context, cfg *rest.Config, target proxyTarget, path string) ([]byte, error) {
	base := target.URL
	if base == "" {
		addr, stop, err := portForward(ctx, cfg, target.Namespace, target.Pod, proxyAdminPort)
		if err != nil {
			return nil, err
		}
		defer stop()
		base = "http://" + addr
	}
	u, err := url.JoinPath(base, path)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("proxy admin: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("proxy admin %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("proxy admin %s: %s: %s", path, resp.Status, body)
	}
	return body, nil
}

// portForward forwards a local loopback port to port of pod, through the
// API server and the pod's kubelet; stop ends it.
func portForward(ctx context.Context, cfg *rest.Config, namespace, pod string, port int) (addr string, stop func(), err error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", nil, err
	}
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return "", nil, err
	}
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("portforward")
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, req.URL())
	stopCh, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(port)}, stopCh, ready, io.Discard, io.Discard)
	if err != nil {
		return "", nil, err
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		return "", nil, fmt.Errorf("port-forward to %s/%s:%d: %w", namespace, pod, port, err)
	case <-ctx.Done():
		close(stopCh)
		return "", nil, ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		close(stopCh)
		return "", nil, fmt.Errorf("port-forward to %s/%s:%d: no local port", namespace, pod, port)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local))), func() { close(stopCh) }, nil
}
