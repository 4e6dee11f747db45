package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a component gets between SIGTERM and SIGKILL.
const stopGrace = 10 * time.Second

// process is a component the harness started and still waits for.
type process struct {
	name    string
	pid     int
	logPath string
	done    chan struct{}
	err     error
}

// start runs bin in its own process group with output to
// <state>/logs/<name>.log, and writes <state>/<name>.pid before anything
// waits on it. The process outlives ctx: Down stops it.
func start(l layout, name, bin string, args []string, env []string) (*process, error) {
	if err := os.MkdirAll(l.logs(), 0o750); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	logPath := l.logFile(name)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...) //nolint:gosec,noctx // the cluster's own binaries; they outlive the bring-up's ctx
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, pid: cmd.Process.Pid, logPath: logPath, done: make(chan struct{})}
	pidErr := os.WriteFile(l.pidFile(name), []byte(strconv.Itoa(p.pid)+"\n"), 0o600)
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	if pidErr != nil {
		stopPID(p.pid, 0)
		<-p.done
		return nil, fmt.Errorf("starting %s: %w", name, pidErr)
	}
	return p, nil
}

// exited returns an error with the end of the log once the process has
// ended, nil while it runs.
func (p *process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%w); last lines of %s:\n%s", p.name, p.err, p.logPath, tail(p.logPath, 20))
	default:
		return nil
	}
}

// waitFor polls check every 100ms until it succeeds, the process exits,
// or ctx ends.
func (p *process) waitFor(ctx context.Context, what string, check func(context.Context) error) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := p.exited(); err != nil {
			return err
		}
		last := check(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s: %w (last: %w); last lines of %s:\n%s", p.name, what, ctx.Err(), last, p.logPath, tail(p.logPath, 20))
		case <-tick.C:
		}
	}
}

// httpOK is a readiness check: GET url answers 200.
func httpOK(client *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
		}
		return nil
	}
}

// stopPID sends SIGTERM to pid and its process group, waits up to grace
// for it to end, then SIGKILLs the group. A zombie counts as ended (its
// parent reaps it).
func stopPID(pid int, grace time.Duration) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; alive(pid) && i < 100; i++ {
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// cmdline is /proc/<pid>/cmdline with NULs as spaces, "" if pid is gone.
func cmdline(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	return string(bytes.ReplaceAll(data, []byte{0}, []byte{' '}))
}

// pidFromFile reads <state>/<name>.pid and returns the PID if that
// process still runs and its command line names the state directory (so
// that a PID reused by an unrelated process is never signalled).
func pidFromFile(l layout, name string) (int, bool) {
	data, err := os.ReadFile(l.pidFile(name))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return 0, false
	}
	if !alive(pid) || !strings.Contains(cmdline(pid), l.dir) {
		return 0, false
	}
	return pid, true
}

// processesMentioning lists the live processes whose command line contains
// s (containerd's shims name its socket below the state directory).
func processesMentioning(s string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if alive(pid) && strings.Contains(cmdline(pid), s) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// tail returns the last n lines of a file, indented for an error message.
func tail(path string, n int) string {
	data, err := os.ReadFile(path) //nolint:gosec // a log file of the state directory
	if err != nil {
		return "    (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// run runs a short command (ctr, kube-proxy --cleanup) and returns its
// combined output in the error.
func run(ctx context.Context, bin string, args ...string) error {
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput() //nolint:gosec // the cluster's own binaries
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
