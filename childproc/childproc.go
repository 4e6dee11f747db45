// Package childproc runs the processes that `weftctl demo` and `make bench`
// start (control planes, sidecars, peer proxies): each in its own process
// group, logging to a file, killed if its parent dies, and stopped with
// SIGTERM, then SIGKILL after a grace period, so none outlives its run.
package childproc

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// gracePeriod is how long Stop waits after SIGTERM before killing.
const gracePeriod = 5 * time.Second

// Process is a running child process.
type Process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// Start runs bin with args; its output goes to <logDir>/<name>.log. The
// process ends with ctx (SIGTERM) and when this process dies (SIGKILL).
func Start(ctx context.Context, name, logDir, bin string, args ...string) (*Process, error) {
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, args...) //nolint:gosec // Weft's own binaries and the peers a harness installed
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = gracePeriod
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Name is the name the process was started with.
func (p *Process) Name() string { return p.name }

// Pid is the process's ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM, kills the process group after the grace period, and
// waits for the process. Children left in its group (an nginx worker after
// its master) are killed too.
func (p *Process) Stop() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(gracePeriod):
			_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
			<-p.done
		}
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
}

// Exited returns an error, with the end of the log, when the process has
// already ended; nil while it runs.
func (p *Process) Exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited early (%w); last lines of %s:\n%s", p.name, p.err, p.logPath, Tail(p.logPath, 15))
	default:
		return nil
	}
}

// WaitHTTP polls url until it answers 200, the process dies, or ctx ends.
func (p *Process) WaitHTTP(ctx context.Context, url string) error {
	client := &http.Client{Timeout: time.Second}
	return p.poll(ctx, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s %s", url, resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	})
}

// WaitTCP polls addr until it accepts a connection, the process dies, or
// ctx ends.
func (p *Process) WaitTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	return p.poll(ctx, func() error {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

func (p *Process) poll(ctx context.Context, try func() error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := p.Exited(); err != nil {
			return err
		}
		last := try()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w; last lines of %s:\n%s", p.name, last, p.logPath, Tail(p.logPath, 15))
		case <-tick.C:
		}
	}
}

// Tail returns the last n lines of a file, indented for an error message.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "    (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
