package httpproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/weftmesh/weft/proxy/httpguard"
)

// maxDrainBytes is how much of an unread request body the HTTP/1 loop
// discards to keep the connection; a larger rest closes it.
const maxDrainBytes = 256 << 10

// headTimeout bounds the reading of one request head once it has started
// (net/http's ReadHeaderTimeout in the server this loop replaces).
const headTimeout = time.Minute

// http1Conns tracks the connections of the HTTP/1 loop for Shutdown. The
// zero value is ready.
type http1Conns struct {
	mu      sync.Mutex
	conns   map[*http1Conn]struct{}
	closing bool
	wg      sync.WaitGroup
}

// http1Conn is one downstream connection served by the HTTP/1 loop.
type http1Conn struct {
	c net.Conn
	l *Listener
	// idle is true while waiting for the next request head.
	idle bool
	// begun is true once a request has begun to arrive: until then a
	// retired listener's connection is not ended, since its client may
	// already have sent the request it connected for (a connection
	// accepted just before a listener update is served once, with
	// Connection: close, rather than closed unanswered).
	begun bool
}

// add registers hc; false once Shutdown has begun.
func (s *http1Conns) add(hc *http1Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if s.conns == nil {
		s.conns = map[*http1Conn]struct{}{}
	}
	s.conns[hc] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *http1Conns) remove(hc *http1Conn) {
	s.mu.Lock()
	delete(s.conns, hc)
	s.mu.Unlock()
	s.wg.Done()
}

// setIdle marks hc idle or busy and reports whether it may go on: false
// once Shutdown has begun.
func (s *http1Conns) setIdle(hc *http1Conn, idle bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	hc.idle = idle
	if !idle {
		hc.begun = true
	}
	// A retired listener's connection ends before its next request, but a
	// request that has begun to arrive is served, and so is the first.
	return !s.closing && (!idle || !hc.begun || !hc.l.retired.Load())
}

// interruptIdle ends the idle connections served under l, now retired,
// that have served a request; busy ones end after their response, and new
// ones after their first (setIdle).
func (s *http1Conns) interruptIdle(l *Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for hc := range s.conns {
		if hc.l == l && hc.idle && hc.begun {
			_ = hc.c.SetReadDeadline(time.Now())
		}
	}
}

// draining reports whether Shutdown has begun.
func (s *http1Conns) draining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// beginShutdown marks the loop draining, so every response from now on
// says Connection: close, and interrupts idle connections. It may be
// called more than once.
func (s *http1Conns) beginShutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for hc := range s.conns {
		if hc.idle {
			_ = hc.c.SetReadDeadline(time.Now())
		}
	}
}

// shutdown begins the shutdown, lets busy connections finish their
// response, and waits for all of them or ctx.
func (s *http1Conns) shutdown(ctx context.Context) error {
	s.beginShutdown()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// serveHTTP1 serves the requests of c one after another with the strict
// HTTP/1 reader: heads are read by httpguard.ReadRequestHead, and a head
// it refuses is answered with its status and ends the connection before
// anything is routed. br reads from c (it may hold bytes already peeked).
// c is closed on return.
func (p *Proxy) serveHTTP1(ctx context.Context, info *connInfo, c net.Conn, br *bufio.Reader) {
	defer c.Close()
	hc := &http1Conn{c: c, l: info.listener}
	if !p.h1.add(hc) {
		return
	}
	defer p.h1.remove(hc)
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()

	ctx = context.WithValue(ctx, connInfoKey{}, info)
	lim := info.listener.Limits
	bw := bufio.NewWriterSize(c, 4<<10)
	for {
		if !p.h1.setIdle(hc, true) {
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(p.cfg.IdleTimeout))
		if _, err := br.Peek(1); err != nil {
			return // closed, idle, or shutting down
		}
		if !p.h1.setIdle(hc, false) {
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(headTimeout))
		start := time.Now()
		// The handler normalizes the path, once, from the target as
		// received (RequestURI), for HTTP/1 and HTTP/2 alike.
		head, err := httpguard.ReadRequestHead(br, lim)
		if err != nil {
			p.refuseHead(info, c, bw, start, err)
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		if !p.serveHTTP1Request(ctx, c, br, bw, head, lim) {
			return
		}
	}
}

// refuseHead answers a head the guard refused, if it has a status.
func (p *Proxy) refuseHead(info *connInfo, c net.Conn, bw *bufio.Writer, start time.Time, err error) {
	he, ok := httpguard.AsHeadError(err)
	if !ok {
		return // EOF, timeout or reset: nothing to answer
	}
	l := info.listener
	p.metrics.observe(l.Name, l.Direction, he.Status, "", time.Since(start))
	p.observeRefusedHead(info, he.Status, time.Since(start))
	logRefusedHead(info, start, he.Status)
	p.log.Debug("request head refused", "listener", l.Name, "status", he.Status, "reason", he.Reason,
		"remote", c.RemoteAddr().String())
	_ = c.SetWriteDeadline(time.Now().Add(headTimeout))
	if he.WriteResponse(bw) == nil {
		_ = bw.Flush()
	}
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
}

// serveHTTP1Request serves one request whose head was read, and reports
// whether the connection can carry the next one.
func (p *Proxy) serveHTTP1Request(ctx context.Context, c net.Conn, br *bufio.Reader, bw *bufio.Writer,
	head *httpguard.RequestHead, lim httpguard.Limits) bool {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := head.NewRequest(ctx, br, lim)
	if err != nil {
		return false
	}
	req.RemoteAddr = c.RemoteAddr().String()
	if tc, ok := c.(*tls.Conn); ok {
		st := tc.ConnectionState()
		req.TLS = &st
	}
	w := newHTTP1Writer(bw, req)
	w.conn, w.br = c, br
	w.draining = func() bool { return p.h1.draining() || infoFrom(ctx).listener.retired.Load() }
	upgrade := isUpgrade(req)
	watch := newCloseWatch(c, br, cancel)
	defer watch.stop()
	if req.Body != http.NoBody {
		gb := &guardedBody{ReadCloser: req.Body, w: w, watch: watch}
		if upgrade {
			gb.watch = nil // see below
		}
		req.Body = gb
	} else if !upgrade {
		// An upgrade's client may speak the new protocol at once: no
		// read-ahead, the bytes stay in br for the tunnel.
		watch.start()
	}
	if expect := req.Header.Get("Expect"); expect != "" {
		if !strings.EqualFold(expect, "100-continue") {
			w.closeAfter = true
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusExpectationFailed)
			_ = w.finish()
			return false
		}
		if req.ProtoAtLeast(1, 1) && req.ContentLength != 0 {
			w.continueState = continueWanted
			req.Body = &continueBody{ReadCloser: req.Body, w: w}
		}
	}
	body := req.Body
	if !p.runHandler(w, req) {
		return false // aborted: the client must not take a short body for a whole one
	}
	if w.isHijacked() {
		return false // the upgrade's tunnel ran and ended: the connection is done
	}
	watch.stop()
	_ = c.SetReadDeadline(time.Time{})
	if ctx.Err() != nil && !w.started() {
		return false // the client left: nobody to answer
	}
	if err := w.finish(); err != nil || w.closeAfter {
		return false
	}
	if w.continueState == continueWanted {
		return false // 100 Continue was never sent: the body may or may not follow
	}
	// The next head starts after this body: read what the handler left.
	n, err := io.Copy(io.Discard, io.LimitReader(body, maxDrainBytes+1))
	return err == nil && n <= maxDrainBytes
}

// runHandler calls the handler and reports false when it aborted the
// response with http.ErrAbortHandler.
func (p *Proxy) runHandler(w *http1Writer, req *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler { //nolint:errorlint // the sentinel is panicked, not wrapped
				p.log.Error("handler panicked", "panic", v)
			}
			ok = false
		}
	}()
	p.serveLogged(w, req)
	return true
}

// guardedBody tells the writer when the body breaks its framing.
// At the end of the body it starts the close watch, if any.
type guardedBody struct {
	io.ReadCloser
	w     *http1Writer
	watch *closeWatch
}

func (b *guardedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		if b.watch != nil {
			b.watch.start()
		}
	case err != nil:
		b.w.noteBodyError(err)
	}
	return n, err
}

// continueState follows Expect: 100-continue.
type continueState int

const (
	// continueWanted: the client waits for 100 before sending the body.
	continueWanted continueState = iota + 1
	continueSent
)

// continueBody sends "100 Continue" when the handler first reads the body.
type continueBody struct {
	io.ReadCloser
	w *http1Writer
}

func (b *continueBody) Read(p []byte) (int, error) {
	if err := b.w.sendContinue(); err != nil {
		return 0, err
	}
	return b.ReadCloser.Read(p)
}
