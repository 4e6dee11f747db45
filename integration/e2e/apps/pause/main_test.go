package main

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReap: a child that exited is collected, so it leaves no zombie.
func TestReap(t *testing.T) {
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Skipf("no /bin/true to start: %v", err)
	}
	pid := p.Pid
	// Wait for it to exit without collecting it (WNOWAIT).
	deadline := time.Now().Add(5 * time.Second)
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil)
		if err == nil && info.Signo != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d did not exit: %v", pid, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	reap()
	var status syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &status, syscall.WNOHANG, nil); !errors.Is(err, syscall.ECHILD) {
		t.Errorf("wait4(%d) after reap = %v, want ECHILD: the child was not collected", pid, err)
	}
}
