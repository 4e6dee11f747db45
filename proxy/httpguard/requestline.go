package httpguard

import (
	"net/http"
	"strings"
)

// parseRequestLine parses method SP request-target SP HTTP-version, with
// exactly one space between the parts (RFC 9112 §3).
func parseRequestLine(line string) (*RequestHead, error) {
	method, rest, ok1 := strings.Cut(line, " ")
	target, version, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 {
		return nil, badRequest("malformed request line")
	}
	if !isToken(method) {
		return nil, badRequest("invalid method")
	}
	h := &RequestHead{Method: method, Target: target}
	if err := h.parseVersion(version); err != nil {
		return nil, err
	}
	if err := h.parseTarget(); err != nil {
		return nil, err
	}
	return h, nil
}

// parseVersion accepts HTTP/1.0 and HTTP/1.1, answers other well-formed
// versions with 505 and anything else with 400.
func (h *RequestHead) parseVersion(v string) error {
	if len(v) != len("HTTP/1.1") || !strings.HasPrefix(v, "HTTP/") || v[6] != '.' ||
		!isDigit(v[5]) || !isDigit(v[7]) {
		return badRequest("malformed HTTP version")
	}
	if v != "HTTP/1.1" && v != "HTTP/1.0" {
		return &HeadError{Status: http.StatusHTTPVersionNotSupported, Reason: "unsupported HTTP version " + v}
	}
	h.Proto, h.ProtoMajor, h.ProtoMinor = v, 1, int(v[7]-'0')
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseTarget validates the request-target and classifies its form
// (RFC 9112 §3.2).
func (h *RequestHead) parseTarget() error {
	t := h.Target
	if t == "" {
		return badRequest("empty request target")
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c >= 0x7f {
			return badRequest("invalid byte in request target")
		}
		if t[i] == '#' {
			return badRequest("fragment in request target")
		}
	}
	switch {
	case h.Method == http.MethodConnect:
		if !validAuthority(t) || !strings.Contains(t, ":") {
			return badRequest("CONNECT target is not host:port")
		}
		h.Form, h.Host = AuthorityForm, t
	case t == "*":
		if h.Method != http.MethodOptions {
			return badRequest("asterisk target without OPTIONS")
		}
		h.Form = AsteriskForm
	case t[0] == '/':
		h.Form, h.Path = OriginForm, t
	default:
		return h.parseAbsolute()
	}
	return nil
}

// parseAbsolute splits an absolute-form http or https target into scheme,
// authority and origin-form path.
func (h *RequestHead) parseAbsolute() error {
	scheme, rest, ok := strings.Cut(h.Target, "://")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "http" && scheme != "https") {
		return badRequest("request target is not origin-form or an http(s) URI")
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority, path := rest[:end], rest[end:]
	if !validAuthority(authority) {
		return badRequest("invalid authority in request target")
	}
	if path == "" || path[0] == '?' {
		path = "/" + path
	}
	h.Form, h.Scheme, h.Host, h.Path = AbsoluteForm, scheme, authority, path
	return nil
}

// validAuthority reports whether s is a non-empty host[:port] made of the
// characters RFC 3986 allows in a host (reg-name, IP literal) and a port.
// Userinfo ("@") is refused (RFC 9110 §4.2.4).
func validAuthority(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			continue
		}
		switch c {
		case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '[', ']', '%':
			continue
		}
		return false
	}
	return true
}
