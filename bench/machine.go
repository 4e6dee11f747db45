package bench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Machine describes where a run happened.
type Machine struct {
	CPU     string `json:"cpu"`
	CPUs    int    `json:"cpus"`
	Kernel  string `json:"kernel"`
	Go      string `json:"go"`
	Nginx   string `json:"nginx,omitempty"`
	HAProxy string `json:"haproxy,omitempty"`
	Pinning string `json:"pinning"`
	// LoadAverage is /proc/loadavg's 1-minute figure at the start: other
	// work on the machine makes tails noisier.
	LoadAverage string `json:"load_average"`
}

func describeMachine(ctx context.Context, cfg Config) Machine {
	m := Machine{CPU: "unknown", CPUs: runtime.NumCPU(), Go: runtime.Version(),
		Pinning: "none (fewer than two CPUs, or --pin=false): load, servers and proxies share every CPU"}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) > 0 {
			m.LoadAverage = f[0]
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	if cfg.pinned() {
		m.Pinning = "load generator and servers on CPU 0 (sched_setaffinity), every proxy and the control plane on CPU 1 (taskset)"
	}
	version := func(bin string, args ...string) string {
		path, err := findBinary(bin)
		if err != nil {
			return ""
		}
		out, _ := exec.CommandContext(ctx, path, args...).CombinedOutput() //nolint:gosec // nginx -v, haproxy -v
		line, _, _ := bytes.Cut(bytes.TrimSpace(out), []byte("\n"))
		return string(line)
	}
	if cfg.runs(SetupNginx) {
		m.Nginx = version("nginx", "-v")
	}
	if cfg.runs(SetupHAProxy) {
		m.HAProxy = version("haproxy", "-v")
	}
	return m
}

func (m Machine) lines() []string {
	l := []string{
		"machine: " + m.CPU + ", " + itoa(m.CPUs) + " CPUs, " + m.Kernel + ", " + m.Go,
		"pinning: " + m.Pinning,
		"load average at start: " + m.LoadAverage,
	}
	if m.Nginx != "" {
		l = append(l, "nginx: "+m.Nginx)
	}
	if m.HAProxy != "" {
		l = append(l, "haproxy: "+m.HAProxy)
	}
	return l
}
