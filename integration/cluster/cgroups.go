package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupDirs lists /sys/fs/cgroup/<hierarchy>/weft-e2e for each mounted
// hierarchy (cgroups v1, and the v2 one at the root or at unified/).
func cgroupDirs() []string { return cgroupDirsOf(CgroupRoot) }

// cgroupDirsOf lists the directories of cgroup path cg (such as
// /weft-e2e) in each mounted hierarchy.
func cgroupDirsOf(cg string) []string {
	var dirs []string
	root := "/sys/fs/cgroup"
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		return []string{filepath.Join(root, cg)}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(root, e.Name(), cg))
		}
	}
	return dirs
}

// cgroupsBelow lists dir and its descendants, deepest first.
func cgroupsBelow(dir string) []string {
	var all []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			all = append(all, path)
		}
		return nil
	})
	sort.Slice(all, func(i, j int) bool { return len(all[i]) > len(all[j]) })
	return all
}

// killCgroupProcesses SIGKILLs every process in a cgroup below
// CgroupRoot: the pods' containers, and whatever they forked.
func killCgroupProcesses(log *slog.Logger) {
	for range 50 {
		found := 0
		for _, top := range cgroupDirs() {
			for _, cg := range cgroupsBelow(top) {
				data, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
				if err != nil {
					continue
				}
				for _, f := range strings.Fields(string(data)) {
					pid, err := strconv.Atoi(f)
					if err != nil || pid <= 1 || pid == os.Getpid() {
						continue
					}
					found++
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if found == 0 {
			return
		}
		log.Info("killed pod processes", "count", found)
		time.Sleep(100 * time.Millisecond)
	}
}

// removeCgroups removes the (now empty) cgroups below CgroupRoot.
func removeCgroups(log *slog.Logger) error {
	var errs []error
	for _, top := range cgroupDirs() {
		for _, cg := range cgroupsBelow(top) {
			var err error
			for range 20 {
				if err = os.Remove(cg); err == nil || errors.Is(err, os.ErrNotExist) {
					err = nil
					break
				}
				killCgroupProcesses(log)
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("cgroups: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// makeCgroupRoots creates each node's cgroup root (CgroupRoot, then the
// worker's below it) in every hierarchy, as the kubelet requires; a v1
// cpuset gets its parent's CPUs and memory nodes, without which no task
// may join it.
func makeCgroupRoots(nodes []node) error {
	var dirs []string
	for _, n := range nodes {
		dirs = append(dirs, cgroupDirsOf(n.cgroupRoot)...)
	}
	for _, dir := range dirs {
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) { //nolint:gosec // cgroupfs keeps its own modes
			return fmt.Errorf("cgroups: %w", err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			parent := filepath.Join(filepath.Dir(dir), f)
			v, err := os.ReadFile(parent)
			if err != nil {
				continue // not a cpuset hierarchy
			}
			if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil { //nolint:gosec // cgroupfs keeps its own modes
				return fmt.Errorf("cgroups: %w", err)
			}
		}
	}
	return nil
}
