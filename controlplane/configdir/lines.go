package configdir

import (
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fieldPath is the path of a field within a document, written as
// Kubernetes writes them: "spec.ports[0].port", with keys that are not
// plain identifiers quoted: metadata.labels["app.kubernetes.io/name"].
type fieldPath string

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func (p fieldPath) key(k string) fieldPath {
	if !plainKey.MatchString(k) {
		return p + fieldPath("["+strconv.Quote(k)+"]")
	}
	if p == "" {
		return fieldPath(k)
	}
	return p + "." + fieldPath(k)
}

func (p fieldPath) index(i int) fieldPath {
	return p + fieldPath("["+strconv.Itoa(i)+"]")
}

// segment is one step of a fieldPath: a mapping key, or a sequence index
// when isIndex is set.
type segment struct {
	key     string
	index   int
	isIndex bool
}

// segments splits a path into its steps. It stops at the first part it
// cannot parse; the steps before it still locate an ancestor.
func (p fieldPath) segments() []segment {
	var segs []segment
	s := string(p)
	for s != "" {
		switch {
		case strings.HasPrefix(s, "[\""):
			q, err := strconv.QuotedPrefix(s[1:])
			if err != nil || !strings.HasPrefix(s[1+len(q):], "]") {
				return segs
			}
			k, _ := strconv.Unquote(q) // QuotedPrefix vouched for it
			segs = append(segs, segment{key: k})
			s = s[len(q)+2:]
		case strings.HasPrefix(s, "["):
			end := strings.IndexByte(s, ']')
			i, err := strconv.Atoi(s[1:max(end, 1)])
			if end < 0 || err != nil {
				return segs
			}
			segs = append(segs, segment{index: i, isIndex: true})
			s = s[end+1:]
		default:
			s = strings.TrimPrefix(s, ".")
			end := strings.IndexAny(s, ".[")
			if end < 0 {
				end = len(s)
			}
			segs = append(segs, segment{key: s[:end]})
			s = s[end:]
		}
	}
	return segs
}

// lineOf returns the line of the field at path within root: the line of
// its key for a mapping entry, of the item for a sequence entry. When the
// path leads nowhere (a missing field), it returns the line of the deepest
// ancestor that exists, and root's line when there is none. A key step
// that meets a sequence looks into the first item that has the key, so
// that paths without indices still find a line.
func lineOf(root *yaml.Node, path fieldPath) int {
	line := root.Line
	n := root
	for _, seg := range path.segments() {
		next, l := step(deref(n), seg)
		if next == nil {
			break
		}
		n, line = next, l
	}
	return line
}

// step takes one step down from n, returning the node reached and the line
// to report for it, or nil when n has no such child.
func step(n *yaml.Node, seg segment) (*yaml.Node, int) {
	switch {
	case seg.isIndex && n.Kind == yaml.SequenceNode:
		if seg.index < 0 || seg.index >= len(n.Content) {
			return nil, 0
		}
		item := n.Content[seg.index]
		return item, item.Line
	case !seg.isIndex && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == seg.key {
				return n.Content[i+1], k.Line
			}
		}
	case !seg.isIndex && n.Kind == yaml.SequenceNode:
		for _, item := range n.Content {
			if next, line := step(deref(item), seg); next != nil {
				return next, line
			}
		}
	}
	return nil, 0
}

// deref follows an alias to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// scalarField returns the value of a top-level scalar field of a mapping,
// and whether it is present.
func scalarField(root *yaml.Node, key string) (string, bool) {
	n, _ := step(root, segment{key: key})
	if n == nil {
		return "", false
	}
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return "", false
	}
	return n.Value, true
}

// duplicateKeys reports every mapping key that repeats an earlier key of
// the same mapping. YAML forbids them, but yaml.v3 only notices when it
// decodes into Go values, and the JSON conversion would keep the last one
// silently. Aliases are not followed: the node they name is checked where
// it is defined.
func duplicateKeys(n *yaml.Node, path fieldPath, report func(Problem)) {
	switch n.Kind {
	case yaml.MappingNode:
		first := make(map[string]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				report(Problem{Line: k.Line, Field: string(path), Reason: "mapping keys must be scalars"})
				continue
			}
			if line, ok := first[k.Value]; ok {
				report(Problem{
					Line:   k.Line,
					Field:  string(path.key(k.Value)),
					Reason: "duplicate key (first at line " + strconv.Itoa(line) + ")",
				})
				continue
			}
			first[k.Value] = k.Line
			duplicateKeys(v, path.key(k.Value), report)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			duplicateKeys(item, path.index(i), report)
		}
	}
}
