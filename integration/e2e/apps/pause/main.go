// Command pause is the sandbox ("pause") image of the e2e cluster: the
// first process of every pod, which holds the pod's namespaces open while
// the pod's containers come and go. It does nothing but reap the zombies
// that a shared PID namespace hands it and wait for SIGTERM or SIGINT,
// upon which it exits 0, as the kubelet expects when it stops a pod.
//
// It replaces registry.k8s.io/pause so that the cluster needs no registry:
// hack/e2eimages builds it into weft.dev/e2e/pause:v1, which containerd's
// configuration pins as the sandbox image (docs/e2e.md).
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "pause takes no arguments; it waits for SIGTERM or SIGINT")
		os.Exit(2)
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "pause: %v, exiting\n", sig)
		return
	}
}

// reap collects every child that has exited, so that none stays a zombie
// when this is PID 1 of a pod that shares its PID namespace.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
	}
}
