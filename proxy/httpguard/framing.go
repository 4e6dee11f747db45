package httpguard

import (
	"net/http"
	"strconv"
	"strings"
)

// resolveHost applies RFC 9112 §3.2: exactly one valid Host field in
// HTTP/1.1, overridden by an authority in the request target.
func (h *RequestHead) resolveHost() error {
	hosts := h.Header["Host"]
	delete(h.Header, "Host")
	switch {
	case len(hosts) > 1:
		return badRequest("more than one Host field")
	case len(hosts) == 0 && h.ProtoMinor == 1:
		return badRequest("missing Host field")
	case len(hosts) == 1 && !validAuthority(hosts[0]):
		return badRequest("invalid Host field")
	}
	if h.Host == "" && len(hosts) == 1 {
		h.Host = hosts[0]
	}
	return nil
}

// resolveFraming decides how the body is delimited (RFC 9112 §6), refusing
// every ambiguity a front end and a back end could read differently.
func (h *RequestHead) resolveFraming() error {
	te, hasTE := h.Header["Transfer-Encoding"]
	cl, hasCL := h.Header["Content-Length"]
	switch {
	case hasTE && hasCL:
		return badRequest("both Transfer-Encoding and Content-Length")
	case hasTE:
		if h.ProtoMinor == 0 {
			return badRequest("Transfer-Encoding in an HTTP/1.0 request")
		}
		if err := checkTransferCoding(te); err != nil {
			return err
		}
		h.Chunked, h.ContentLength = true, -1
	case hasCL:
		n, err := parseContentLength(cl)
		if err != nil {
			return err
		}
		h.ContentLength = n
		h.Header["Content-Length"] = []string{strconv.FormatInt(n, 10)}
	}
	return nil
}

// checkTransferCoding accepts exactly one coding, "chunked", as the whole
// Transfer-Encoding. A list whose final coding is not chunked, or that
// applies chunked twice, is malformed (400); any other coding before
// chunked is not implemented by the proxy (501).
func checkTransferCoding(values []string) error {
	codings := splitList(values)
	if codings == nil {
		return badRequest("malformed Transfer-Encoding list")
	}
	for i, c := range codings {
		if !isToken(c) {
			return badRequest("malformed transfer coding")
		}
		chunked := strings.EqualFold(c, "chunked")
		last := i == len(codings)-1
		switch {
		case last && !chunked:
			return badRequest("final transfer coding is not chunked")
		case !last && chunked:
			return badRequest("chunked applied more than once")
		case !chunked:
			return &HeadError{Status: http.StatusNotImplemented, Reason: "unsupported transfer coding " + c}
		}
	}
	return nil
}

// parseContentLength parses one or more Content-Length values, each
// possibly a list, which must all be the same decimal number
// (RFC 9110 §8.6).
func parseContentLength(values []string) (int64, error) {
	elems := splitList(values)
	if elems == nil {
		return 0, badRequest("malformed Content-Length list")
	}
	n := int64(-1)
	for _, e := range elems {
		v, ok := parseDecimal(e)
		if !ok {
			return 0, badRequest("invalid Content-Length")
		}
		if n >= 0 && v != n {
			return 0, badRequest("differing Content-Length values")
		}
		n = v
	}
	return n, nil
}

// parseDecimal parses 1*DIGIT into a non-negative int64, refusing signs,
// spaces and overflow.
func parseDecimal(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		// Leading zeros beyond 19 digits are refused too: no real client
		// sends them, and a bound keeps the loop short.
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		d := int64(s[i] - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// splitList splits comma-separated list values into trimmed elements,
// returning nil when any element is empty (strictly, "a,,b" and a trailing
// comma are refused).
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for e := range strings.SplitSeq(v, ",") {
			e = trimOWS(e)
			if e == "" {
				return nil
			}
			out = append(out, e)
		}
	}
	return out
}

// resolveConnection sets Close from the Connection field and the version.
func (h *RequestHead) resolveConnection() error {
	conn, has := h.Header["Connection"]
	var options []string
	if has {
		if options = splitList(conn); options == nil {
			return badRequest("malformed Connection list")
		}
	}
	keepAlive := false
	for _, o := range options {
		if !isToken(o) {
			return badRequest("invalid Connection option")
		}
		switch {
		case strings.EqualFold(o, "close"):
			h.Close = true
		case strings.EqualFold(o, "keep-alive"):
			keepAlive = true
		}
	}
	if h.ProtoMinor == 0 && !keepAlive {
		h.Close = true
	}
	return nil
}
