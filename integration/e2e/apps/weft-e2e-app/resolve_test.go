package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestResolve: "resolve" prints a name's addresses one a line (an address
// literal needs no resolver, so the test asks none), and a bad command
// line exits 2.
func TestResolve(t *testing.T) {
	for _, tt := range []struct {
		name      string
		args      []string
		code      int
		stdout    string
		stderrHas string
	}{
		{"address literal", []string{"resolve", "198.19.0.10"}, 0, "198.19.0.10\n", ""},
		{"no name", []string{"resolve"}, 2, "", "resolve wants one name, got 0 arguments"},
		{"two names", []string{"resolve", "a", "b"}, 2, "", "resolve wants one name, got 2 arguments"},
		{"bad flag", []string{"resolve", "--timeout", "soon", "a"}, 2, "", "invalid value"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, &stdout, &stderr)
			if code != tt.code || stdout.String() != tt.stdout || !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Errorf("run(%q) = %d, stdout %q, stderr %q; want %d, %q, stderr containing %q", tt.args, code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderrHas)
			}
		})
	}
}
