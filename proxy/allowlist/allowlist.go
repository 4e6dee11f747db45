// Package allowlist validates Envoy xDS messages the way the proxy must:
// every populated field that the proxy does not implement is a problem,
// never silently ignored, and every problem names its resource and field
// path (`listener "x": filter_chains[0].filters[1]: unsupported field`), so
// a NACK tells the control plane exactly what to fix. Problems collects all
// of a resource's problems so one update reports them together.
package allowlist

import (
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Problems collects what is wrong with one resource, each rendered as
// `<kind> "<name>": <field path>: <message>`.
type Problems struct {
	kind, name string
	errs       []error
}

// New returns an empty collection for the resource kind and name, e.g.
// New("listener", "inbound|9000").
func New(kind, name string) *Problems { return &Problems{kind: kind, name: name} }

// Addf records a problem at path (empty: the resource itself).
func (p *Problems) Addf(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path == "" {
		p.errs = append(p.errs, fmt.Errorf("%s %q: %s", p.kind, p.name, msg))
		return
	}
	p.errs = append(p.errs, fmt.Errorf("%s %q: %s: %s", p.kind, p.name, path, msg))
}

// Wrap records err, which already describes the problem, at path; err
// stays reachable with errors.Is and errors.As.
func (p *Problems) Wrap(path string, err error) {
	p.errs = append(p.errs, fmt.Errorf("%s %q: %s: %w", p.kind, p.name, path, err))
}

// OnlyFields records every populated field of m that is not in allowed,
// in field-number order, and any unknown fields.
func (p *Problems) OnlyFields(path string, m proto.Message, allowed ...string) {
	r := m.ProtoReflect()
	if !r.IsValid() {
		return
	}
	var unsupported []protoreflect.FieldDescriptor
	r.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if !slices.Contains(allowed, string(fd.Name())) {
			unsupported = append(unsupported, fd)
		}
		return true
	})
	slices.SortFunc(unsupported, func(a, b protoreflect.FieldDescriptor) int { return int(a.Number() - b.Number()) })
	for _, fd := range unsupported {
		p.Addf(Field(path, string(fd.Name())), "unsupported field")
	}
	if len(r.GetUnknown()) > 0 {
		p.Addf(path, "unknown fields")
	}
}

// Len is the number of problems so far; comparing it before and after a
// check tells whether that check found any.
func (p *Problems) Len() int { return len(p.errs) }

// OK reports whether no problem was recorded.
func (p *Problems) OK() bool { return len(p.errs) == 0 }

// Errs returns the problems recorded so far.
func (p *Problems) Errs() []error { return p.errs }

// Err returns every problem joined into one error, nil when there is none.
func (p *Problems) Err() error { return errors.Join(p.errs...) }

// Field appends a field name to a path.
func Field(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// Index appends a list index to a path.
func Index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }
