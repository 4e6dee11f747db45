package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// outsideDirs are the directories outside the state directory that the
// kubelet, containerd and libcni create whatever they are told; Up records
// which were missing so that Clean removes them again once empty.
func outsideDirs() []string {
	return []string{"/var/lib/cni", "/var/log/containers", "/run/containerd", "/var/lib/kubelet", "/usr/libexec/kubernetes"}
}

// outside is what Up records of the machine outside the state directory
// before it changes anything, so that Clean removes only what the run made.
type outside struct {
	// Dirs are those of outsideDirs that did not exist.
	Dirs []string `json:"dirs"`
	// Tables are those of iptablesTables that did exist.
	Tables []string `json:"tables"`
}

// recordOutside writes <state>/outside.json.
func recordOutside(l layout) error {
	var o outside
	for _, d := range outsideDirs() {
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			o.Dirs = append(o.Dirs, d)
		}
	}
	tables, err := existingIPTablesTables()
	if err != nil {
		return err
	}
	o.Tables = tables
	data, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("outside: %w", err)
	}
	if err := os.WriteFile(l.path(outsideFile), data, 0o600); err != nil {
		return fmt.Errorf("outside: %w", err)
	}
	return nil
}

// readOutside reads <state>/outside.json; ok is false when there is none
// (no run, or one that crashed before recording), and then Clean removes
// nothing that it cannot tell apart by name.
func readOutside(l layout) (o outside, ok bool, err error) {
	data, err := os.ReadFile(l.path(outsideFile))
	if errors.Is(err, os.ErrNotExist) {
		return o, false, nil
	}
	if err != nil {
		return o, false, fmt.Errorf("outside: %w", err)
	}
	if err := json.Unmarshal(data, &o); err != nil {
		return o, false, fmt.Errorf("outside: %s: %w", l.path(outsideFile), err)
	}
	return o, true, nil
}

// removeOutside removes what the run left outside the state directory:
// libcni's cached results for pods whose namespace was below the state
// directory, the kubelet's /var/log/containers links into it, the
// iptables-nft tables the run made (once empty), and, of the directories
// the run created, those left empty but for sockets.
func removeOutside(l layout) error {
	var errs []error
	results, _ := filepath.Glob("/var/lib/cni/results/*")
	for _, f := range results {
		if !cniResultOfRun(f, l.dir) {
			continue
		}
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("outside: %w", err))
		}
	}
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, f := range links {
		target, err := os.Readlink(f)
		if err == nil && strings.HasPrefix(target, l.dir+"/") {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("outside: %w", err))
			}
		}
	}
	o, ok, err := readOutside(l)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if !ok {
		return errors.Join(errs...)
	}
	if err := removeEmptyTables(o.Tables); err != nil {
		errs = append(errs, err)
	}
	for _, d := range o.Dirs {
		removeEmptyDirs(d)
	}
	return errors.Join(errs...)
}

// cniResultOfRun reports whether a libcni cache file is of a pod whose
// network namespace lived below stateDir (containerd puts them there).
func cniResultOfRun(file, stateDir string) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	var cached struct {
		NetNS string `json:"netns"`
	}
	return json.Unmarshal(data, &cached) == nil && strings.HasPrefix(cached.NetNS, stateDir+"/")
}

// removeEmptyDirs removes dir and its subdirectories, deepest first, as
// long as they hold nothing but sockets (the kubelet's device-plugin
// socket outlives it); a file anywhere keeps its ancestors.
func removeEmptyDirs(dir string) {
	var dirs []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		} else if d.Type()&fs.ModeSocket != 0 {
			_ = os.Remove(path) //nolint:gosec // below a directory this run created, as root: no one to race
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		_ = os.Remove(d) // fails, as it should, when not empty
	}
}
