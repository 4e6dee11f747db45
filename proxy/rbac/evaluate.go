package rbac

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/weftmesh/weft/proxy/httpguard"
)

// Action is what an RBAC filter does when one of its policies matches.
type Action int

// Actions, as envoy.config.rbac.v3.RBAC.Action.
const (
	// Allow admits a request only when one of its policies matches.
	Allow Action = iota
	// Deny refuses a request when one of its policies matches.
	Deny
	// Log admits every request and records the policies that match.
	Log
)

func (a Action) String() string {
	switch a {
	case Allow:
		return "ALLOW"
	case Deny:
		return "DENY"
	case Log:
		return "LOG"
	}
	return "UNKNOWN"
}

// Reasons of a Decision.
const (
	// ReasonDenied is a request a DENY policy matched; Decision.Policy
	// is its key.
	ReasonDenied = "denied"
	// ReasonNotAllowed is a request no policy of an ALLOW filter matched.
	ReasonNotAllowed = "not_allowed"
	// ReasonAllowed is a request an ALLOW policy matched; Decision.Policy
	// is its key.
	ReasonAllowed = "allowed"
)

// Input is what a decision is made on.
type Input struct {
	// PeerID is the verified SPIFFE ID of the downstream peer, "" for
	// plaintext: it then matches no authenticated principal.
	PeerID string
	// RemoteIP is the downstream address (direct_remote_ip).
	RemoteIP netip.Addr
	// DestinationPort is the local port the connection was accepted on.
	DestinationPort uint16
	// Request is the HTTP request; nil for a TCP connection.
	Request *Request
}

// Request is the HTTP part of an Input.
type Request struct {
	Method    string
	Authority string
	// Path is the normalized request target (httpguard.NormalizePath),
	// query included; url_path matches it without the query and without
	// path parameters.
	Path   string
	Header http.Header
}

// Decision is the outcome of a Chain.
type Decision struct {
	Allowed bool
	// Reason is ReasonDenied or ReasonNotAllowed when Allowed is false,
	// ReasonAllowed when an ALLOW policy admitted the request, "" when no
	// ALLOW or DENY filter decided.
	Reason string
	// Policy is the key of the DENY policy that denied, or of the ALLOW
	// policy that admitted; "" otherwise.
	Policy string
	// Audited are the keys of the LOG policies that matched, in order.
	Audited []string
}

// Filter is one compiled RBAC filter. It is immutable and safe for
// concurrent use.
type Filter struct {
	action Action
	// policies are sorted by key, the order Envoy evaluates them in.
	policies []policy
}

// Action is the filter's action.
func (f *Filter) Action() Action { return f.action }

// policy is a compiled envoy.config.rbac.v3.Policy: it matches when one
// of its permissions and one of its principals match.
type policy struct {
	key         string
	permissions []matcher
	principals  []matcher
}

func (p *policy) matches(in *input) bool {
	return anyMatches(p.permissions, in) && anyMatches(p.principals, in)
}

// Chain is the RBAC filters of one filter chain, in the order received. A
// nil or empty Chain allows everything. It is immutable once built and
// safe for concurrent use.
type Chain struct {
	filters []*Filter
}

// Len is the number of filters in the chain.
func (c *Chain) Len() int {
	if c == nil {
		return 0
	}
	return len(c.filters)
}

// Evaluate decides on in as Envoy's filter chain would: filters run in
// order, a LOG filter adds the keys of its matching policies to Audited,
// the first DENY match or ALLOW miss ends the chain with a denial.
func (c *Chain) Evaluate(in *Input) Decision {
	d := Decision{Allowed: true}
	if c == nil || len(c.filters) == 0 {
		return d
	}
	ev := newInput(in)
	for _, f := range c.filters {
		switch f.action {
		case Log:
			for i := range f.policies {
				if f.policies[i].matches(ev) {
					d.Audited = append(d.Audited, f.policies[i].key)
				}
			}
		case Deny:
			if key, ok := f.first(ev); ok {
				d.Allowed, d.Reason, d.Policy = false, ReasonDenied, key
				return d
			}
		case Allow:
			key, ok := f.first(ev)
			if !ok {
				d.Allowed, d.Reason, d.Policy = false, ReasonNotAllowed, ""
				return d
			}
			d.Reason, d.Policy = ReasonAllowed, key
		}
	}
	return d
}

// first returns the key of the first policy that matches.
func (f *Filter) first(in *input) (string, bool) {
	for i := range f.policies {
		if f.policies[i].matches(in) {
			return f.policies[i].key, true
		}
	}
	return "", false
}

// input is an Input with what matchers need computed once.
type input struct {
	*Input
	remote netip.Addr
	// urlPath is the request path without query and path parameters.
	urlPath string
}

func newInput(in *Input) *input {
	ev := &input{Input: in, remote: in.RemoteIP.Unmap()}
	if in.Request != nil {
		ev.urlPath = URLPath(in.Request.Path)
	}
	return ev
}

// URLPath is the path url_path permissions match: target without its
// query, and with the parameters of every segment (from ';' to the next
// '/') removed, so "/admin;x=y?q" is "/admin"; the result is normalized
// again, so "/.;x/admin" is "/admin" too.
func URLPath(target string) string {
	path, _, _ := strings.Cut(target, "?")
	if !strings.Contains(path, ";") {
		return path
	}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		segs[i], _, _ = strings.Cut(seg, ";")
	}
	stripped := strings.Join(segs, "/")
	// "/.;x/admin" and "/;x/admin" are "/admin" once their parameters
	// are gone: normalize again, as a server that drops parameters would.
	if norm, err := httpguard.NormalizePath(stripped, httpguard.PathOptions{}); err == nil {
		return norm
	}
	return stripped
}

// header returns the value of a request header for matching: the
// pseudo-headers :method, :authority (also "host") and :path, or the
// values of a header joined with ","; false when it is absent or the
// input has no request.
func (in *input) header(name string) (string, bool) {
	r := in.Request
	if r == nil {
		return "", false
	}
	switch name {
	case ":method":
		return r.Method, r.Method != ""
	case ":authority", "host":
		return r.Authority, r.Authority != ""
	case ":path":
		return r.Path, r.Path != ""
	}
	vs := r.Header.Values(name)
	if len(vs) == 0 {
		return "", false
	}
	return strings.Join(vs, ","), true
}

func anyMatches(ms []matcher, in *input) bool {
	for _, m := range ms {
		if m.matches(in) {
			return true
		}
	}
	return false
}
