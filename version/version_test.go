package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	built := func(mainVersion string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/weftmesh/weft", Version: mainVersion}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	for _, tt := range []struct {
		name                    string
		version, commit         string
		bi                      *debug.BuildInfo
		wantVersion, wantCommit string
	}{
		{"stamped wins over the toolchain", "v0.1.0", "abc1234", built("v0.0.9", "vcs.revision", rev), "v0.1.0", "abc1234"},
		{"go build in a clean work tree", "", "", built("(devel)", "vcs.revision", rev, "vcs.modified", "false"), Unknown, "0123456789ab"},
		{"go build in a dirty work tree", "", "", built("(devel)", "vcs.revision", rev, "vcs.modified", "true"), Unknown, "0123456789ab-dirty"},
		{"go install of a tagged module", "", "", built("v0.2.0"), "v0.2.0", Unknown},
		{"no build information", "", "", nil, Unknown, Unknown},
		{"only the version stamped", "v1.0.0", "", built("(devel)", "vcs.revision", "abc"), "v1.0.0", "abc"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.version, tt.commit, tt.bi)
			if got.Version != tt.wantVersion || got.Commit != tt.wantCommit || got.GoVersion != runtime.Version() {
				t.Errorf("resolve = %+v, want version %q, commit %q, %s", got, tt.wantVersion, tt.wantCommit, runtime.Version())
			}
		})
	}
}

func TestInfoString(t *testing.T) {
	got := Info{Version: "v0.1.0", Commit: "abc", GoVersion: "go1.26.8"}.String("weft-proxy")
	if want := "weft-proxy v0.1.0 (commit abc, go1.26.8)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	// A test binary is not stamped: it says so rather than inventing a version.
	if got := String("weftctl"); !strings.HasPrefix(got, "weftctl ") || !strings.HasSuffix(got, ", "+runtime.Version()+")") {
		t.Errorf("String(weftctl) = %q, want \"weftctl <version> (commit <commit>, %s)\"", got, runtime.Version())
	}
}

func TestRequested(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{[]string{"--version"}, true},
		{[]string{"-version"}, true},
		{[]string{"--config-dir", "mesh", "--version"}, true},
		{[]string{"--version=true"}, true},
		{nil, false},
		{[]string{"--name", "web"}, false},
		{[]string{"--", "--version"}, false},
		{[]string{"version"}, false}, // a word, not the flag: weft-cni's CNI commands come from the environment
		{[]string{"--versions"}, false},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if got := Requested(tt.args); got != tt.want {
				t.Errorf("Requested(%q) = %v, want %v", tt.args, got, tt.want)
			}
		})
	}
}

func TestLDFlags(t *testing.T) {
	got, err := LDFlags("v0.1.0-3-gabc1234-dirty", "abc1234")
	if want := "-X github.com/weftmesh/weft/version.Version=v0.1.0-3-gabc1234-dirty -X github.com/weftmesh/weft/version.Commit=abc1234"; err != nil || got != want {
		t.Errorf("LDFlags = %q, %v, want %q", got, err, want)
	}
	for _, tt := range []struct{ version, commit, want string }{
		{"", "abc", `version "": want a non-empty word`},
		{"v1 beta", "abc", `version "v1 beta": want a non-empty word without spaces`},
		{"v1", `a"b`, `commit "a\"b": want`},
	} {
		t.Run(tt.version+"/"+tt.commit, func(t *testing.T) {
			if _, err := LDFlags(tt.version, tt.commit); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LDFlags(%q, %q) = %v, want an error containing %q", tt.version, tt.commit, err, tt.want)
			}
		})
	}
}
