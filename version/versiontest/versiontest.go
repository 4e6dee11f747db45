// Package versiontest checks a command's --version flag the way users meet
// it: the binary built with the Makefile's stamp and run, for the tests of
// every cmd/ that has the flag.
package versiontest

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/weftmesh/weft/version"
)

// CheckFlag builds the package in the test's directory as program, stamped
// as the Makefile does, and runs it with each of argsList: every run must
// print "<program> <version> (commit <commit>, <go version>)" and exit 0,
// without the flags a real run requires.
func CheckFlag(t *testing.T, program string, argsList ...[]string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	ldflags, err := version.LDFlags("v9.8.7-test", "feedface")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), program)
	build := exec.CommandContext(t.Context(), "go", "build", "-ldflags", ldflags, "-o", bin, ".") //nolint:gosec // the go command on this test's own package
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	want := program + " v9.8.7-test (commit feedface, " + runtime.Version() + ")\n"
	for _, args := range argsList {
		out, err := exec.CommandContext(t.Context(), bin, args...).CombinedOutput() //nolint:gosec // the binary just built
		if err != nil || string(out) != want {
			t.Errorf("%s %q = %q, %v; want %q and exit status 0", program, args, out, err, want)
		}
	}
}
