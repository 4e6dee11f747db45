// Package version says which build of Weft is running. The Makefile stamps
// Version and Commit into every binary at link time (LDFlags), so that
// "weft-proxy --version", "weftctl version" and an image's labels name the
// same release; a plain "go build" falls back to what the Go toolchain
// records (the module version and the VCS revision), so an unstamped binary
// still says where it came from instead of lying.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version and Commit are set at link time with
//
//	-ldflags "-X github.com/weftmesh/weft/version.Version=v0.1.0 -X github.com/weftmesh/weft/version.Commit=abc1234"
//
// (see LDFlags) and never written at run time. Empty means not stamped.
var (
	Version string
	Commit  string
)

// Path is the import path whose variables LDFlags sets.
const Path = "github.com/weftmesh/weft/version"

// Unknown stands for a version or commit that neither the linker nor the
// toolchain's build information records.
const Unknown = "unknown"

// Info is what one binary knows of its build.
type Info struct {
	Version   string // e.g. v0.1.0, v0.1.0-3-gabc1234-dirty
	Commit    string // VCS revision, possibly abbreviated
	GoVersion string // runtime.Version() of the toolchain that built it
}

// Get is this binary's build: the link-time stamps, else the build
// information the Go toolchain embedded, else Unknown.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(Version, Commit, bi)
}

// resolve prefers the stamps, then bi (nil when the binary has none).
func resolve(stampedVersion, stampedCommit string, bi *debug.BuildInfo) Info {
	info := Info{Version: stampedVersion, Commit: stampedCommit, GoVersion: runtime.Version()}
	if bi == nil {
		bi = &debug.BuildInfo{}
	}
	if info.Version == "" {
		// "(devel)" is what a build of the main module's work tree reports
		// when it has no tag to derive a version from.
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			info.Version = v
		} else {
			info.Version = Unknown
		}
	}
	if info.Commit == "" {
		info.Commit = Unknown
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Commit = abbreviate(s.Value)
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && info.Commit != Unknown {
			info.Commit += "-dirty"
		}
	}
	return info
}

// abbreviate shortens a full hash to git's usual 12 characters.
func abbreviate(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// String is program's one-line version, e.g.
// "weft-proxy v0.1.0 (commit abc1234, go1.26.8)".
func (i Info) String(program string) string {
	return fmt.Sprintf("%s %s (commit %s, %s)", program, i.Version, i.Commit, i.GoVersion)
}

// String is program's one-line version for this binary: Get().String.
func String(program string) string {
	return Get().String(program)
}

// Requested reports whether a command line (without the program name) asks
// for the version: a -version or --version flag before any "--". Binaries
// check it before parsing their other flags, so that --version works
// without the flags a run would require.
func Requested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-version", "--version", "-version=true", "--version=true":
			return true
		}
	}
	return false
}

// LDFlags are the linker flags that stamp version and commit into a
// binary, for "go build -ldflags". Neither may contain spaces or quotes.
func LDFlags(version, commit string) (string, error) {
	for _, v := range []struct{ name, value string }{{"version", version}, {"commit", commit}} {
		if v.value == "" || strings.ContainsAny(v.value, " \t\n'\"") {
			return "", fmt.Errorf("%s %q: want a non-empty word without spaces or quotes", v.name, v.value)
		}
	}
	return fmt.Sprintf("-X %s.Version=%s -X %s.Commit=%s", Path, version, Path, commit), nil
}
