package httpproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weftmesh/weft/proxy/httpguard"
)

// maxPendingBody is how much body the HTTP/1 writer holds back before the
// head goes out, so that a short response that ends without a flush gets
// a Content-Length instead of chunked framing.
const maxPendingBody = 4 << 10

// errBodyNotAllowed is a body written to a response that has none.
var errBodyNotAllowed = errors.New("httpproxy: response status does not allow a body")

// errContentLength is a body longer than the Content-Length announced.
var errContentLength = errors.New("httpproxy: body longer than Content-Length")

// http1Writer is the http.ResponseWriter of the HTTP/1 loop: it writes the
// status line and header section, frames the body with its Content-Length
// or chunked encoding (then trailers), and flushes on demand. Body reads
// run on another goroutine than the handler (100 Continue), so every
// method locks.
type http1Writer struct {
	mu  sync.Mutex
	bw  *bufio.Writer
	req *http.Request

	header      http.Header
	status      int
	wroteHeader bool
	// committed: the head is in bw; pending holds body until then.
	committed bool
	pending   []byte
	noBody    bool
	chunked   bool
	// length is the announced Content-Length, -1 when none.
	length   int64
	written  int64
	trailers []string
	err      error

	// badBody is the framing error the request body hit, if any: a
	// response not yet begun is replaced by its status.
	badBody *httpguard.HeadError
	// discard drops the body of a replaced response.
	discard bool

	// closeAfter asks to close the connection after this response.
	closeAfter    bool
	continueState continueState

	// conn and br are the connection and its reader, handed over by
	// Hijack for an upgrade (upgrade.go); hijacked once they are.
	conn     net.Conn
	br       *bufio.Reader
	hijacked bool
	// draining, when not nil, reports a Shutdown: the response then says
	// Connection: close.
	draining func() bool
}

func newHTTP1Writer(bw *bufio.Writer, req *http.Request) *http1Writer {
	return &http1Writer{bw: bw, req: req, header: http.Header{}, length: -1}
}

func (w *http1Writer) Header() http.Header { return w.header }

func (w *http1Writer) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeHeader(code)
}

func (w *http1Writer) writeHeader(code int) {
	if w.wroteHeader || code < 100 || code > 999 {
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		// Informational: goes out now, the final status follows.
		w.writeStatusAndHeader(code, w.header)
		w.err = w.bw.Flush()
		return
	}
	w.wroteHeader = true
	w.status = code
	w.noBody = w.req.Method == http.MethodHead || code == http.StatusNoContent ||
		code == http.StatusNotModified || code == http.StatusSwitchingProtocols
	if v := w.header.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			w.length = n
		} else {
			w.header.Del("Content-Length")
		}
	}
}

func (w *http1Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.wroteHeader {
		w.writeHeader(http.StatusOK)
	}
	if w.discard {
		return len(p), nil
	}
	if w.noBody {
		if w.req.Method == http.MethodHead {
			return len(p), nil
		}
		return 0, errBodyNotAllowed
	}
	var tooLong bool
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		p, tooLong = p[:w.length-w.written], true
	}
	w.written += int64(len(p))
	if !w.committed && len(w.pending)+len(p) <= maxPendingBody {
		w.pending = append(w.pending, p...)
	} else {
		w.commit(false)
		w.writeBody(p)
	}
	if w.err != nil {
		return 0, w.err
	}
	if tooLong {
		return len(p), errContentLength
	}
	return len(p), nil
}

// started reports whether the response has begun.
func (w *http1Writer) started() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.wroteHeader
}

// Flush sends the head and the body written so far.
func (w *http1Writer) Flush() { _ = w.FlushError() }

// FlushError is Flush reporting the write error (http.ResponseController).
func (w *http1Writer) FlushError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.wroteHeader {
		w.writeHeader(http.StatusOK)
	}
	w.commit(false)
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	return w.err
}

// EnableFullDuplex reports success: the loop never stops reading the body
// once the response has begun (http.ResponseController).
func (w *http1Writer) EnableFullDuplex() error { return nil }

// sendContinue sends "100 Continue" once, before the response starts, if
// the client waits for it.
func (w *http1Writer) sendContinue() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.continueState != continueWanted || w.committed {
		return w.err
	}
	w.continueState = continueSent
	if _, err := io.WriteString(w.bw, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
		w.err = err
		return err
	}
	w.err = w.bw.Flush()
	return w.err
}

// finish ends the response: head if not sent, last chunk and trailers,
// and flushes. A body shorter than its Content-Length closes the
// connection.
func (w *http1Writer) finish() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.wroteHeader {
		w.writeHeader(http.StatusOK)
	}
	w.commit(true)
	if w.chunked {
		w.writeString("0\r\n")
		for _, name := range w.trailers {
			w.writeFields(name, w.header[name])
		}
		for k, vv := range w.header {
			if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
				w.writeFields(http.CanonicalHeaderKey(name), vv)
			}
		}
		w.writeString("\r\n")
	}
	if !w.noBody && w.length >= 0 && w.written < w.length {
		w.closeAfter = true
	}
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	return w.err
}

// commit writes the head, choosing the framing, then the pending body.
// final says the handler is done, so the pending body is all of it.
func (w *http1Writer) commit(final bool) {
	if w.committed {
		return
	}
	w.committed = true
	if w.badBody != nil {
		w.commitBadBody()
		return
	}
	h := w.header.Clone()
	h.Del("Transfer-Encoding")
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			delete(h, k)
		}
	}
	switch {
	case w.noBody:
	case w.length >= 0:
	case final:
		w.length = int64(len(w.pending))
		h.Set("Content-Length", strconv.Itoa(len(w.pending)))
	case w.req.ProtoAtLeast(1, 1):
		w.chunked = true
		h.Set("Transfer-Encoding", "chunked")
	default:
		w.closeAfter = true // HTTP/1.0: the body ends with the connection
	}
	if w.chunked {
		for _, v := range h.Values("Trailer") {
			for name := range strings.SplitSeq(v, ",") {
				if name = strings.TrimSpace(name); name != "" {
					name = http.CanonicalHeaderKey(name)
					w.trailers = append(w.trailers, name)
					delete(h, name)
				}
			}
		}
	} else {
		h.Del("Trailer")
	}
	for _, v := range h.Values("Connection") {
		if hasToken(v, "close") {
			w.closeAfter = true
		}
	}
	if w.req.Close || (w.draining != nil && w.draining()) {
		w.closeAfter = true
	}
	h.Del("Connection")
	switch {
	case w.closeAfter:
		h.Set("Connection", "close")
	case w.req.ProtoMinor == 0:
		h.Set("Connection", "keep-alive")
	}
	if _, ok := h["Date"]; !ok {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	w.writeStatusAndHeader(w.status, h)
	pending := w.pending
	w.pending = nil
	w.writeBody(pending)
}

// commitBadBody answers a request whose body broke its framing with the
// guard's status, and closes the connection, whatever the handler meant to
// send: the body was never complete, so nothing valid was forwarded.
func (w *http1Writer) commitBadBody() {
	w.status, w.noBody, w.discard, w.closeAfter = w.badBody.Status, true, true, true
	w.length, w.pending = -1, nil
	w.writeStatusAndHeader(w.status, http.Header{"Connection": {"close"}, "Content-Length": {"0"}})
}

// noteBodyError records a framing error of the request body.
func (w *http1Writer) noteBodyError(err error) {
	if he, ok := httpguard.AsHeadError(err); ok {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.badBody == nil {
			w.badBody = he
		}
		w.closeAfter = true
	}
}

func (w *http1Writer) writeStatusAndHeader(code int, h http.Header) {
	w.writeString("HTTP/1.1 " + strconv.Itoa(code) + " " + http.StatusText(code) + "\r\n")
	for k, vv := range h {
		w.writeFields(k, vv)
	}
	w.writeString("\r\n")
}

// writeFields writes the field lines of one name, leaving out what would
// break the message: an invalid name, or CR, LF or NUL in a value.
func (w *http1Writer) writeFields(name string, values []string) {
	if !validFieldName(name) {
		return
	}
	for _, v := range values {
		if strings.ContainsAny(v, "\r\n\x00") {
			continue
		}
		w.writeString(name + ": " + v + "\r\n")
	}
}

func (w *http1Writer) writeBody(p []byte) {
	if len(p) == 0 || w.err != nil {
		return
	}
	if w.chunked {
		w.writeString(strconv.FormatInt(int64(len(p)), 16) + "\r\n")
	}
	if _, err := w.bw.Write(p); err != nil {
		w.err = err
	}
	if w.chunked {
		w.writeString("\r\n")
	}
}

func (w *http1Writer) writeString(s string) {
	if w.err != nil {
		return
	}
	if _, err := w.bw.WriteString(s); err != nil {
		w.err = err
	}
}

// hasToken reports whether the comma-separated list v holds token,
// case-insensitively.
func hasToken(v, token string) bool {
	for t := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// validFieldName reports whether name is a non-empty token (RFC 9110 §5.1).
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

var (
	_ http.ResponseWriter = (*http1Writer)(nil)
	_ http.Flusher        = (*http1Writer)(nil)
)
