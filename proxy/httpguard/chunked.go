package httpguard

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ChunkedReader decodes a chunked request body (RFC 9112 §7.1), validating
// every chunk-size line before returning a byte of that chunk: the size must
// be hexadecimal and fit an int64, extensions must be well-formed and the
// whole line within Limits.MaxChunkLineBytes, and every chunk's data must be
// followed by CRLF. Violations are 400 *HeadErrors, trailer sections beyond
// the header limits 431. A body cut short gives io.ErrUnexpectedEOF.
//
// When a violation is found after earlier chunks were forwarded, the proxy
// must abort the upstream request rather than complete it.
type ChunkedReader struct {
	r        *bufio.Reader
	lim      Limits
	left     int64 // data bytes left in the current chunk
	needCRLF bool  // current chunk's data is read; its CRLF is not
	trailer  http.Header
	err      error // sticky: io.EOF after the last chunk, or the failure
}

// NewChunkedReader returns a reader of the chunked body at r. Limits with
// zero fields take defaults.
func NewChunkedReader(r *bufio.Reader, lim Limits) *ChunkedReader {
	return &ChunkedReader{r: r, lim: lim.orDefault()}
}

// Read reads decoded body bytes.
func (c *ChunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.left == 0 {
		if c.err = c.nextChunk(); c.err != nil {
			return 0, c.err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	c.needCRLF = c.left == 0
	switch {
	case errors.Is(err, io.EOF):
		if c.left > 0 {
			c.err = io.ErrUnexpectedEOF
		}
	case err != nil:
		c.err = fmt.Errorf("read chunk data: %w", err)
	}
	if n > 0 {
		return n, nil
	}
	return 0, c.err
}

// Close does nothing: the connection belongs to the caller. It lets a
// ChunkedReader serve as an http.Request Body.
func (c *ChunkedReader) Close() error { return nil }

// Trailer returns the trailer fields, available once Read has returned
// io.EOF; nil before.
func (c *ChunkedReader) Trailer() http.Header { return c.trailer }

// nextChunk consumes the CRLF ending the previous chunk, if due, and the next
// chunk-size line, setting left. After the last chunk it reads the trailer
// section and returns io.EOF.
func (c *ChunkedReader) nextChunk() error {
	for c.left == 0 {
		if c.needCRLF {
			if err := c.readCRLF(); err != nil {
				return err
			}
			c.needCRLF = false
		}
		line, err := readLine(c.r, c.lim.MaxChunkLineBytes)
		switch {
		case errors.Is(err, errLineTooLong):
			return badRequest("chunk-size line too long")
		case errors.Is(err, io.EOF):
			return io.ErrUnexpectedEOF
		case err != nil:
			return err
		}
		size, err := parseChunkLine(line)
		if err != nil {
			return err
		}
		if size == 0 {
			if c.trailer, err = readFields(c.r, c.lim); err != nil {
				return err
			}
			return io.EOF
		}
		c.left = size
	}
	return nil
}

// readCRLF consumes exactly CRLF after a chunk's data.
func (c *ChunkedReader) readCRLF() error {
	b, err := c.r.Peek(2)
	if len(b) == 2 && b[0] == '\r' && b[1] == '\n' {
		_, _ = c.r.Discard(2)
		return nil
	}
	if err == nil || (len(b) == 1 && b[0] != '\r') {
		return badRequest("chunk data not followed by CRLF")
	}
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read chunk end: %w", err)
}

// parseChunkLine parses chunk-size [ chunk-ext ].
func parseChunkLine(line string) (int64, error) {
	var size int64
	i := 0
	for ; i < len(line); i++ {
		d, ok := unhex(line[i])
		if !ok {
			break
		}
		if size > (1<<63-1)>>4 {
			return 0, badRequest("chunk size overflows")
		}
		size = size<<4 | int64(d)
	}
	if i == 0 {
		return 0, badRequest("malformed chunk size")
	}
	if !validChunkExt(line[i:]) {
		return 0, badRequest("malformed chunk extension")
	}
	return size, nil
}

// validChunkExt reports whether s is
// *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ).
func validChunkExt(s string) bool {
	for s != "" {
		s = skipOWS(s)
		if s == "" || s[0] != ';' {
			return false
		}
		s = skipOWS(s[1:])
		n := tokenLen(s)
		if n == 0 {
			return false
		}
		s = s[n:]
		if t := skipOWS(s); t != "" && t[0] == '=' {
			t = skipOWS(t[1:])
			if t != "" && t[0] == '"' {
				n = quotedStringLen(t)
			} else {
				n = tokenLen(t)
			}
			if n <= 0 {
				return false
			}
			s = t[n:]
		}
	}
	return true
}

func skipOWS(s string) string {
	for s != "" && isOWS(s[0]) {
		s = s[1:]
	}
	return s
}

func tokenLen(s string) int {
	n := 0
	for n < len(s) && tokenTable[s[n]] {
		n++
	}
	return n
}

// quotedStringLen returns the length of the quoted-string at the start of
// s (RFC 9110 §5.6.4), or -1.
func quotedStringLen(s string) int {
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			i++
			if i == len(s) || !isFieldValueByte(s[i]) {
				return -1
			}
		case !isFieldValueByte(c):
			return -1
		}
	}
	return -1
}
