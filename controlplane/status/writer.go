package status

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
	"github.com/weftmesh/weft/gateway"
)

// Defaults of Config.
const (
	DefaultLeaseNamespace = "weft-system"
	DefaultLeaseName      = "weft-controlplane-status"
	DefaultFieldManager   = "weft-controlplane"
	// The lease timings of controller-runtime's leader election.
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
	DefaultResync        = 5 * time.Minute
)

// Config configures a Writer.
type Config struct {
	// Client reads (Get) and writes (Status().Update) the policies,
	// routes, Gateways and GatewayClasses, lists GatewayClasses, and reads
	// each Gateway's Service and parameters ConfigMap; its scheme must
	// know api/v1alpha1 and Gateway API v1. A
	// manager's cache-backed client is fine: a stale read ends in a
	// conflict, and the Writer retries.
	Client client.Client
	// RESTConfig reaches the API server for the Lease.
	RESTConfig *rest.Config
	// HTTPClient, when not nil, carries the Lease requests (and is the
	// caller's to close); nil makes one from RESTConfig.
	HTTPClient *http.Client
	// Identity names this replica in the Lease (the Pod's name); required,
	// and unique among replicas.
	Identity string
	// LeaseNamespace and LeaseName name the Lease; empty means
	// DefaultLeaseNamespace and DefaultLeaseName.
	LeaseNamespace, LeaseName string
	// FieldManager is the manager of the status fields the Writer writes;
	// empty means DefaultFieldManager.
	FieldManager string
	// LeaseDuration, RenewDeadline and RetryPeriod are client-go's leader
	// election timings; zero means the Default ones.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Resync is how often the leader writes the latest mesh's status
	// again, even when no new mesh came; zero means DefaultResync.
	Resync time.Duration
	// Logger receives the Writer's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports the first missing or inconsistent field of a Config
// that Default has filled in.
func (c *Config) Validate() error {
	switch {
	case c.Client == nil:
		return errors.New("status writer: Client is required")
	case c.RESTConfig == nil:
		return errors.New("status writer: RESTConfig is required")
	case c.Identity == "":
		return errors.New("status writer: Identity (this replica's name in the Lease) is required")
	case c.LeaseDuration <= c.RenewDeadline:
		return fmt.Errorf("status writer: LeaseDuration %v must be longer than RenewDeadline %v", c.LeaseDuration, c.RenewDeadline)
	case float64(c.RenewDeadline) <= 1.2*float64(c.RetryPeriod):
		return fmt.Errorf("status writer: RenewDeadline %v must be longer than 1.2 × RetryPeriod %v", c.RenewDeadline, c.RetryPeriod)
	case c.RetryPeriod <= 0:
		return fmt.Errorf("status writer: RetryPeriod %v must be positive", c.RetryPeriod)
	case c.Resync <= 0:
		return fmt.Errorf("status writer: Resync %v must be positive", c.Resync)
	}
	return nil
}

// Default fills in the fields left empty with their defaults.
func (c *Config) Default() {
	set := func(s *string, def string) {
		if *s == "" {
			*s = def
		}
	}
	set(&c.LeaseNamespace, DefaultLeaseNamespace)
	set(&c.LeaseName, DefaultLeaseName)
	set(&c.FieldManager, DefaultFieldManager)
	setDuration := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	setDuration(&c.LeaseDuration, DefaultLeaseDuration)
	setDuration(&c.RenewDeadline, DefaultRenewDeadline)
	setDuration(&c.RetryPeriod, DefaultRetryPeriod)
	setDuration(&c.Resync, DefaultResync)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Writer writes the status of the mesh's policies and routes while this
// replica holds the Lease. Make one with New, run it with Start, and feed
// it every new mesh with Update.
type Writer struct {
	cfg Config

	mu     sync.Mutex
	latest *snapshot
	wake   chan struct{} // a new snapshot; capacity 1

	started atomic.Bool
	leader  atomic.Bool
	// httpClient is Start's, for watchGateways.
	httpClient *http.Client
}

// snapshot is one mesh and its Problems.
type snapshot struct {
	mesh     *model.Mesh
	problems []translate.Problem
}

// New returns a Writer; it does no I/O.
func New(cfg Config) (*Writer, error) {
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Writer{cfg: cfg, wake: make(chan struct{}, 1)}, nil
}

// Update hands the Writer a new mesh and the Problems translate.Check
// found in it. It does not block: the Writer writes the latest mesh it was
// given when it leads, skipping those that came in between. Both stay the
// caller's and must not be changed afterwards (a Mesh never is).
//
// The mesh's policies and routes must carry the metadata the API server
// gave them (uid, generation; status and resourceVersion may be
// stripped): conditions are written for that generation, and an object
// that was recreated or whose stored generation is newer is left for the
// next mesh. Problems about objects the mesh does not hold are ignored.
func (w *Writer) Update(mesh *model.Mesh, problems []translate.Problem) {
	w.mu.Lock()
	w.latest = &snapshot{mesh: mesh, problems: problems}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// IsLeader reports whether this replica writes status now.
func (w *Writer) IsLeader() bool { return w.leader.Load() }

// NeedLeaderElection tells a controller-runtime manager to start the
// Writer on every replica: it runs its own election, so that losing it
// stops the writes and not the replica, which keeps serving xDS.
func (w *Writer) NeedLeaderElection() bool { return false }

func (w *Writer) current() *snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.latest
}

// lead writes status until ctx ends: the latest mesh at once, then each
// new one, and the latest again every Resync (a status changed by someone
// else, or written by the previous leader for another mesh, does not make
// a new mesh). Failed writes are retried with a growing delay; writes that
// lost a race with another writer (a conflict: the object changed since it
// was read, or a cache was behind) are retried soon, without a warning.
func (w *Writer) lead(ctx context.Context) {
	const (
		minRetry = 500 * time.Millisecond
		maxRetry = 30 * time.Second
	)
	retry := minRetry
	var timer <-chan time.Time
	resync := time.NewTicker(w.cfg.Resync)
	defer resync.Stop()
	written := map[objectKey]string{} // see write
	defer w.watchGateways(ctx, w.httpClient)()
	for {
		if snap := w.current(); snap != nil {
			conflicts, err := w.sync(ctx, snap, written)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				w.cfg.Logger.WarnContext(ctx, "status not written; retrying", "error", err, "retryIn", retry)
				timer = time.After(retry)
				retry = min(2*retry, maxRetry)
			case conflicts > 0:
				w.cfg.Logger.DebugContext(ctx, "status writes conflicted; retrying", "conflicts", conflicts)
				timer, retry = time.After(minRetry), minRetry
			default:
				timer, retry = nil, minRetry
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-timer:
		case <-resync.C:
		}
	}
}

// sync writes the status of every policy and route of snap that differs
// from the computed one. It returns how many writes conflicted, and the
// other errors.
func (w *Writer) sync(ctx context.Context, snap *snapshot, written map[objectKey]string) (int, error) {
	byObject := map[objectKey][]translate.Problem{}
	for _, p := range snap.problems {
		k := objectKey{p.Kind, p.Namespace, p.Name}
		byObject[k] = append(byObject[k], p)
	}
	now := metav1.NewTime(time.Now())
	var errs []error
	conflicts := 0
	res := gateway.Resolve(snap.mesh)
	ts := targets(snap.mesh, byObject, res)
	ingress, err := w.ingressTargets(ctx, snap.mesh, res)
	if err != nil {
		errs = append(errs, err)
	}
	ts = append(ts, ingress...)
	keep := make(map[objectKey]bool, len(ts))
	for _, t := range ts {
		keep[objectKey{t.kind, t.obj.GetNamespace(), t.obj.GetName()}] = true
		err := w.write(ctx, t, written, now)
		switch {
		case apierrors.IsConflict(err):
			conflicts++
		case err != nil:
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	maps.DeleteFunc(written, func(k objectKey, _ string) bool { return !keep[k] })
	return conflicts, errors.Join(errs...)
}

// write updates the status of one object when t.apply changes it, on a
// copy read from Client (and so, with a cache-backed client, maybe older
// than the Writer's own last write of it). written holds the
// resourceVersion each object had after the Writer last wrote it: a read
// that shows nothing to change is trusted only when it is at least that
// write (or there was none); otherwise the Writer writes anyway, which the
// API server either refuses as a conflict (the read was stale: retried
// later) or takes as a no-op (it was newer).
func (w *Writer) write(ctx context.Context, t target, written map[objectKey]string, now metav1.Time) error {
	key := objectKey{t.kind, t.obj.GetNamespace(), t.obj.GetName()}
	fresh := t.empty()
	if err := w.cfg.Client.Get(ctx, client.ObjectKeyFromObject(t.obj), fresh); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // deleted; the next mesh drops it
		}
		return fmt.Errorf("get %s %s/%s: %w", t.kind, key.namespace, key.name, err)
	}
	if uid := t.obj.GetUID(); (uid != "" && fresh.GetUID() != uid) || fresh.GetGeneration() > t.obj.GetGeneration() {
		return nil // recreated or changed since the mesh was built: a newer mesh is coming
	}
	if !t.apply(fresh, now) {
		if rv, ok := written[key]; !ok || rv == fresh.GetResourceVersion() {
			return nil
		}
	}
	if err := w.cfg.Client.Status().Update(ctx, fresh, client.FieldOwner(w.cfg.FieldManager)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("update status of %s %s/%s: %w", t.kind, key.namespace, key.name, err)
	}
	written[key] = fresh.GetResourceVersion()
	w.cfg.Logger.DebugContext(ctx, "status written", "kind", t.kind, "namespace", key.namespace, "name", key.name)
	return nil
}
