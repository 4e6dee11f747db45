package rbac

import (
	"net/netip"
	"strings"
)

// matcher is a compiled permission or principal.
type matcher interface {
	matches(in *input) bool
}

// anyMatcher is `any: true`.
type anyMatcher struct{}

func (anyMatcher) matches(*input) bool { return true }

// andMatcher is and_rules and and_ids.
type andMatcher []matcher

func (m andMatcher) matches(in *input) bool {
	for _, x := range m {
		if !x.matches(in) {
			return false
		}
	}
	return true
}

// orMatcher is or_rules and or_ids.
type orMatcher []matcher

func (m orMatcher) matches(in *input) bool { return anyMatches(m, in) }

// notMatcher is not_rule and not_id.
type notMatcher struct{ m matcher }

func (m notMatcher) matches(in *input) bool { return !m.m.matches(in) }

// headerMatcher is a HeaderMatcher: present_match, or string_match on the
// header's value (its values joined with ",").
type headerMatcher struct {
	name string // lower case
	// present is set for present_match; want is its value.
	present, want bool
	value         *stringMatcher
}

func (m *headerMatcher) matches(in *input) bool {
	v, ok := in.header(m.name)
	if m.present {
		return ok == m.want
	}
	return ok && m.value.match(v)
}

// pathMatcher is url_path.
type pathMatcher struct{ path *stringMatcher }

func (m pathMatcher) matches(in *input) bool {
	return in.Request != nil && m.path.match(in.urlPath)
}

// portMatcher is destination_port.
type portMatcher uint16

func (m portMatcher) matches(in *input) bool { return in.DestinationPort == uint16(m) }

// authenticatedMatcher is authenticated: a verified peer whose SPIFFE ID
// matches name (any verified peer when name is nil). Plaintext, whose
// PeerID is empty, never matches.
type authenticatedMatcher struct{ name *stringMatcher }

func (m authenticatedMatcher) matches(in *input) bool {
	if in.PeerID == "" {
		return false
	}
	return m.name == nil || m.name.match(in.PeerID)
}

// remoteIPMatcher is direct_remote_ip.
type remoteIPMatcher struct{ prefix netip.Prefix }

func (m remoteIPMatcher) matches(in *input) bool {
	return in.remote.IsValid() && m.prefix.Contains(in.remote)
}

// stringMatcher is a StringMatcher: exact, prefix or suffix, compared
// byte for byte (ASCII case folded with ignore_case). Nothing in it is a
// pattern: "." is a dot.
type stringMatcher struct {
	kind       stringKind
	value      string // lower case when ignoreCase
	ignoreCase bool
}

type stringKind uint8

const (
	exactMatch stringKind = iota
	prefixMatch
	suffixMatch
)

func (m *stringMatcher) match(v string) bool {
	switch m.kind {
	case prefixMatch:
		if len(v) < len(m.value) {
			return false
		}
		v = v[:len(m.value)]
	case suffixMatch:
		if len(v) < len(m.value) {
			return false
		}
		v = v[len(v)-len(m.value):]
	}
	if m.ignoreCase {
		return equalFoldASCII(v, m.value)
	}
	return v == m.value
}

// equalFoldASCII compares v with lower, already lower case, folding only
// ASCII letters as Envoy does (no Unicode folding: "K" is not the Kelvin
// sign).
func equalFoldASCII(v, lower string) bool {
	if len(v) != len(lower) {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// lowerASCII lower-cases ASCII letters only.
func lowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}
