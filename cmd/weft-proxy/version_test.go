package main

import (
	"testing"

	"github.com/weftmesh/weft/version/versiontest"
)

// TestVersionFlag: weft-proxy --version prints its name, the stamped version and
// commit, and exits 0 without the flags a run requires.
func TestVersionFlag(t *testing.T) {
	versiontest.CheckFlag(t, "weft-proxy", []string{"--version"}, []string{"--name", "web-1", "--version"})
}
