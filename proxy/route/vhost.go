package route

import (
	"slices"
	"strings"
)

// vhostIndex finds the virtual host for an authority with Envoy's
// precedence: exact domain, then the longest suffix wildcard (`*.foo.com`,
// `*-bar.foo.com`), then the longest prefix wildcard (`foo.*`), then `*`.
// A wildcard stands for at least one character. Domains are compared
// case-insensitively.
type vhostIndex struct {
	exact  map[string]*virtualHost
	suffix []wildcardSet // longest first
	prefix []wildcardSet // longest first
	any    *virtualHost
	// ignorePort strips the port before any lookup (RouteConfiguration
	// ignore_port_in_host_matching).
	ignorePort bool
}

// wildcardSet holds the wildcard domains whose fixed part has length n.
type wildcardSet struct {
	n       int
	domains map[string]*virtualHost
}

func (ix *vhostIndex) add(domain string, vh *virtualHost) {
	switch {
	case domain == "*":
		ix.any = vh
	case strings.HasPrefix(domain, "*"):
		ix.suffix = addWildcard(ix.suffix, domain[1:], vh)
	case strings.HasSuffix(domain, "*"):
		ix.prefix = addWildcard(ix.prefix, domain[:len(domain)-1], vh)
	default:
		ix.exact[domain] = vh
	}
}

func addWildcard(sets []wildcardSet, fixed string, vh *virtualHost) []wildcardSet {
	i, found := slices.BinarySearchFunc(sets, len(fixed), func(s wildcardSet, n int) int { return n - s.n })
	if !found {
		sets = slices.Insert(sets, i, wildcardSet{n: len(fixed), domains: map[string]*virtualHost{}})
	}
	sets[i].domains[fixed] = vh
	return sets
}

// find returns the virtual host for authority, or nil. When the authority
// carries a port, each tier is tried first with the whole authority (so a
// domain written with a port matches it) and then without the port (so a
// domain without a port matches any port), which is what Envoy does with
// the HTTP connection manager's port stripping.
func (ix *vhostIndex) find(authority string) *virtualHost {
	host := lowerASCII(authority)
	bare := host
	if i := portStart(host); i >= 0 {
		bare = host[:i]
		if ix.ignorePort {
			host = bare
		}
	}
	if vh := ix.exact[host]; vh != nil {
		return vh
	}
	if vh := ix.exact[bare]; vh != nil {
		return vh
	}
	if vh := findWildcard(ix.suffix, host, bare, true); vh != nil {
		return vh
	}
	if vh := findWildcard(ix.prefix, host, bare, false); vh != nil {
		return vh
	}
	return ix.any
}

func findWildcard(sets []wildcardSet, host, bare string, suffix bool) *virtualHost {
	for _, s := range sets {
		for _, h := range [2]string{host, bare} {
			if len(h) <= s.n {
				continue
			}
			key := h[:s.n]
			if suffix {
				key = h[len(h)-s.n:]
			}
			if vh := s.domains[key]; vh != nil {
				return vh
			}
		}
	}
	return nil
}

// portStart returns the index of the ':' that starts the port of an
// authority, or -1; a bracketed IPv6 literal without a port has none.
func portStart(host string) int {
	i := strings.LastIndexByte(host, ':')
	if i < 0 {
		return -1
	}
	if j := strings.LastIndexByte(host, ']'); j > i {
		return -1
	}
	return i
}

// checkDomain reports why domain is not a valid virtual host domain, or "".
func checkDomain(domain string) string {
	switch {
	case domain == "":
		return "empty domain"
	case domain == "*":
		return ""
	case strings.Count(domain, "*") > 1,
		strings.Contains(domain, "*") && domain[0] != '*' && domain[len(domain)-1] != '*':
		return "a wildcard must be the whole domain, its first or its last character"
	case strings.ContainsAny(domain, " \t\r\n/"):
		return "invalid character"
	}
	return ""
}
