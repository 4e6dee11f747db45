package dataplane

import (
	"errors"

	"github.com/weftmesh/weft/proxy/allowlist"
)

// problems collects what is wrong with one resource, each as
// `<kind> "<name>": <field path>: <message>`.
type problems = allowlist.Problems

func newProblems(kind, name string) *problems { return allowlist.New(kind, name) }

// field appends a field name to a path.
func field(path, name string) string { return allowlist.Field(path, name) }

// index appends a list index to a path.
func index(path string, i int) string { return allowlist.Index(path, i) }

// joinProblems returns the problems of all resources as one error, nil when
// there are none.
func joinProblems(all []*problems) error {
	var errs []error
	for _, p := range all {
		errs = append(errs, p.Errs()...)
	}
	return errors.Join(errs...)
}

// duplicates reports resources that share a name.
func duplicates(kind string, names []string) []*problems {
	seen := make(map[string]bool, len(names))
	var out []*problems
	for _, n := range names {
		if seen[n] {
			p := newProblems(kind, n)
			p.Addf("", "duplicate name")
			out = append(out, p)
		}
		seen[n] = true
	}
	return out
}

// missingName is the problem of a resource without a name.
func missingName(kind string) *problems {
	p := newProblems(kind, "")
	p.Addf("name", "missing")
	return p
}
