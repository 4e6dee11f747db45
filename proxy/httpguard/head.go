package httpguard

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"
)

// maxLeadingEmptyLines is how many empty lines ReadRequestHead skips before
// a request line (RFC 9112 §2.2 asks servers to skip at least one).
const maxLeadingEmptyLines = 4

// TargetForm is the form of a request-target (RFC 9112 §3.2).
type TargetForm int

const (
	// OriginForm is an absolute path and optional query: "/a/b?c".
	OriginForm TargetForm = iota
	// AbsoluteForm is an absolute http or https URI.
	AbsoluteForm
	// AuthorityForm is host:port, only with CONNECT.
	AuthorityForm
	// AsteriskForm is "*", only with OPTIONS.
	AsteriskForm
)

// RequestHead is a validated HTTP/1.x request line and header section.
type RequestHead struct {
	// Method is the request method, a token, case preserved.
	Method string
	// Target is the request-target exactly as received.
	Target string
	// Form is the form of Target.
	Form TargetForm
	// Scheme is "http" or "https" for AbsoluteForm, otherwise empty.
	Scheme string
	// Path is the origin-form path and query for OriginForm and
	// AbsoluteForm ("/" when an absolute URI has an empty path), and empty
	// otherwise. NormalizeTarget rewrites it; NewRequest sends it.
	Path string
	// Proto is "HTTP/1.1" or "HTTP/1.0".
	Proto      string
	ProtoMajor int
	ProtoMinor int
	// Host is the authority the request is for: the Host field, or the
	// authority of an AbsoluteForm or AuthorityForm target, which overrides
	// the Host field (RFC 9112 §3.2.2). It is removed from Header.
	Host string
	// Header holds the fields with canonical keys, values trimmed of
	// surrounding whitespace, in order of arrival. A Content-Length is
	// collapsed to a single value. Hop-by-hop fields are still present:
	// routing may need them; strip them with StripHopByHop afterwards.
	Header http.Header
	// ContentLength is the body length, 0 when the request has no body and
	// -1 when the body is chunked.
	ContentLength int64
	// Chunked reports Transfer-Encoding: chunked.
	Chunked bool
	// Close reports that the client asked to close the connection after
	// this request (Connection: close, or HTTP/1.0 without keep-alive).
	Close bool
}

// ReadRequestHead reads and validates one request line and header section
// from r, leaving r at the first byte of the body. Limits with zero fields
// take defaults.
//
// Any violation is a *HeadError carrying the status to answer with, after
// which the connection must be closed. It returns io.EOF when the reader
// ends cleanly before a request starts, io.ErrUnexpectedEOF when it ends
// inside one, and read errors (such as deadlines) wrapped.
func ReadRequestHead(r *bufio.Reader, lim Limits) (*RequestHead, error) {
	lim = lim.orDefault()
	line, err := readRequestLine(r, lim)
	if err != nil {
		return nil, err
	}
	h, err := parseRequestLine(line)
	if err != nil {
		return nil, err
	}
	if h.Header, err = readFields(r, lim); err != nil {
		return nil, err
	}
	if err := h.resolveHost(); err != nil {
		return nil, err
	}
	if err := h.resolveFraming(); err != nil {
		return nil, err
	}
	if err := h.resolveConnection(); err != nil {
		return nil, err
	}
	return h, nil
}

// readRequestLine reads the request line, skipping a few empty lines.
func readRequestLine(r *bufio.Reader, lim Limits) (string, error) {
	for range maxLeadingEmptyLines + 1 {
		line, err := readLine(r, lim.MaxRequestLineBytes)
		if errors.Is(err, errLineTooLong) {
			return "", &HeadError{Status: http.StatusRequestURITooLong, Reason: "request line too long"}
		}
		if err != nil || line != "" {
			return line, err
		}
	}
	return "", badRequest("too many empty lines before request line")
}

// readFields reads field lines up to the empty line ending the section,
// enforcing the count and size limits. It serves headers and trailers.
func readFields(r *bufio.Reader, lim Limits) (http.Header, error) {
	h := make(http.Header)
	budget := lim.MaxHeaderBytes
	for count := 0; ; count++ {
		line, err := readLine(r, budget)
		if errors.Is(err, errLineTooLong) {
			return nil, tooLarge("header section too large")
		}
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
		budget -= len(line) + 2
		if line == "" {
			return h, nil
		}
		if count == lim.MaxHeaderCount {
			return nil, tooLarge("too many header fields")
		}
		name, value, err := parseField(line)
		if err != nil {
			return nil, err
		}
		key := http.CanonicalHeaderKey(name)
		h[key] = append(h[key], value)
	}
}

// parseField splits and validates one field line (RFC 9112 §5).
func parseField(line string) (name, value string, err error) {
	if isOWS(line[0]) {
		return "", "", badRequest("obsolete line folding or leading whitespace")
	}
	name, value, ok := strings.Cut(line, ":")
	if !ok {
		return "", "", badRequest("field line without colon")
	}
	if name != "" && isOWS(name[len(name)-1]) {
		return "", "", badRequest("whitespace before colon")
	}
	if !isToken(name) {
		return "", "", badRequest("invalid field name")
	}
	value = trimOWS(value)
	for i := 0; i < len(value); i++ {
		if !isFieldValueByte(value[i]) {
			return "", "", badRequest("control byte in field value")
		}
	}
	return name, value, nil
}
