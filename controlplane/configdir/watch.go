package configdir

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/model"
)

const (
	// debounce is how long the directory must be quiet before a reload, so
	// that a burst of writes (an editor saving, a ConfigMap update) loads
	// once, whole.
	debounce = 100 * time.Millisecond
	// maxDelay bounds how long a stream of events can hold a reload off.
	maxDelay = time.Second
)

// Watcher loads a configuration directory and reloads it when it changes,
// handing on each new valid mesh.
type Watcher struct {
	dir          string
	td           spiffeid.TrustDomain
	log          *slog.Logger
	reloadErrors atomic.Uint64
}

// NewWatcher returns a Watcher of dir; it does no I/O until Run. A nil log
// discards log records.
func NewWatcher(dir string, td spiffeid.TrustDomain, log *slog.Logger) *Watcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{dir: dir, td: td, log: log.With("dir", dir)}
}

// ReloadErrors counts the loads, the first one included, that failed and
// left the previous mesh in force.
func (w *Watcher) ReloadErrors() uint64 { return w.reloadErrors.Load() }

// Run loads the directory, then watches it until ctx is done. It calls
// onChange from Run's goroutine with every valid mesh that differs from the
// last one it was given, the first valid one included; onChange must not
// keep Run waiting long, and must not modify the mesh. An invalid directory
// is logged at warn level, one record per problem, and the last good mesh
// stays in force (none at all, until the directory first loads). Run fails
// if dir is not a directory or cannot be watched, and when dir itself is
// removed or renamed; it returns nil once ctx is done. It returns only after
// stopping everything it started.
func (w *Watcher) Run(ctx context.Context, onChange func(*model.Mesh)) error {
	info, err := os.Stat(w.dir)
	if err != nil {
		return fmt.Errorf("watch mesh config: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("watch mesh config: %s is not a directory", w.dir)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch mesh config: %w", err)
	}
	defer fw.Close()
	// Watch before the first load, so that no change between the two is lost.
	if err := fw.Add(w.dir); err != nil {
		return fmt.Errorf("watch mesh config: %w", err)
	}

	var last *model.Mesh
	reload := func() {
		if m := w.load(); m != nil && (last == nil || !reflect.DeepEqual(*last, *m)) {
			last = m
			p := &m.Policies
			w.log.Info("Mesh config loaded", "services", len(m.Services), "workloads", len(m.Workloads),
				"peerAuthentications", len(p.PeerAuthentications), "authorizationPolicies", len(p.AuthorizationPolicies),
				"trafficPolicies", len(p.TrafficPolicies), "httpRoutes", len(p.HTTPRoutes), "grpcRoutes", len(p.GRPCRoutes))
			onChange(m)
		}
	}
	reload()

	timer := time.NewTimer(debounce)
	timer.Stop()
	var pendingSince time.Time // zero when no reload is pending
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return errors.New("watch mesh config: watcher closed")
			}
			w.log.Debug("Mesh config directory changed", "event", ev.String())
			if filepath.Clean(ev.Name) == filepath.Clean(w.dir) && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				// The watch went with the directory: nothing more will be seen.
				return fmt.Errorf("watch mesh config: %s was removed or renamed", w.dir)
			}
			pendingSince = w.schedule(timer, pendingSince)
		case err, ok := <-fw.Errors:
			if !ok {
				return errors.New("watch mesh config: watcher closed")
			}
			// An overflow loses events; reloading catches up with them.
			w.log.Warn("Mesh config watch error", "error", err)
			pendingSince = w.schedule(timer, pendingSince)
		case <-timer.C:
			pendingSince = time.Time{}
			reload()
		}
	}
}

// schedule (re)arms the reload timer after an event: debounce from now,
// but no later than maxDelay after the first event still waiting.
func (w *Watcher) schedule(timer *time.Timer, pendingSince time.Time) time.Time {
	now := time.Now()
	if pendingSince.IsZero() {
		pendingSince = now
	}
	timer.Reset(min(debounce, max(0, pendingSince.Add(maxDelay).Sub(now))))
	return pendingSince
}

// load loads the directory, logging and counting a failure; it returns nil
// when the directory does not load.
func (w *Watcher) load() *model.Mesh {
	m, err := Load(w.dir, w.td)
	if err == nil {
		return m
	}
	w.reloadErrors.Add(1)
	var cfgErr *Error
	if !errors.As(err, &cfgErr) {
		w.log.Warn("Mesh config not loaded; keeping the last good one", "error", err)
		return nil
	}
	w.log.Warn("Mesh config rejected; keeping the last good one", "problems", len(cfgErr.Problems))
	for _, p := range cfgErr.Problems {
		w.log.Warn("Mesh config problem", "file", p.File, "line", p.Line, "field", p.Field, "reason", p.Reason)
	}
	return nil
}
