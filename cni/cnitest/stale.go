package cnitest

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/vishvananda/netns"
)

// testNetNSPrefix starts the name of every namespace Weft's tests make
// (weft-t-<pid>-…: cnitest's, and proxy/capture's and proxy/dataplane's).
const testNetNSPrefix = "weft-t-"

var staleOnce sync.Once

// removeStaleNetNS deletes, once per test binary, the namespaces a test
// process that has since died left in /run/netns (a test killed by
// -timeout or Ctrl-C runs no cleanup). A name whose process still runs is
// left alone: it may be another test binary's, running now.
func removeStaleNetNS() {
	staleOnce.Do(func() {
		paths, _ := filepath.Glob(filepath.Join("/run/netns", testNetNSPrefix+"*"))
		for _, p := range paths {
			if pid, ok := netnsOwner(filepath.Base(p)); ok && !processAlive(pid) {
				_ = netns.DeleteNamed(filepath.Base(p))
			}
		}
	})
}

// netnsOwner is the PID in a name weft-t-<pid>-….
func netnsOwner(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, testNetNSPrefix)
	if !ok {
		return 0, false
	}
	digits, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(digits)
	return pid, err == nil && pid > 0
}

// processAlive reports whether pid exists (signal 0; EPERM means it does).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
