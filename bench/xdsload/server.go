package xdsload

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/weftmesh/weft/controlplane/xds"
)

// Serve is the child (`weft-bench xds-server`): it serves the mesh of cfg
// with xds.Server on a loopback port, prints "listening <addr>", then
// answers the parent's lines on in:
//
//	update <i>  → updated <start unix ns> <duration ns>  (applies changes 1…i)
//	stats       → stats <cpu s> <heap bytes> <rss bytes> <peak rss bytes> <stack bytes>
//	heap <file> → heap  (writes a heap profile)
//
// It returns at EOF on in or when ctx ends.
func Serve(ctx context.Context, cfg Config, dir string, in io.Reader, out io.Writer) error {
	tlsCfg, err := serverTLS(dir)
	if err != nil {
		return err
	}
	mesh := NewMesh(cfg)
	srv := xds.New(xds.Config{Logger: slog.New(slog.DiscardHandler)})
	if err := srv.Update(ctx, mesh.Build(0)); err != nil {
		return fmt.Errorf("initial update: %w", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	// The control plane's own options (controlplane.Start).
	g := grpc.NewServer(append(xds.ServerOptions(),
		grpc.Creds(credentials.NewTLS(tlsCfg)),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)...)
	srv.Register(ctx, g)
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(ln) }()
	defer func() { g.Stop(); <-done }()

	if _, err := fmt.Fprintf(out, "listening %s\n", ln.Addr()); err != nil {
		return fmt.Errorf("writing to the parent: %w", err)
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var reply string
		switch {
		case len(f) == 2 && f[0] == "update":
			i, err := strconv.Atoi(f[1])
			if err != nil {
				return fmt.Errorf("parent sent %q: %w", sc.Text(), err)
			}
			m := mesh.Build(i)
			start := time.Now()
			if err := srv.Update(ctx, m); err != nil {
				return fmt.Errorf("update %d: %w", i, err)
			}
			reply = fmt.Sprintf("updated %d %d", start.UnixNano(), time.Since(start).Nanoseconds())
		case len(f) == 1 && f[0] == "stats":
			reply = "stats " + selfStats()
		case len(f) == 2 && f[0] == "heap":
			if err := writeHeap(f[1]); err != nil {
				return err
			}
			reply = "heap"
		default:
			return fmt.Errorf("parent sent %q", sc.Text())
		}
		if _, err := fmt.Fprintln(out, reply); err != nil {
			return fmt.Errorf("writing to the parent: %w", err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading from the parent: %w", err)
	}
	return nil
}

func writeHeap(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating the heap profile: %w", err)
	}
	// The profile shows the heap as of the last collection: collect now,
	// or it shows what a rare collection last saw (after the changes,
	// which allocate little, that can be the first full update's).
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing the heap profile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the heap profile: %w", err)
	}
	return nil
}

// selfStats is "<cpu s> <heap bytes> <rss bytes> <peak rss bytes> <stack bytes>".
func selfStats() string {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, hwm := procStatus("VmRSS:"), procStatus("VmHWM:")
	return fmt.Sprintf("%.3f %d %d %d %d", cpu, ms.HeapAlloc, rss, hwm, ms.StackInuse)
}

// procStatus reads one kB field of /proc/self/status, in bytes.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}
