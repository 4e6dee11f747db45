package httpproxy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// closeWatch cancels a request when its client closes the connection
// while the response is pending, as net/http's background read does. It
// starts once the request has been read whole, so that it only ever reads
// ahead into the next pipelined request, which stays in the reader.
type closeWatch struct {
	c      net.Conn
	br     *bufio.Reader
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	running bool
	stopped bool
}

func newCloseWatch(c net.Conn, br *bufio.Reader, cancel context.CancelFunc) *closeWatch {
	return &closeWatch{c: c, br: br, cancel: cancel, done: make(chan struct{})}
}

// start begins watching, once, unless stop came first.
func (w *closeWatch) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running || w.stopped {
		return
	}
	w.running = true
	go func() {
		defer close(w.done)
		if _, err := w.br.Peek(1); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				w.cancel() // EOF or reset: the client is gone
			}
		}
	}()
}

// stop ends the watch and returns once its read has; the caller sets its
// own read deadline afterwards.
func (w *closeWatch) stop() {
	w.mu.Lock()
	running := w.running && !w.stopped
	w.stopped = true
	w.mu.Unlock()
	if running {
		_ = w.c.SetReadDeadline(time.Unix(1, 0))
		<-w.done
	}
}
