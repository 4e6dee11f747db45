package tcpproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// ErrIdleTimeout ends a pair on which no byte moved for Options.IdleTimeout.
var ErrIdleTimeout = errors.New("tcpproxy: idle timeout")

// IsIdleTimeout reports whether err ended a pair because it was idle.
func IsIdleTimeout(err error) bool { return errors.Is(err, ErrIdleTimeout) }

// Counter observes bytes as they are copied; prometheus.Counter is one.
type Counter interface{ Add(float64) }

// Options tune Join. The zero value copies without idle timeout or counters.
type Options struct {
	// IdleTimeout ends the pair when no byte has moved in either direction
	// for this long. Zero means never.
	IdleTimeout time.Duration
	// ToUpstream counts bytes copied from downstream to upstream, and
	// ToDownstream the other way. Nil counts nothing.
	ToUpstream   Counter
	ToDownstream Counter
}

// Result says how many bytes Join wrote to each side.
type Result struct {
	ToUpstream   int64
	ToDownstream int64
}

// Join copies bytes between downstream and upstream in both directions
// until both directions have ended, the pair was idle too long, a copy
// failed, or ctx ends. It always closes both connections before it returns.
// The error is the first failure of either direction; a clean end of both
// directions, and ctx ending, return nil.
func Join(ctx context.Context, downstream, upstream net.Conn, opts Options) (Result, error) {
	p := &pair{downstream: downstream, upstream: upstream, idle: opts.IdleTimeout}
	p.touch()
	stop := context.AfterFunc(ctx, p.close)
	defer stop()
	defer p.close()

	var res Result
	upErr := make(chan error, 1)
	go func() {
		var err error
		res.ToUpstream, err = p.copyToUpstream(opts.ToUpstream)
		upErr <- err
	}()
	var downErr error
	res.ToDownstream, downErr = p.copyToDownstream(opts.ToDownstream)
	if downErr != nil {
		p.close() // unblock the other direction
	}
	err := <-upErr
	if ctx.Err() != nil {
		return res, nil
	}
	return res, errors.Join(downErr, err)
}

// pair is one downstream connection joined with its upstream connection.
type pair struct {
	downstream, upstream net.Conn
	idle                 time.Duration
	lastActive           atomic.Int64 // unix nanoseconds
	closed               atomic.Bool
}

// copyToUpstream is the copy loop from the downstream (the client) to the
// upstream (the server).
func (p *pair) copyToUpstream(c Counter) (int64, error) {
	n, err := p.copy(p.upstream, p.downstream, c)
	if err != nil {
		p.close()
	}
	return n, err
}

// copyToDownstream is the copy loop from the upstream back to the
// downstream.
func (p *pair) copyToDownstream(c Counter) (int64, error) {
	return p.copy(p.downstream, p.upstream, c)
}

const bufferSize = 32 << 10

// copy moves bytes from src to dst until src ends, then half-closes dst.
// Errors caused by the pair being closed are not reported.
func (p *pair) copy(dst, src net.Conn, c Counter) (int64, error) {
	buf := make([]byte, bufferSize)
	var written int64
	if err := p.armIdleDeadline(src); err != nil {
		return written, p.unlessClosed(err)
	}
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			p.touch()
			nw, werr := dst.Write(buf[:nr])
			written += int64(nw)
			if c != nil && nw > 0 {
				c.Add(float64(nw))
			}
			if werr != nil {
				return written, p.unlessClosed(werr)
			}
			p.touch()
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF):
			return written, p.unlessClosed(closeWrite(dst))
		case errors.Is(rerr, os.ErrDeadlineExceeded) && p.idle > 0:
			if p.idleFor() >= p.idle {
				return written, ErrIdleTimeout
			}
			// A byte moved since the deadline was armed: wait again.
			if err := p.armIdleDeadline(src); err != nil {
				return written, p.unlessClosed(err)
			}
		default:
			return written, p.unlessClosed(rerr)
		}
	}
}

// closeWrite ends the write half of c, or all of c when it cannot be
// half-closed.
func closeWrite(c net.Conn) error {
	if hc, ok := c.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return c.Close()
}

func (p *pair) touch() { p.lastActive.Store(time.Now().UnixNano()) }

func (p *pair) idleFor() time.Duration {
	return time.Since(time.Unix(0, p.lastActive.Load()))
}

// armIdleDeadline makes a read on src fail once the pair has been idle
// for p.idle since its last activity so far. It is armed once, and again
// only when that deadline passes with bytes having moved since: moving the
// deadline on every read cost a timer update per read. A deadline that
// passes early only wakes the copy loop to re-check.
func (p *pair) armIdleDeadline(src net.Conn) error {
	if p.idle <= 0 {
		return nil
	}
	return src.SetReadDeadline(time.Unix(0, p.lastActive.Load()).Add(p.idle))
}

func (p *pair) close() {
	if p.closed.Swap(true) {
		return
	}
	_ = p.downstream.Close()
	_ = p.upstream.Close()
}

func (p *pair) unlessClosed(err error) error {
	if p.closed.Load() {
		return nil
	}
	return err
}
