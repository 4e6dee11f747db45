package cnitest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/vishvananda/netns"
)

// A namespace left by a test process that died goes at the next
// newNetNS; one whose process runs stays.
func TestRemoveStaleNetNS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("%s%d-stale-test", testNetNSPrefix, dead.Process.Pid)
	live := fmt.Sprintf("%s%d-live-test", testNetNSPrefix, os.Getpid())
	for _, name := range []string{stale, live} {
		makeNamedNetNS(t, name)
		t.Cleanup(func() { _ = netns.DeleteNamed(name) })
	}

	staleOnce = sync.Once{}
	removeStaleNetNS()
	if staleNetNSExists(stale) {
		t.Errorf("%s (its process %d has ended) is still there", stale, dead.Process.Pid)
	}
	if !staleNetNSExists(live) {
		t.Errorf("%s (this process's) was removed", live)
	}
}

func TestNetnsOwner(t *testing.T) {
	for name, want := range map[string]int{
		"weft-t-123-node-abcd": 123,
		"weft-t-7-1":           7,
		"weft-t-x-node":        0,
		"weft-e2e-client":      0,
		"weft-t-":              0,
	} {
		pid, ok := netnsOwner(name)
		if pid != want || ok != (want > 0) {
			t.Errorf("netnsOwner(%q) = %d, %v; want %d", name, pid, ok, want)
		}
	}
}

func staleNetNSExists(name string) bool {
	_, err := os.Stat(filepath.Join("/run/netns", name))
	return err == nil
}

// makeNamedNetNS creates /run/netns/name from a thread that then ends.
func makeNamedNetNS(t *testing.T, name string) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		h, err := netns.NewNamed(name)
		if err == nil {
			err = h.Close()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
