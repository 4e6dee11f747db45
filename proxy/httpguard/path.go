package httpguard

import (
	"fmt"
	"strings"
)

// EscapedSlashAction says what NormalizePath does with the escaped slash
// sequences %2F, %2f, %5C and %5c in a path. It mirrors the subset of
// Envoy's HttpConnectionManager.PathWithEscapedSlashesAction that does not
// change what the path means: escaped slashes are never unescaped, since an
// upstream that decodes them would see a different path than the one
// routing and authorization saw.
type EscapedSlashAction int

const (
	// RejectEscapedSlashes fails the request with 400, like Envoy's
	// REJECT_REQUEST. It is the zero value, hence the default.
	RejectEscapedSlashes EscapedSlashAction = iota
	// KeepEscapedSlashes keeps the sequences escaped (upper-cased, as %2F and
	// %5C), like Envoy's KEEP_UNCHANGED: they are data, not separators.
	KeepEscapedSlashes
)

// PathOptions configures NormalizePath. The zero value is the strict
// default: adjacent slashes merged, escaped slashes rejected.
type PathOptions struct {
	// KeepAdjacentSlashes turns slash merging off (Envoy's merge_slashes
	// false). Merging is on by default: "//a///b" becomes "/a/b".
	KeepAdjacentSlashes bool
	// EscapedSlashes says what to do with %2F and %5C; zero rejects them.
	EscapedSlashes EscapedSlashAction
}

// Validate reports an EscapedSlashes value that names no action.
func (o PathOptions) Validate() error {
	if o.EscapedSlashes != RejectEscapedSlashes && o.EscapedSlashes != KeepEscapedSlashes {
		return fmt.Errorf("escapedSlashes: unknown action %d", o.EscapedSlashes)
	}
	return nil
}

// NormalizePath returns the normalized form of an origin-form request target
// (a path and an optional query), which routing, authorization and the
// upstream must all use, so that no two of them interpret the path
// differently. It applies, in order:
//
//  1. percent-decoding of escaped unreserved characters (RFC 3986 §6.2.2.2)
//     and upper-casing of every other escape (§6.2.2.1); bytes not allowed
//     in a path (for example '"', '{' or non-ASCII) are percent-encoded;
//  2. removal of "." and ".." segments (RFC 3986 §5.2.4), after step 1, so
//     "%2e%2e" counts as "..";
//  3. merging of adjacent slashes, unless opts.KeepAdjacentSlashes.
//
// Like Envoy's normalize_path, it does not case-fold the path. The query,
// from the first '?', is returned untouched. It fails with a 400
// [*HeadError] for an empty or relative path, a malformed escape, an
// escaped NUL, a literal backslash, a fragment, control bytes or spaces
// anywhere, and escaped slashes unless opts keeps them.
//
// Envoy's UNESCAPE_AND_FORWARD and UNESCAPE_AND_REDIRECT actions are left
// out on purpose, and a literal backslash is refused outright rather than
// passed on, since some upstream servers treat it as a separator.
//
// NormalizePath is idempotent: NormalizePath(NormalizePath(x)) equals
// NormalizePath(x), so applying it twice by mistake changes nothing.
func NormalizePath(raw string, opts PathOptions) (string, error) {
	path, query, hasQuery := strings.Cut(raw, "?")
	if path == "" || path[0] != '/' {
		return "", badRequest("path does not start with /")
	}
	if hasQuery {
		for i := 0; i < len(query); i++ {
			if c := query[i]; isCTL(c) || c == ' ' || c == '#' {
				return "", badRequest("control byte, space or fragment in query")
			}
		}
	}
	if isNormalPath(path, !opts.KeepAdjacentSlashes) {
		return raw, nil
	}
	decoded, err := decodePath(path, opts.EscapedSlashes)
	if err != nil {
		return "", err
	}
	out := removeDotSegments(decoded)
	if !opts.KeepAdjacentSlashes {
		out = mergeSlashes(out)
	}
	if hasQuery {
		out += "?" + query
	}
	return out, nil
}

// isNormalPath reports whether NormalizePath would return path unchanged
// because it has no escapes, no bytes to encode or reject, no dot segments
// and, when merging, no adjacent slashes. It keeps the common case free of
// allocations.
func isNormalPath(path string, merge bool) bool {
	segStart := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			if !isPathByte(path[i]) {
				return false
			}
			continue
		}
		seg := path[segStart:i]
		if seg == "." || seg == ".." {
			return false
		}
		if merge && seg == "" && i > 0 && i < len(path) {
			return false // "//" inside the path
		}
		segStart = i + 1
	}
	return true
}

// decodePath performs step 1 of NormalizePath.
func decodePath(path string, escaped EscapedSlashAction) (string, error) {
	var b strings.Builder
	b.Grow(len(path))
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '%':
			if i+2 >= len(path) {
				return "", badRequest("malformed percent-encoding in path")
			}
			hi, ok1 := unhex(path[i+1])
			lo, ok2 := unhex(path[i+2])
			if !ok1 || !ok2 {
				return "", badRequest("malformed percent-encoding in path")
			}
			v := hi<<4 | lo
			i += 2
			switch {
			case v == 0:
				return "", badRequest("encoded NUL in path")
			case v == '/' || v == '\\':
				if escaped != KeepEscapedSlashes {
					return "", badRequest("encoded slash or backslash in path")
				}
				writeEscape(&b, v)
			case isUnreserved(v):
				b.WriteByte(v)
			default:
				writeEscape(&b, v)
			}
		case c == '\\':
			return "", badRequest("backslash in path")
		case c == '#':
			return "", badRequest("fragment in request target")
		case isCTL(c) || c == ' ':
			return "", badRequest("control byte or space in path")
		case isPathByte(c):
			b.WriteByte(c)
		default:
			writeEscape(&b, c)
		}
	}
	return b.String(), nil
}

func writeEscape(b *strings.Builder, v byte) {
	b.WriteByte('%')
	b.WriteByte(upperHex[v>>4])
	b.WriteByte(upperHex[v&0xf])
}

// removeDotSegments applies RFC 3986 §5.2.4 to an absolute path.
func removeDotSegments(path string) string {
	segs := strings.Split(path[1:], "/")
	out := make([]string, 0, len(segs))
	trailing := false
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			trailing = last
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			trailing = last
		default:
			out = append(out, s)
		}
	}
	res := "/" + strings.Join(out, "/")
	if trailing && len(out) > 0 {
		res += "/"
	}
	return res
}

// mergeSlashes collapses every run of slashes into one.
func mergeSlashes(path string) string {
	if !strings.Contains(path, "//") {
		return path
	}
	var b strings.Builder
	b.Grow(len(path))
	for i := 0; i < len(path); i++ {
		if path[i] == '/' && i > 0 && path[i-1] == '/' {
			continue
		}
		b.WriteByte(path[i])
	}
	return b.String()
}
