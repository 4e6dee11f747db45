package httpguard

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// HeadError is a request the proxy must refuse: on HTTP/1 it answers with
// Status and closes the connection, because after a framing or syntax error
// nothing later on the connection can be trusted; on HTTP/2 only the
// stream is refused.
type HeadError struct {
	// Status is the HTTP status code to answer with: 400, 413, 414, 431,
	// 501 or 505.
	Status int
	// Reason says what was wrong, for logs and metrics; it is not sent to
	// the client.
	Reason string
}

func (e *HeadError) Error() string {
	return fmt.Sprintf("httpguard: %d %s: %s", e.Status, http.StatusText(e.Status), e.Reason)
}

// WriteResponse writes a minimal response carrying e.Status, announcing
// that the connection will be closed. The caller closes it afterwards.
func (e *HeadError) WriteResponse(w io.Writer) error {
	_, err := fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		e.Status, http.StatusText(e.Status))
	if err != nil {
		return fmt.Errorf("write %d response: %w", e.Status, err)
	}
	return nil
}

// AsHeadError returns the *HeadError in err's chain, if any.
func AsHeadError(err error) (*HeadError, bool) {
	var he *HeadError
	ok := errors.As(err, &he)
	return he, ok
}

func badRequest(reason string) *HeadError {
	return &HeadError{Status: http.StatusBadRequest, Reason: reason}
}

func tooLarge(reason string) *HeadError {
	return &HeadError{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: reason}
}
