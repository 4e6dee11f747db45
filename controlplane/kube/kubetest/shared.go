package kubetest

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// Shared is one API server for all the tests of a test binary: started
// by the first test that asks for it (Env), stopped by Main, which the
// binary's TestMain calls.
type Shared struct {
	// Options start the server.
	Options Options

	once sync.Once
	env  *Env
	err  error
}

// Env returns the shared API server, starting it on first use; it skips
// t under -short and fails it when the server cannot start.
func (s *Shared) Env(t testing.TB) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping a test against a real kube-apiserver (envtest) under -short")
	}
	s.once.Do(func() { s.env, s.err = Start(s.Options) })
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.env
}

// Main runs the tests, stops the server if one started, checks that no
// goroutine leaked, and returns the exit code for os.Exit.
func (s *Shared) Main(m *testing.M) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	code := m.Run()
	if s.env != nil {
		if err := s.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest:", err)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	return code
}
