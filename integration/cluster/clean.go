package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Components in the order Clean stops them: the node first (so that
// nothing restarts pods), then the runtime, then the control plane.
func nodeComponents() []string { return []string{"kube-proxy", "kubelet"} }
func controlComponents() []string {
	return []string{"kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"}
}

// markers under the state directory that Clean reads.
const (
	binDirFile  = "bindir"       // the BinDir of the run, for kube-proxy --cleanup
	outsideFile = "outside.json" // directories outside the state dir the run created
)

// Clean removes what a run with this state directory left: its processes
// (by PID file, those in the cgroups below CgroupRoot, and containerd's
// shims, whose command line names the state directory), kube-proxy's
// rules, the mounts below the state directory, the cgroups, the links,
// namespaces and routes named in docs/e2e.md, the sysctls it changed, and
// the state directory itself. The worker node's processes (by the PID
// files below <state>/n2) and namespace go too. Nothing that is there is
// not an error.
func Clean(ctx context.Context, stateDir string) error {
	if err := checkStateDir(stateDir); err != nil {
		return err
	}
	log := slog.Default()
	lock, err := acquireLock(ctx, stateDir, log)
	if err != nil {
		return err
	}
	defer lock.release()
	return clean(ctx, layout{dir: stateDir}, log)
}

func clean(ctx context.Context, l layout, log *slog.Logger) error {
	var errs []error
	// The worker's files, if it ran; its rules go with its namespace.
	nodes := []layout{l, workerNode(l).l}
	for _, nl := range nodes {
		for _, name := range nodeComponents() {
			stopComponent(nl, name, log)
		}
	}
	killCgroupProcesses(log)
	for _, nl := range nodes {
		stopComponent(nl, "containerd", log)
		for _, pid := range processesMentioning(nl.containerdSocket()) {
			log.Info("stopping containerd shim", "pid", pid)
			stopPID(pid, time.Second)
		}
	}
	for _, name := range controlComponents() {
		stopComponent(l, name, log)
	}
	if err := cleanKubeProxyRules(ctx, l); err != nil {
		errs = append(errs, err)
	}
	cleanKubeletRules(ctx, l)
	if err := unmountBelow(l.dir); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroups(log); err != nil {
		errs = append(errs, err)
	}
	if err := tearDownNetwork(); err != nil {
		errs = append(errs, err)
	}
	if err := restoreSysctls(l); err != nil {
		errs = append(errs, err)
	}
	if err := removeOutside(l); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		// Keep the state directory (and its PID files and saved sysctls)
		// for the next Clean.
		return errors.Join(errs...)
	}
	if err := removeStateDir(l.dir); err != nil {
		return err
	}
	return nil
}

func stopComponent(l layout, name string, log *slog.Logger) {
	pid, ok := pidFromFile(l, name)
	if !ok {
		return
	}
	log.Info("stopping", "component", name, "pid", pid)
	stopPID(pid, stopGrace)
}

// cleanKubeProxyRules runs kube-proxy --cleanup when kube-proxy ran: it
// removes the nftables table and iptables chains kube-proxy made.
func cleanKubeProxyRules(ctx context.Context, l layout) error {
	if _, err := os.Stat(l.config("kube-proxy.yaml")); err != nil {
		return nil
	}
	binDir, err := os.ReadFile(l.path(binDirFile))
	if err != nil {
		return fmt.Errorf("kube-proxy cleanup: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	bin := filepath.Join(strings.TrimSpace(string(binDir)), "kube-proxy")
	if err := run(ctx, bin, "--cleanup", "--config="+l.config("kube-proxy.yaml")); err != nil {
		return fmt.Errorf("kube-proxy cleanup: %w", err)
	}
	return nil
}

// mountsBelow lists the mount points at or below dir, deepest first.
func mountsBelow(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("mounts: %w", err)
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mounts = append(mounts, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mounts: %w", err)
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	return mounts, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountBelow lazily unmounts everything at or below dir (pod volumes,
// container root filesystems, pod network namespaces, shm), repeating for
// stacked mounts.
func unmountBelow(dir string) error {
	for range 10 {
		mounts, err := mountsBelow(dir)
		if err != nil {
			return err
		}
		if len(mounts) == 0 {
			return nil
		}
		for _, mp := range mounts {
			_ = syscall.Unmount(mp, syscall.MNT_DETACH)
		}
	}
	mounts, err := mountsBelow(dir)
	if err == nil && len(mounts) > 0 {
		err = fmt.Errorf("mounts: still mounted below %s: %s", dir, strings.Join(mounts, ", "))
	}
	return err
}

// removeStateDir deletes the state directory, but only once nothing is
// mounted below it: RemoveAll would otherwise descend into a hostPath
// bind mount.
func removeStateDir(dir string) error {
	mounts, err := mountsBelow(dir)
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("state dir: not removing %s: still mounted: %s", dir, strings.Join(mounts, ", "))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	return nil
}
