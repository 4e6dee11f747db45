package dataplane

import (
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// problems collects what is wrong with one resource, each as
// `<kind> "<name>": <field path>: <message>`.
type problems struct {
	kind, name string
	errs       []error
}

func newProblems(kind, name string) *problems { return &problems{kind: kind, name: name} }

func (p *problems) addf(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path == "" {
		p.errs = append(p.errs, fmt.Errorf("%s %q: %s", p.kind, p.name, msg))
		return
	}
	p.errs = append(p.errs, fmt.Errorf("%s %q: %s: %s", p.kind, p.name, path, msg))
}

func (p *problems) ok() bool { return len(p.errs) == 0 }

// onlyFields reports every populated field of m that is not in allowed,
// in field-number order, and unknown fields. Anything this package does not
// implement must be refused rather than silently ignored, so each message
// is checked against an allow list.
func (p *problems) onlyFields(path string, m proto.Message, allowed ...string) {
	r := m.ProtoReflect()
	var unsupported []protoreflect.FieldDescriptor
	r.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if !slices.Contains(allowed, string(fd.Name())) {
			unsupported = append(unsupported, fd)
		}
		return true
	})
	slices.SortFunc(unsupported, func(a, b protoreflect.FieldDescriptor) int { return int(a.Number() - b.Number()) })
	for _, fd := range unsupported {
		p.addf(field(path, string(fd.Name())), "unsupported field")
	}
	if len(r.GetUnknown()) > 0 {
		p.addf(path, "unknown fields")
	}
}

// field appends a field name to a path.
func field(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// index appends a list index to a path.
func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// joinProblems returns the problems of all resources as one error, nil when
// there are none.
func joinProblems(all []*problems) error {
	var errs []error
	for _, p := range all {
		errs = append(errs, p.errs...)
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
			p.addf("", "duplicate name")
			out = append(out, p)
		}
		seen[n] = true
	}
	return out
}

// missingName is the problem of a resource without a name.
func missingName(kind string) *problems {
	p := newProblems(kind, "")
	p.addf("name", "missing")
	return p
}
