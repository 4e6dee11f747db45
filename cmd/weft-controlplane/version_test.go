package main

import (
	"testing"

	"github.com/weftmesh/weft/version/versiontest"
)

// TestVersionFlag: weft-controlplane --version prints its name, the stamped version and
// commit, and exits 0 without the flags a run requires.
func TestVersionFlag(t *testing.T) {
	versiontest.CheckFlag(t, "weft-controlplane", []string{"--version"}, []string{"--config-dir", "mesh", "-version"})
}
