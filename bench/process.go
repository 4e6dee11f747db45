package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/weftmesh/weft/childproc"
)

// process is a child process of the run (a proxy, a control plane).
type process = childproc.Process

// startProcess runs bin with args, on CPU cpu when cpu ≥ 0 (through
// taskset, which execs bin in place: the pid is bin's).
func startProcess(ctx context.Context, name, logDir string, cpu int, bin string, args ...string) (*process, error) {
	if cpu >= 0 {
		args = append([]string{"-c", strconv.Itoa(cpu), bin}, args...)
		bin = "taskset"
	}
	return childproc.Start(ctx, name, logDir, bin, args...)
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
