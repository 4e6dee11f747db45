package route

import (
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// problems collects everything wrong with one RouteConfiguration, each as
// `route_config "<name>": <field path>: <message>`, so one Compile reports
// all of them at once.
type problems struct {
	name string
	errs []error
}

func (p *problems) addf(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path == "" {
		p.errs = append(p.errs, fmt.Errorf("route_config %q: %s", p.name, msg))
		return
	}
	p.errs = append(p.errs, fmt.Errorf("route_config %q: %s: %s", p.name, path, msg))
}

// wrap records err (already describing the problem) under path, keeping it
// reachable with errors.Is/As.
func (p *problems) wrap(path string, err error) {
	p.errs = append(p.errs, fmt.Errorf("route_config %q: %s: %w", p.name, path, err))
}

func (p *problems) err() error { return errors.Join(p.errs...) }

// onlyFields reports every populated field of m that is not in allowed, in
// field-number order, and unknown fields: anything this package does not
// implement is refused rather than silently ignored.
func (p *problems) onlyFields(path string, m proto.Message, allowed ...string) {
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
