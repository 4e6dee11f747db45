package configdir

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weftmesh/weft/controlplane/model"
)

const waitLimit = 5 * time.Second

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// running is a Watcher running in the background, its deliveries queued.
type running struct {
	t      *testing.T
	w      *Watcher
	logs   *syncBuffer
	meshes chan *model.Mesh
	cancel context.CancelFunc
	done   chan error
}

func startWatcher(t *testing.T, dir string) *running {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{
		t:      t,
		w:      NewWatcher(dir, testTD, log),
		logs:   logs,
		meshes: make(chan *model.Mesh, 16),
		cancel: cancel,
		done:   make(chan error, 1),
	}
	go func() {
		r.done <- r.w.Run(ctx, func(m *model.Mesh) {
			select {
			case r.meshes <- m:
			case <-ctx.Done():
			}
		})
	}()
	return r
}

// stop cancels Run and checks that it returned nil and left no goroutine.
func (r *running) stop() {
	r.t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(waitLimit):
		r.t.Fatal("Run did not return after cancel")
	}
	goleak.VerifyNone(r.t)
}

func (r *running) next() *model.Mesh {
	r.t.Helper()
	select {
	case m := <-r.meshes:
		return m
	case err := <-r.done:
		r.t.Fatalf("Run returned early: %v", err)
	case <-time.After(waitLimit):
		r.t.Fatalf("no mesh delivered within %v; log:\n%s", waitLimit, r.logs)
	}
	return nil
}

// quiet checks that no mesh is delivered for a while: long enough for any
// pending reload to have happened.
func (r *running) quiet() {
	r.t.Helper()
	select {
	case m := <-r.meshes:
		r.t.Fatalf("unexpected mesh delivered: %+v", m)
	case <-time.After(4 * debounce):
	}
}

// waitReloadErrors waits until n loads have failed.
func (r *running) waitReloadErrors(n uint64) {
	r.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for r.w.ReloadErrors() < n {
		if time.Now().After(deadline) {
			r.t.Fatalf("ReloadErrors = %d, want %d; log:\n%s", r.w.ReloadErrors(), n, r.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func service(name string, port int) string {
	return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\nspec:\n  ports:\n    - port: " + strconv.Itoa(port) + "\n"
}

// servicePorts summarizes a mesh's services as "name:port,...".
func servicePorts(m *model.Mesh) string {
	var parts []string
	for _, s := range m.Services {
		for _, p := range s.Ports {
			parts = append(parts, s.Name+":"+strconv.FormatUint(uint64(p.Port), 10))
		}
	}
	return strings.Join(parts, ",")
}

func TestWatcher(t *testing.T) {
	dir := t.TempDir()
	r := startWatcher(t, dir)

	if got := servicePorts(r.next()); got != "" {
		t.Fatalf("first mesh of an empty directory has services %q", got)
	}

	a := filepath.Join(dir, "a.yaml")
	writeFile(t, a, service("web", 80))
	if got := servicePorts(r.next()); got != "web:80" {
		t.Fatalf("after writing a.yaml: services %q, want web:80", got)
	}

	b := filepath.Join(dir, "b.yaml")
	writeFile(t, b, service("db", 0))
	r.waitReloadErrors(1)
	r.quiet()
	if want := `file=b.yaml line=7 field=spec.ports[0].port reason="must be between 1 and 65535"`; !strings.Contains(r.logs.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, r.logs)
	}

	writeFile(t, b, service("db", 5432))
	if got := servicePorts(r.next()); got != "db:5432,web:80" {
		t.Fatalf("after fixing b.yaml: services %q, want db:5432,web:80", got)
	}

	// Rewriting a file with the same content changes nothing.
	writeFile(t, a, service("web", 80))
	r.quiet()

	// An editor's save: write a temporary file, rename it over the old one.
	tmp := filepath.Join(dir, ".a.yaml.swp")
	writeFile(t, tmp, service("web", 8080))
	if err := os.Rename(tmp, a); err != nil {
		t.Fatal(err)
	}
	if got := servicePorts(r.next()); got != "db:5432,web:8080" {
		t.Fatalf("after renaming over a.yaml: services %q, want db:5432,web:8080", got)
	}

	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	if got := servicePorts(r.next()); got != "web:8080" {
		t.Fatalf("after removing b.yaml: services %q, want web:8080", got)
	}
	if n := r.w.ReloadErrors(); n != 1 {
		t.Errorf("ReloadErrors = %d, want 1", n)
	}
	r.stop()
}

// TestWatcherConfigMap follows a Kubernetes ConfigMap volume: the files are
// symlinks through "..data", which the kubelet swaps atomically to a new
// timestamped directory.
func TestWatcherConfigMap(t *testing.T) {
	dir := t.TempDir()
	version := func(name string, port int) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name, "mesh.yaml"), service("web", port))
		if err := os.Symlink(name, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_01_01", 80)
	if err := os.Symlink("..data/mesh.yaml", filepath.Join(dir, "mesh.yaml")); err != nil {
		t.Fatal(err)
	}

	r := startWatcher(t, dir)
	if got := servicePorts(r.next()); got != "web:80" {
		t.Fatalf("first mesh: services %q, want web:80", got)
	}
	version("..2026_01_02", 81)
	if err := os.RemoveAll(filepath.Join(dir, "..2026_01_01")); err != nil {
		t.Fatal(err)
	}
	if got := servicePorts(r.next()); got != "web:81" {
		t.Fatalf("after the swap: services %q, want web:81", got)
	}
	r.stop()
}

func TestWatcherStartsBroken(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.yaml")
	writeFile(t, path, "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [\n")

	r := startWatcher(t, dir)
	r.waitReloadErrors(1)
	r.quiet()
	if want := "level=WARN msg=\"Mesh config problem\""; !strings.Contains(r.logs.String(), want) || !strings.Contains(r.logs.String(), "file=a.yaml line=") {
		t.Errorf("log lacks the syntax problem of a.yaml:\n%s", r.logs)
	}

	writeFile(t, path, service("web", 80))
	if got := servicePorts(r.next()); got != "web:80" {
		t.Fatalf("after the fix: services %q, want web:80", got)
	}
	r.stop()
}

func TestWatcherDirectoryRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mesh")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	r := startWatcher(t, dir)
	r.next()
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-r.done:
		if err == nil || !strings.Contains(err.Error(), "removed or renamed") {
			t.Errorf("Run = %v, want an error saying the directory went away", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after its directory was removed")
	}
	r.cancel()
	goleak.VerifyNone(t)
}

func TestWatcherRunFails(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	writeFile(t, file, "")
	tests := []struct {
		name string
		dir  string
		is   error
	}{
		{name: "missing directory", dir: filepath.Join(t.TempDir(), "nope"), is: fs.ErrNotExist},
		{name: "not a directory", dir: file},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			err := NewWatcher(tt.dir, testTD, nil).Run(t.Context(), func(*model.Mesh) { called = true })
			if err == nil {
				t.Fatal("Run = nil, want an error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Run = %v, want %v", err, tt.is)
			}
			if called {
				t.Error("onChange called")
			}
			goleak.VerifyNone(t)
		})
	}
}
