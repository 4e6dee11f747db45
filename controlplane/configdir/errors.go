package configdir

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Error lists every problem found in a configuration directory. Load
// returns it (as *Error) when the directory was read but its content is
// not a valid mesh.
type Error struct {
	Problems []Problem
}

// Problem is one thing wrong with one document.
type Problem struct {
	// File is the file's name within the directory.
	File string
	// Line is the 1-based line of the offending field, or of the document
	// when the field is absent; 0 when unknown.
	Line int
	// Field is the path of the offending field, such as
	// "spec.ports[0].port"; empty for problems with the document as a whole.
	Field string
	// Reason says what is wrong.
	Reason string
}

// String renders the problem as "file:line: field: reason", leaving out
// the parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Reason)
	return b.String()
}

// Error renders one problem per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems by file, line, field and reason, so that
// errors read top to bottom and compare equal between runs.
func sortProblems(ps []Problem) {
	slices.SortFunc(ps, func(a, b Problem) int {
		return cmp.Or(
			strings.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			strings.Compare(a.Field, b.Field),
			strings.Compare(a.Reason, b.Reason),
		)
	})
}
