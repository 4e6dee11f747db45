package xdsclient

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
)

// maxRejectRetry caps the delay before a response that repeats a rejected
// one is processed again. While it waits, a control plane that only answers
// requests (go-control-plane does) cannot deliver a fix, so the cap stays
// short whatever Config.MaxBackoff says.
const maxRejectRetry = 5 * time.Second

// nackCode is the google.rpc.Code of every NACK's error_detail.
const nackCode = int32(codes.InvalidArgument)

// typeState is what the client keeps of one resource type across streams.
type typeState struct {
	version  string  // version of the last accepted response
	accepted []named // the set last accepted, sorted by name
	have     bool    // a response of this type has been accepted

	rejected     [sha256.Size]byte // digest of the last rejected response
	rejectStreak int               // rejections of that same response in a row
}

// pending is a response held back: listeners waiting for the first accepted
// clusters (zero due), or a repeat of a rejected response waiting out its
// retry delay.
type pending struct {
	resp   *response
	digest [sha256.Size]byte
	due    time.Time
}

type received struct {
	resp *response
	err  error
}

// session is the state of one ADS stream, of either protocol.
type session struct {
	c        *Client
	w        wire
	received bool // a response arrived: the stream was healthy

	// subscribed holds, per type requested on this stream, the names of
	// the last request (nil for CDS and LDS: every resource).
	subscribed map[string][]string
	nonces     map[string]string // last nonce received, per type URL
	pending    map[string]pending
	// unapplied is, per type, the last response received but not accepted
	// (held or rejected): the next one is composed with it, so that no
	// delta change is lost.
	unapplied map[string]*response
}

// runStream opens one ADS stream and serves it until it fails or ctx ends.
// healthy reports whether the control plane answered on it.
func (c *Client) runStream(ctx context.Context) (healthy bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := c.openWire(sctx)
	if err != nil {
		return false, err
	}

	recv := make(chan received)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			resp, err := w.recv()
			select {
			case recv <- received{resp: resp, err: err}:
			case <-sctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})
	defer func() {
		cancel() // ends Recv
		wg.Wait()
	}()

	s := &session{
		c:          c,
		w:          w,
		subscribed: map[string][]string{},
		nonces:     map[string]string{},
		pending:    map[string]pending{},
		unapplied:  map[string]*response{},
	}
	err = s.run(ctx, recv)
	return s.received, err
}

func (s *session) run(ctx context.Context, recv <-chan received) error {
	if err := s.subscribe(ctx); err != nil {
		return s.sendFailed(ctx, err, recv)
	}
	s.c.setConnected(true)
	s.c.log.Info("xds stream open", "protocol", s.c.cfg.Protocol.String())

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		var wake <-chan time.Time
		if due, ok := s.nextDue(); ok {
			timer.Reset(time.Until(due))
			wake = timer.C
		}
		var err error
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-recv:
			if r.err != nil {
				return recvError(r.err)
			}
			s.received = true
			err = s.onResponse(ctx, r.resp)
		case <-wake:
			err = s.onDue(ctx)
		}
		timer.Stop()
		if err != nil {
			return s.sendFailed(ctx, err, recv)
		}
	}
}

// sendFailed turns a failed Send into the stream's error: gRPC reports a
// stream broken by the server as io.EOF on Send and the status on Recv.
func (s *session) sendFailed(ctx context.Context, err error, recv <-chan received) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-recv:
			if r.err != nil {
				return recvError(r.err)
			}
		}
	}
}

func recvError(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New("control plane closed the ADS stream")
	}
	return fmt.Errorf("receiving: %w", err)
}
