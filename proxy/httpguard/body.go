package httpguard

import (
	"errors"
	"io"
	"net/http"
)

// LimitBody returns a reader of at most maxBytes bytes of r for paths that
// buffer a body. Reading past the limit fails with a 413 *HeadError; the
// proxy answers it and closes the connection, since the rest of the body
// is left unread.
func LimitBody(r io.Reader, maxBytes int64) io.Reader {
	return &limitedBody{r: r, left: maxBytes}
}

type limitedBody struct {
	r    io.Reader
	left int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, &HeadError{Status: http.StatusRequestEntityTooLarge, Reason: "body exceeds limit"}
	}
	// Read one byte beyond the limit to tell "exactly the limit" from
	// "more than the limit".
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		n = int(l.left)
		l.left = -1
		return n, &HeadError{Status: http.StatusRequestEntityTooLarge, Reason: "body exceeds limit"}
	}
	l.left -= int64(n)
	return n, err
}

// fixedBody reads exactly n bytes of a Content-Length body; a connection
// that ends early gives io.ErrUnexpectedEOF, never a clean io.EOF.
type fixedBody struct {
	r    io.Reader
	left int64
}

func (f *fixedBody) Read(p []byte) (int, error) {
	if f.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= int64(n)
	if f.left == 0 {
		return n, io.EOF
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (f *fixedBody) Close() error { return nil }
