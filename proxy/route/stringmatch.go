package route

import (
	"regexp"
	"strings"

	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// stringMatcher is a compiled envoy.type.matcher.v3.StringMatcher.
type stringMatcher struct {
	kind       stringMatchKind
	value      string // lower-cased when ignoreCase
	ignoreCase bool
	re         *regexp.Regexp // kind == matchRegex, anchored at both ends
}

type stringMatchKind uint8

const (
	matchExact stringMatchKind = iota
	matchPrefix
	matchSuffix
	matchContains
	matchRegex
)

func (m *stringMatcher) match(v string) bool {
	switch m.kind {
	case matchExact:
		if m.ignoreCase {
			return equalFoldASCII(v, m.value)
		}
		return v == m.value
	case matchPrefix:
		if m.ignoreCase {
			return hasPrefixFoldASCII(v, m.value)
		}
		return strings.HasPrefix(v, m.value)
	case matchSuffix:
		if m.ignoreCase {
			return len(v) >= len(m.value) && equalFoldASCII(v[len(v)-len(m.value):], m.value)
		}
		return strings.HasSuffix(v, m.value)
	case matchContains:
		if m.ignoreCase {
			return strings.Contains(lowerASCII(v), m.value)
		}
		return strings.Contains(v, m.value)
	default:
		return m.re.MatchString(v)
	}
}

// compileStringMatcher compiles sm found at path; nil when it has problems.
func compileStringMatcher(p *problems, path string, sm *matcherv3.StringMatcher) *stringMatcher {
	if sm == nil {
		p.Addf(path, "missing")
		return nil
	}
	p.OnlyFields(path, sm, "exact", "prefix", "suffix", "safe_regex", "contains", "ignore_case")
	m := &stringMatcher{ignoreCase: sm.GetIgnoreCase()}
	switch pat := sm.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		m.kind, m.value = matchExact, pat.Exact
	case *matcherv3.StringMatcher_Prefix:
		m.kind, m.value = matchPrefix, pat.Prefix
	case *matcherv3.StringMatcher_Suffix:
		m.kind, m.value = matchSuffix, pat.Suffix
	case *matcherv3.StringMatcher_Contains:
		m.kind, m.value = matchContains, pat.Contains
	case *matcherv3.StringMatcher_SafeRegex:
		m.kind = matchRegex
		m.re = compileRegex(p, field(path, "safe_regex"), pat.SafeRegex, true)
		if m.ignoreCase {
			p.Addf(field(path, "ignore_case"), "has no effect with safe_regex")
		}
		if m.re == nil {
			return nil
		}
		return m
	case nil:
		p.Addf(path, "one of exact, prefix, suffix, safe_regex or contains is required")
		return nil
	default:
		return nil // reported by onlyFields
	}
	if m.kind != matchExact && m.value == "" {
		p.Addf(path, "empty %s", [...]string{"", "prefix", "suffix", "contains"}[m.kind])
		return nil
	}
	if m.ignoreCase {
		m.value = lowerASCII(m.value)
	}
	return m
}

// compileRegex compiles an RE2 RegexMatcher. With full set the result must
// match a whole value (Envoy's safe_regex semantics); otherwise it is left
// unanchored for substitution. Errors name path.regex and carry Go's
// message about the expression as written.
func compileRegex(p *problems, path string, rm *matcherv3.RegexMatcher, full bool) *regexp.Regexp {
	if rm == nil {
		p.Addf(path, "missing")
		return nil
	}
	p.OnlyFields(path, rm, "regex")
	re, err := regexp.Compile(rm.GetRegex())
	if err != nil {
		p.Wrap(field(path, "regex"), err)
		return nil
	}
	if rm.GetRegex() == "" {
		p.Addf(field(path, "regex"), "empty")
		return nil
	}
	if !full {
		return re
	}
	return regexp.MustCompile(`^(?:` + rm.GetRegex() + `)$`)
}

// lowerASCII lower-cases ASCII letters only, as Envoy does, without
// allocating when there is nothing to change.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// equalFoldASCII compares s with lower, which is already lower-case ASCII,
// ignoring ASCII case in s.
func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func hasPrefixFoldASCII(s, lowerPrefix string) bool {
	return len(s) >= len(lowerPrefix) && equalFoldASCII(s[:len(lowerPrefix)], lowerPrefix)
}
