package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// process is a child process of the run (a proxy, a control plane), logging
// to a file. It is in its own process group and dies with the harness.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// startProcess runs bin with args, on CPU cpu when cpu ≥ 0 (through
// taskset, which execs bin in place: the pid is bin's).
func startProcess(ctx context.Context, name, logDir string, cpu int, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	if cpu >= 0 {
		args = append([]string{"-c", strconv.Itoa(cpu), bin}, args...)
		bin = "taskset"
	}
	cmd := exec.CommandContext(ctx, bin, args...) //nolint:gosec // Weft's binaries and the peers the harness installed
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM, kills the process group after a grace period, and
// waits for the process.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
	// nginx's worker may outlive a killed master for a moment.
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
}

func (p *process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited early (%w); last lines of %s:\n%s", p.name, p.err, p.logPath, tail(p.logPath, 15))
	default:
		return nil
	}
}

// waitHTTP polls url until it answers 200, the process dies, or ctx ends.
func waitHTTP(ctx context.Context, p *process, url string) error {
	client := &http.Client{Timeout: time.Second}
	return poll(ctx, p, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	})
}

// waitTCP polls addr until it accepts a connection.
func waitTCP(ctx context.Context, p *process, addr string) error {
	var d net.Dialer
	return poll(ctx, p, func() error {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

func poll(ctx context.Context, p *process, try func() error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := p.exited(); err != nil {
			return err
		}
		last := try()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w; last lines of %s:\n%s", p.name, last, p.logPath, tail(p.logPath, 15))
		case <-tick.C:
		}
	}
}

func tail(path string, n int) string {
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

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// tree returns pid and its children (nginx's master and worker).
func tree(pid int) []int {
	pids := []int{pid}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return pids
	}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		if ppid, err := parentOf(child); err == nil && ppid == pid {
			pids = append(pids, child)
		}
	}
	return pids
}

// statFields returns the fields of /proc/<pid>/stat after the command
// name (field 3 onward: state, ppid, …).
func statFields(pid int) ([]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, errors.New("malformed /proc stat")
	}
	return strings.Fields(s[i+1:]), nil
}

func parentOf(pid int) (int, error) {
	f, err := statFields(pid)
	if err != nil || len(f) < 2 {
		return 0, errors.Join(err, errors.New("short /proc stat"))
	}
	return strconv.Atoi(f[1])
}

// cpuSeconds returns utime+stime of pid and its children, in seconds.
func cpuSeconds(pid int) (float64, error) {
	var total float64
	for _, p := range tree(pid) {
		f, err := statFields(p)
		if err != nil {
			return 0, err
		}
		if len(f) < 13 {
			return 0, errors.New("short /proc stat")
		}
		// utime and stime are fields 14 and 15 of stat: 12 and 13 here.
		for _, s := range f[11:13] {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return 0, err
			}
			total += v / clockTicks
		}
	}
	return total, nil
}

// memMB returns the sum of a /proc/<pid>/status field (VmRSS, VmHWM) over
// pid and its children, in MB (10^6 bytes).
func memMB(pid int, field string) (float64, error) {
	var total float64
	for _, p := range tree(pid) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			return 0, err
		}
		found := false
		for _, line := range strings.Split(string(data), "\n") {
			rest, ok := strings.CutPrefix(line, field+":")
			if !ok {
				continue
			}
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("%s of %d: %w", field, p, err)
			}
			total += kb * 1024 / 1e6
			found = true
		}
		if !found {
			return 0, fmt.Errorf("no %s for pid %d", field, p)
		}
	}
	return total, nil
}

// pinSelf binds every thread of this process to cpu; threads started later
// inherit it.
func pinSelf(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return fmt.Errorf("pinning thread %d to CPU %d: %w", tid, cpu, err)
		}
	}
	return nil
}
