package xdsload

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/weftmesh/weft/controlplane"
)

// ServeKube is the kube source's child (`weft-bench xds-server --source
// kube`): the control plane itself, in Kubernetes mode, watching the API
// server of dir's kubeconfig with dir's root as its provided CA, xDS on a
// loopback port. It prints "listening <addr>", then answers the parent's
// lines on in as Serve does, but for update: the parent changes the mesh
// through the API server.
//
//	cpu <file>  → cpu      (starts a CPU profile)
//	cpustop     → cpustop  (ends it)
//	stats       → stats <cpu s> <heap bytes> <rss bytes> <peak rss bytes> <stack bytes>
//	heap <file> → heap  (writes a heap profile)
//
// It returns at EOF on in or when ctx ends, after closing the control
// plane. Warnings and errors are logged on log (nil: discarded).
func ServeKube(ctx context.Context, dir string, in io.Reader, out io.Writer, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := controlplane.Default()
	cfg.Kubeconfig = filepath.Join(dir, kubeconfigFile)
	cfg.CACertFile, cfg.CAKeyFile = filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
	cfg.CAReloadInterval = 0
	cfg.XDSAddress, cfg.MonitorAddress, cfg.WebhookAddress = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cp := controlplane.New(cfg, log)
	if err := cp.Start(ctx); err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	err := waitReady(ctx, cp)
	if err == nil {
		err = serveLines(cp, in, out)
	}
	return errors.Join(err, cp.Close())
}

// waitReady waits for the control plane's /ready: its informers have
// synced and the first mesh is applied, as a readiness probe would before
// proxies are sent its way (it refuses streams until then).
func waitReady(ctx context.Context, cp *controlplane.ControlPlane) error {
	url := "http://" + cp.MonitorAddr().String() + "/ready"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("readiness: %w", err)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("readiness: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func serveLines(cp *controlplane.ControlPlane, in io.Reader, out io.Writer) error {
	if _, err := fmt.Fprintf(out, "listening %s\n", cp.XDSAddr()); err != nil {
		return fmt.Errorf("writing to the parent: %w", err)
	}
	var cpu *os.File // the CPU profile being written
	defer func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			_ = cpu.Close()
		}
	}()
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var reply string
		switch {
		case len(f) == 1 && f[0] == "stats":
			reply = "stats " + selfStats()
		case len(f) == 2 && f[0] == "cpu":
			if cpu != nil {
				return errors.New("parent started a second CPU profile")
			}
			var err error
			if cpu, err = os.Create(f[1]); err != nil {
				return fmt.Errorf("creating the CPU profile: %w", err)
			}
			if err := pprof.StartCPUProfile(cpu); err != nil {
				return fmt.Errorf("starting the CPU profile: %w", err)
			}
			reply = "cpu"
		case len(f) == 1 && f[0] == "cpustop" && cpu != nil:
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				return fmt.Errorf("writing the CPU profile: %w", err)
			}
			cpu = nil
			reply = "cpustop"
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

// KubeServerLogger is the kube child's logger: warnings and errors on
// stderr, which the parent shares.
func KubeServerLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
