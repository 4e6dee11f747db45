package httpguard

import (
	"errors"
	"fmt"
)

// Default limits. They follow Envoy's defaults where Envoy has one
// (max_request_headers_kb 60, max_headers_count 100) and Go's net/http
// otherwise.
const (
	DefaultMaxRequestLineBytes = 8 << 10
	DefaultMaxHeaderCount      = 100
	DefaultMaxHeaderBytes      = 60 << 10
	DefaultMaxChunkLineBytes   = 4 << 10
)

// Limits bounds what ReadRequestHead and the ChunkedReader accept. A zero
// field takes its default; see [DefaultLimits].
type Limits struct {
	// MaxRequestLineBytes bounds the request line, CRLF included; a longer
	// one is answered with 414.
	MaxRequestLineBytes int
	// MaxHeaderCount bounds the number of header (and trailer) field lines;
	// more are answered with 431.
	MaxHeaderCount int
	// MaxHeaderBytes bounds the header section (or trailer section) after
	// the request line, CRLFs included; a larger one is answered with 431.
	MaxHeaderBytes int
	// MaxChunkLineBytes bounds one chunk-size line of a chunked body,
	// extensions and CRLF included; a longer one is answered with 400.
	MaxChunkLineBytes int
}

// DefaultLimits returns the limits used for zero fields.
func DefaultLimits() Limits {
	return Limits{
		MaxRequestLineBytes: DefaultMaxRequestLineBytes,
		MaxHeaderCount:      DefaultMaxHeaderCount,
		MaxHeaderBytes:      DefaultMaxHeaderBytes,
		MaxChunkLineBytes:   DefaultMaxChunkLineBytes,
	}
}

// Validate reports a negative limit, naming the field.
func (l Limits) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{
		{"maxRequestLineBytes", l.MaxRequestLineBytes},
		{"maxHeaderCount", l.MaxHeaderCount},
		{"maxHeaderBytes", l.MaxHeaderBytes},
		{"maxChunkLineBytes", l.MaxChunkLineBytes},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, got %d", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}

// orDefault returns l with every zero or negative field set to its default.
func (l Limits) orDefault() Limits {
	d := DefaultLimits()
	if l.MaxRequestLineBytes <= 0 {
		l.MaxRequestLineBytes = d.MaxRequestLineBytes
	}
	if l.MaxHeaderCount <= 0 {
		l.MaxHeaderCount = d.MaxHeaderCount
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxChunkLineBytes <= 0 {
		l.MaxChunkLineBytes = d.MaxChunkLineBytes
	}
	return l
}
