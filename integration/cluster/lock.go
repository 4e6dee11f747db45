package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"
)

// runLock is an exclusive flock on <state dir>.lock, held from Up to Down
// (or through Clean), so that two runs sharing a state directory never
// clean up each other's processes: the second waits. The kernel drops it
// when the holder dies, so a crashed run never blocks the next.
type runLock struct {
	f    *os.File
	path string
}

func lockPath(stateDir string) string { return stateDir + ".lock" }

// acquireLock waits for the lock until ctx ends.
func acquireLock(ctx context.Context, stateDir string, log *slog.Logger) (*runLock, error) {
	path := lockPath(stateDir)
	logged := false
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lock: %w", err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil && sameFile(f, path) {
			return &runLock{f: f, path: path}, nil
		}
		_ = f.Close()
		if err != nil && !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !logged {
			log.Info("waiting for another e2e cluster with this state directory to go down", "lock", path)
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock %s: another run holds it: %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// sameFile reports whether path still names f (the previous holder may
// have removed it between our open and our flock).
func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// release removes the lock file, then unlocks it.
func (l *runLock) release() {
	if l == nil || l.f == nil {
		return
	}
	_ = os.Remove(l.path)
	_ = l.f.Close()
	l.f = nil
}
