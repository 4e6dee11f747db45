package status

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// errStarted is returned by a second Start.
var errStarted = errors.New("status writer already started")

// Start campaigns for the Lease and writes status while it holds it,
// until ctx ends; then it stops writing, releases the Lease (so that
// another replica takes over at once) and returns nil, once every
// goroutine it started has returned (client-go's callback goroutine
// returns as soon as the election ends). Losing the Lease stops the writes
// and starts a new campaign. It implements controller-runtime's
// manager.Runnable.
func (w *Writer) Start(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errStarted
	}
	httpClient := w.cfg.HTTPClient
	if httpClient == nil {
		hc, err := rest.HTTPClientFor(w.cfg.RESTConfig)
		if err != nil {
			return fmt.Errorf("status writer: HTTP client for the Lease: %w", err)
		}
		httpClient = hc
		defer hc.CloseIdleConnections()
	}
	w.httpClient = httpClient
	leases, err := w.leaseClient(httpClient)
	if err != nil {
		return err
	}
	// client-go's leader election logs through klog's contextual logger;
	// its verbose levels are left out.
	ctx = klog.NewContext(ctx, logr.FromSlogHandler(infoAndAbove{w.cfg.Logger.Handler()}))
	for ctx.Err() == nil {
		if err := w.campaign(ctx, leases); err != nil {
			return err
		}
	}
	return nil
}

// leaseClient returns a client for Leases whose requests time out before
// the renew deadline, as client-go's NewFromKubeconfig sets it.
func (w *Writer) leaseClient(httpClient *http.Client) (coordinationv1client.LeasesGetter, error) {
	cfg := rest.CopyConfig(w.cfg.RESTConfig)
	cfg.Timeout = max(w.cfg.RenewDeadline/2, time.Second)
	cfg = rest.AddUserAgent(cfg, "weft-status-leader-election")
	c, err := coordinationv1client.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("status writer: Lease client: %w", err)
	}
	return c, nil
}

// campaign runs one leader election: it waits for the Lease, writes status
// while it holds it, and returns when it lost it or ctx ended (after
// releasing it). The writes stop before the Lease is released, so that two
// replicas never write at once.
func (w *Writer) campaign(ctx context.Context, leases coordinationv1client.LeasesGetter) error {
	// The election's own context ends only once the writes have stopped.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	leading := make(chan context.Context)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: w.cfg.LeaseNamespace, Name: w.cfg.LeaseName},
			Client:     leases,
			LockConfig: resourcelock.ResourceLockConfig{Identity: w.cfg.Identity},
		},
		LeaseDuration:   w.cfg.LeaseDuration,
		RenewDeadline:   w.cfg.RenewDeadline,
		RetryPeriod:     w.cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            w.cfg.LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			// client-go runs this in a goroutine of its own: hand the
			// leadership over to campaign, or give up when it is lost.
			OnStartedLeading: func(leadCtx context.Context) {
				select {
				case leading <- leadCtx:
				case <-leadCtx.Done():
				}
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return fmt.Errorf("status writer: leader election: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		le.Run(runCtx)
	}()
	defer func() { stopRun(); <-done }()

	select {
	case <-ctx.Done():
		return nil
	case <-done:
		return nil // the Lease was won and lost before the hand-over
	case leadCtx := <-leading:
		w.cfg.Logger.InfoContext(ctx, "status writer is leader", "identity", w.cfg.Identity, "lease", w.cfg.LeaseNamespace+"/"+w.cfg.LeaseName)
		// Writes stop when the lease is lost (leadCtx) or ctx ends.
		writeCtx, stopWrites := context.WithCancel(ctx)
		stop := context.AfterFunc(leadCtx, stopWrites) //nolint:contextcheck // leadCtx only stops the writes
		w.leader.Store(true)
		w.lead(writeCtx)
		w.leader.Store(false)
		stop()
		stopWrites()
		if ctx.Err() == nil {
			w.cfg.Logger.WarnContext(ctx, "status writer lost the lease; campaigning again", "identity", w.cfg.Identity)
		}
		return nil
	}
}

// infoAndAbove drops a handler's records below Info: client-go's verbose
// leader-election logs, which retry every RetryPeriod.
type infoAndAbove struct{ slog.Handler }

func (h infoAndAbove) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo && h.Handler.Enabled(ctx, l)
}

func (h infoAndAbove) WithAttrs(attrs []slog.Attr) slog.Handler {
	return infoAndAbove{h.Handler.WithAttrs(attrs)}
}

func (h infoAndAbove) WithGroup(name string) slog.Handler {
	return infoAndAbove{h.Handler.WithGroup(name)}
}
