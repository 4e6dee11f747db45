package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weftmesh/weft/controlplane/model"
)

const (
	// debounce is how long the API server's events must pause before a
	// new mesh is built, so that a rollout's burst builds once.
	debounce = 100 * time.Millisecond
	// endpointDebounce replaces debounce while only EndpointSlices
	// changed: such a change costs a few milliseconds to build and
	// reaches only the proxies whose scope holds its Services, and its
	// latency is what a client waits for a new endpoint or for a dead
	// one to go (docs/performance.md).
	endpointDebounce = 20 * time.Millisecond
	// maxDelay bounds how long a stream of events can hold a build off.
	maxDelay = time.Second
)

// Watcher keeps informers on the API server and hands on a new mesh after
// every change that alters it.
type Watcher struct {
	cfg *rest.Config
	td  spiffeid.TrustDomain
	log *slog.Logger
}

// NewWatcher returns a Watcher of the API server cfg points at; it does no
// I/O until Run. A nil log discards log records.
func NewWatcher(cfg *rest.Config, td spiffeid.TrustDomain, log *slog.Logger) *Watcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{cfg: cfg, td: td, log: log}
}

// Run starts the informers, waits for their caches to fill, then calls
// onChange from Run's goroutine with the first mesh and with every later
// one that differs from the last it was given: 100 ms after the last of a
// burst of events (20 ms while only EndpointSlices changed), and at most
// 1 s after the first. Each mesh is built from the last (Index): what no
// event touched is reused, not converted or compared again. onChange must
// not keep Run waiting long, and must not modify the mesh. Kinds whose CRDs the
// cluster does not serve (Gateway API routes, Weft's policies) are logged
// once and left out. Run returns nil once ctx is done, an error when the
// informers cannot be set up, and only after stopping everything it
// started.
func (w *Watcher) Run(ctx context.Context, onChange func(*model.Mesh)) error {
	scheme, err := NewScheme()
	if err != nil {
		return err
	}
	httpClient, err := rest.HTTPClientFor(w.cfg)
	if err != nil {
		return fmt.Errorf("kubernetes informers: %w", err)
	}
	defer httpClient.CloseIdleConnections()
	c, err := cache.New(w.cfg, cache.Options{
		HTTPClient:       httpClient,
		Scheme:           scheme,
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			// Pods are most of a cluster's objects: keep only what Build reads.
			&corev1.Pod{}: {Transform: trimPod},
			// Only TLS Secrets can be a Gateway's certificates, and of
			// those only the certificate and key are kept.
			&corev1.Secret{}: {
				Field:     fields.OneTermEqualSelector("type", string(corev1.SecretTypeTLS)),
				Transform: trimSecret,
			},
		},
		// A kind without an informer (its CRD missing) lists as an error,
		// never by starting an informer behind the Watcher's back.
		ReaderFailOnMissingInformer: true,
	})
	if err != nil {
		return fmt.Errorf("kubernetes informers: %w", err)
	}
	events := make(chan struct{}, 1)
	poke := func() {
		select {
		case events <- struct{}{}:
		default:
		}
	}
	idx := NewIndex(w.td)
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, ok := obj.(client.Object); ok {
				idx.Set(o)
				poke()
			}
		},
		UpdateFunc: func(_, obj any) {
			if o, ok := obj.(client.Object); ok {
				idx.Set(o)
				poke()
			}
		},
		DeleteFunc: func(obj any) {
			if gone, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = gone.Obj
			}
			if o, ok := obj.(client.Object); ok {
				idx.Delete(o)
				poke()
			}
		},
	}
	var (
		watched []kind
		synced  []toolscache.InformerSynced
	)
	for _, k := range kinds() {
		inf, err := c.GetInformer(ctx, k.obj, cache.BlockUntilSynced(false))
		if k.crd && meta.IsNoMatchError(err) {
			w.log.WarnContext(ctx, "Kind not served by the API server; running without it", "kind", k.name, "error", err)
			continue
		}
		if err != nil {
			return fmt.Errorf("kubernetes informer for %s: %w", k.name, err)
		}
		reg, err := inf.AddEventHandler(handler)
		if err != nil {
			return fmt.Errorf("kubernetes informer for %s: %w", k.name, err)
		}
		watched = append(watched, k)
		synced = append(synced, reg.HasSynced)
	}

	ctx, cancel := context.WithCancel(ctx)
	var cacheErr error
	cacheDone := make(chan struct{})
	go func() {
		defer close(cacheDone)
		cacheErr = c.Start(ctx)
	}()
	// Stop the informers and wait for them on every way out.
	defer func() { cancel(); <-cacheDone }()
	if !c.WaitForCacheSync(ctx) {
		select {
		case <-cacheDone:
			if cacheErr != nil && ctx.Err() == nil {
				return fmt.Errorf("kubernetes informers: %w", cacheErr)
			}
		default:
		}
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("kubernetes informers: caches did not sync")
	}
	// The handlers have seen every object of the initial lists, too.
	if !toolscache.WaitForCacheSync(ctx.Done(), synced...) {
		return nil // only ctx ends the wait
	}
	w.log.InfoContext(ctx, "Kubernetes informers synced", "kinds", len(watched))

	var lastProblems []Problem
	rebuild := func() {
		m, problems, changed := idx.Build()
		if !slices.Equal(problems, lastProblems) {
			lastProblems = problems
			w.logProblems(ctx, problems)
		}
		if !changed {
			return
		}
		p := &m.Policies
		w.log.InfoContext(ctx, "Mesh built from Kubernetes", "services", len(m.Services), "workloads", len(m.Workloads),
			"peerAuthentications", len(p.PeerAuthentications), "authorizationPolicies", len(p.AuthorizationPolicies),
			"trafficPolicies", len(p.TrafficPolicies), "httpRoutes", len(p.HTTPRoutes), "grpcRoutes", len(p.GRPCRoutes),
			"gateways", len(m.Ingress.Gateways), "tlsSecrets", len(m.Ingress.Secrets))
		onChange(m)
	}
	// The events of the initial lists are in the first build.
	select {
	case <-events:
	default:
	}
	rebuild()

	timer := time.NewTimer(debounce)
	timer.Stop()
	var pendingSince time.Time // zero when no build is pending
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-cacheDone:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("kubernetes informers stopped: %w", cacheErr)
		case <-events:
			now := time.Now()
			if pendingSince.IsZero() {
				pendingSince = now
			}
			quiet := debounce
			if idx.Pending().EndpointsOnly() {
				quiet = endpointDebounce
			}
			timer.Reset(min(quiet, max(0, pendingSince.Add(maxDelay).Sub(now))))
		case <-timer.C:
			pendingSince = time.Time{}
			rebuild()
		}
	}
}

// logProblems logs what Build reported: what it left out at debug level
// (the API server accepted it; the mesh cannot use it), the rest at warn.
func (w *Watcher) logProblems(ctx context.Context, problems []Problem) {
	for _, p := range problems {
		level := slog.LevelWarn
		if p.Dropped {
			level = slog.LevelDebug
		}
		w.log.Log(ctx, level, "Kubernetes object not fully used", "kind", p.Kind, "namespace", p.Namespace, "name", p.Name, "reason", p.Reason)
	}
}
