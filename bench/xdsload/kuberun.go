package xdsload

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/weftmesh/weft/controlplane/kube/kubetest"
	"github.com/weftmesh/weft/controlplane/model"
)

// KubeResult is one variant's figures with the kube source.
type KubeResult struct {
	Result
	// Writes are the durations of the EndpointSlice updates (the API
	// server's round trip), per change.
	Writes []time.Duration
}

// KubeChildArgs are the arguments that make exe the kube source's server,
// reading dir.
func KubeChildArgs(dir string) []string {
	return []string{"xds-server", "--source", SourceKube, "--dir", dir}
}

// RunKube is the benchmark through Kubernetes: it starts a real
// kube-apiserver and etcd (envtest, from KUBEBUILDER_ASSETS), creates the
// mesh of cfg as Namespaces, Services, Pods and EndpointSlices, then per
// variant runs the control plane in Kubernetes mode as exe's child
// (KubeChildArgs), connects the proxies as Pods and times each change
// from the start of its EndpointSlice update to the last affected proxy's
// ACK. It prints a table on cfg.Out.
func RunKube(ctx context.Context, cfg Config, exe string) ([]KubeResult, error) {
	// A Pod's scope is its whole namespace: the endpoint Pods see every
	// Service of theirs. Namespaces of ServicesPerClient Services each give
	// them the scope the proxies have (--namespaces is not used).
	cfg.Namespaces = min(250, max(1, cfg.Services/cfg.ServicesPerClient))
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "weft-bench-xds-kube-")
	if err != nil {
		return nil, fmt.Errorf("creating a working directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	td := spiffeid.RequireTrustDomainFromString(model.DefaultTrustDomain)
	p, err := newRootPKI(td, dir)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	env, err := kubetest.Start(kubetest.Options{})
	if err != nil {
		return nil, err
	}
	defer func() { _ = env.Stop() }()
	envStart := time.Since(start)
	if err := writeKubeconfig(env.Config, filepath.Join(dir, kubeconfigFile)); err != nil {
		return nil, err
	}
	cs, err := fastClient(env.Config)
	if err != nil {
		return nil, err
	}
	mesh := NewMesh(cfg)
	start = time.Now()
	if err := createKubeMesh(ctx, cs, cfg, mesh); err != nil {
		return nil, err
	}
	setup := time.Since(start)
	certs := map[int]tls.Certificate{}
	for c := range min(cfg.Clients, cfg.Namespaces) {
		if certs[c], err = p.issue(kubeIdentity(td, c, cfg.Namespaces).String()); err != nil {
			return nil, err
		}
	}
	var results []KubeResult
	for n, v := range cfg.Variants {
		// Each variant moves its own markers: change numbers continue
		// from the last variant's, so no write repeats a slice's content.
		r, err := runKubeVariant(ctx, cfg, exe, dir, v, n*cfg.Changes, mesh, cs, p, certs)
		if err != nil {
			return results, fmt.Errorf("%s: %w", v, err)
		}
		results = append(results, r)
	}
	printKubeResults(cfg, envStart, setup, results)
	return results, nil
}

func runKubeVariant(ctx context.Context, cfg Config, exe, dir, variant string, offset int, mesh *Mesh, cs kubernetes.Interface, p *pki, certs map[int]tls.Certificate) (KubeResult, error) {
	res := KubeResult{Result: Result{Variant: variant}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, addr, err := startChild(ctx, exe, KubeChildArgs(dir), cfg.ServerMemoryLimit)
	if err != nil {
		return res, err
	}
	defer ch.stop()
	before, err := ch.stats()
	if err != nil {
		return res, err
	}

	board := newBoard()
	start := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for c := range cfg.Clients {
		creds := credentials.NewTLS(&tls.Config{
			MinVersion: tls.VersionTLS13, RootCAs: p.pool(), ServerName: servingName,
			Certificates: []tls.Certificate{certs[c%cfg.Namespaces]},
		})
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			return res, fmt.Errorf("client %d: %w", c, err)
		}
		px := &proxy{node: kubeNodeID(c, cfg.Namespaces), id: c, board: board}
		for _, s := range mesh.Services(c) {
			px.clusters = append(px.clusters, mesh.ClusterName(s))
		}
		wg.Go(func() {
			defer func() { _ = conn.Close() }()
			err := px.follow(ctx, conn, variant)
			if ctx.Err() == nil {
				board.fail(fmt.Errorf("proxy %s: %w", px.node, err))
			}
		})
	}
	if err := board.waitReady(ctx, cfg.Clients, cfg.Timeout); err != nil {
		return res, err
	}
	res.Connect = time.Since(start)
	connected, err := ch.stats()
	if err != nil {
		return res, err
	}

	if cfg.ProfileDir != "" {
		if _, err := ch.ask("cpu "+filepath.Join(cfg.ProfileDir, "xds-kube-cpu-"+variant+".pprof"), "cpu"); err != nil {
			return res, err
		}
	}
	callers := map[int][]int{}
	for i := offset + 1; i <= offset+cfg.Changes; i++ {
		s := mesh.ChangedService(i)
		if _, ok := callers[s]; !ok {
			callers[s] = mesh.Callers(s)
		}
		want := endpointSlice(mesh, s, i)
		slices := cs.DiscoveryV1().EndpointSlices(want.Namespace)
		cur, err := slices.Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			return res, fmt.Errorf("change %d: %w", i, err)
		}
		cur.Endpoints = want.Endpoints
		// Let the last change's pushes settle so changes do not overlap.
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		if _, err := slices.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return res, fmt.Errorf("change %d: %w", i, err)
		}
		res.Writes = append(res.Writes, time.Since(start))
		last, err := board.waitChange(ctx, i, callers[s], cfg.Timeout)
		if err != nil {
			return res, err
		}
		res.Latencies = append(res.Latencies, last.Sub(start))
		res.Affected = len(callers[s])
	}
	after, err := ch.stats()
	if err != nil {
		return res, err
	}
	if cfg.ProfileDir != "" {
		if _, err := ch.ask("cpustop", "cpustop"); err != nil {
			return res, err
		}
		if _, err := ch.ask("heap "+filepath.Join(cfg.ProfileDir, "xds-kube-heap-"+variant+".pprof"), "heap"); err != nil {
			return res, err
		}
	}
	res.CPUConnect = parseFloat(connected[0]) - parseFloat(before[0])
	res.CPUChanges = parseFloat(after[0]) - parseFloat(connected[0])
	res.HeapBytes = parseInt(after[1])
	res.RSSBytes = parseInt(after[2])
	res.PeakRSSBytes = parseInt(after[3])
	res.StackBytes = parseInt(after[4])
	return res, nil
}

func printKubeResults(cfg Config, envStart, setup time.Duration, rs []KubeResult) {
	w := cfg.Out
	fmt.Fprintf(w, "xDS at scale through Kubernetes: %d proxy Pods, %d Services × %d endpoint Pods (all injected) in %d namespaces, %d Services per Pod, %d changes; "+
		"envtest kube-apiserver and etcd (started in %s, mesh created in %s), control plane in Kubernetes mode in its own process, TLS on loopback\n\n",
		cfg.Clients, cfg.Services, cfg.EndpointsPerService, 2*cfg.Namespaces, cfg.ServicesPerClient, cfg.Changes, envStart.Round(100*time.Millisecond), setup.Round(100*time.Millisecond))
	if cfg.ServerMemoryLimit != "" {
		fmt.Fprintf(w, "Control plane run with GOMEMLIMIT=%s.\n\n", cfg.ServerMemoryLimit)
	}
	base := make([]Result, len(rs))
	steps := make([][]time.Duration, len(rs))
	for i, r := range rs {
		base[i], steps[i] = r.Result, r.Writes
	}
	printTable(w, "EndpointSlice write → last ACK", "API write", base, steps)
}
