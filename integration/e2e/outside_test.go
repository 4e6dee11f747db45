//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	corev1 "k8s.io/api/core/v1"

	"github.com/weftmesh/weft/integration/cluster"
)

// TestNodePortFromOutside: a meshed server published as a NodePort
// Service answers the external client at the node's address; kube-proxy
// DNATs the connection to the pod, whose sidecar accepts it in plaintext
// under the default PERMISSIVE mode.
func TestNodePortFromOutside(t *testing.T) {
	requireCluster(t)
	namespace(t, "e2e-nodeport", true)
	appDeployment(t, "e2e-nodeport", "server", "server", 1)
	var svc corev1.Service
	if err := env.client.Get(t.Context(), key("e2e-nodeport", "server"), &svc); err != nil {
		t.Fatal(err)
	}
	svc.Spec.Type = corev1.ServiceTypeNodePort
	if err := env.client.Update(t.Context(), &svc); err != nil {
		t.Fatalf("making the Service a NodePort: %v", err)
	}
	port := svc.Spec.Ports[0].NodePort
	if port == 0 {
		t.Fatalf("the Service got no node port: %+v", svc.Spec.Ports)
	}
	addr := fmt.Sprintf("%s:%d", cluster.NodeIP, port)
	c := outsideClient(t, nil, addr)
	waitFor(t, time.Minute, "an answer at "+addr+" from the external client", func() (bool, string) {
		resp, err := c.Get("http://" + addr + "/from-outside")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"hostname": "server"`),
			fmt.Sprintf("%d %s", resp.StatusCode, body)
	})
}

// TestEgressOutsideTheMesh: a meshed pod's connection to a server outside
// the mesh (in the external client's network namespace) is passed through
// under the default ALLOW_ANY outbound traffic policy, and closed once
// Weft is upgraded to REGISTRY_ONLY; the default comes back at the end.
func TestEgressOutsideTheMesh(t *testing.T) {
	requireCluster(t)
	namespace(t, "e2e-egress", true)
	url, arrived := outsideServer(t, 8081)

	out := runJob(t, "e2e-egress", "passthrough", "client", "get", url+"/egress")
	if !strings.Contains(out, "outside") {
		t.Errorf("GET %s from a meshed pod under ALLOW_ANY answered:\n%s", url, out)
	}
	select {
	case peer := <-arrived:
		t.Logf("the outside server saw the pod's request from %s", peer)
	default:
		t.Errorf("the outside server never saw the request")
	}

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		defer cancel()
		if err := installWeft(ctx, env.cluster.Kubeconfig()); err != nil {
			t.Errorf("restoring ALLOW_ANY: %v", err)
		}
	})
	if err := installWeft(t.Context(), env.cluster.Kubeconfig(), "controlPlane.outboundTrafficPolicy=REGISTRY_ONLY"); err != nil {
		t.Fatalf("upgrading to REGISTRY_ONLY: %v", err)
	}
	// The upgrade rolls the control plane over: a pod may still get the
	// old config for a moment. Once one connection is closed, the next
	// pod's must be too, and neither may reach the server.
	waitFor(t, 2*time.Minute, "REGISTRY_ONLY to close the connection", func() (bool, string) {
		drain(arrived)
		logs, ok := runJobResult(t, "e2e-egress", fmt.Sprintf("registry-only-%d", time.Now().UnixNano()%1e6), "client", "get", url+"/egress")
		return !ok, logs
	})
	notArrived := func(when string) {
		select {
		case peer := <-arrived:
			t.Errorf("%s the outside server got a request from %s under REGISTRY_ONLY", when, peer)
		default:
		}
	}
	notArrived("although the pod's GET failed,")
	if logs, ok := runJobResult(t, "e2e-egress", "registry-only-again", "client", "get", url+"/egress"); ok {
		t.Errorf("REGISTRY_ONLY closed one connection, then let the next pod's through:\n%s", logs)
	}
	notArrived("on the next pod's GET")
}

// outsideServer serves HTTP on the external client's address and port in
// its network namespace until the test ends; the channel gets the peer of
// every request.
func outsideServer(t *testing.T, port int) (url string, arrived chan string) {
	t.Helper()
	netns, err := ns.GetNS(filepath.Join("/var/run/netns", env.cluster.ClientNetns()))
	if err != nil {
		t.Fatalf("the client network namespace: %v", err)
	}
	defer netns.Close()
	addr := fmt.Sprintf("%s:%d", clientAddress, port)
	var ln net.Listener
	// A socket belongs to the namespace it was made in, whichever thread
	// serves it later.
	if err := netns.Do(func(ns.NetNS) error {
		var lc net.ListenConfig
		ln, err = lc.Listen(t.Context(), "tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listening on %s in the client namespace: %v", addr, err)
	}
	arrived = make(chan string, 100)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- r.RemoteAddr:
		default:
		}
		_, _ = io.WriteString(w, "outside\n")
	})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("the outside server: %v", err)
		}
	})
	return "http://" + addr, arrived
}

func drain(c chan string) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}
