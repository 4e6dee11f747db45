package xds

import (
	"context"
	"errors"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultSendTimeout is how long one response may wait for a proxy to read
// before its stream is closed, when Config.SendTimeout is zero.
const DefaultSendTimeout = 30 * time.Second

// errSendTimeout ends a stream whose proxy stopped reading.
var errSendTimeout = status.Error(codes.Unavailable, "xDS response not read within the send timeout; closing the stream")

// boundedADS serves ADS through go-control-plane with a bound on how long a
// response may wait for its proxy to read it.
//
// go-control-plane already keeps a proxy that stops reading from slowing
// the others or from piling up responses: its watches are one-shot (a new
// response needs the proxy's next request) and each type's response channel
// has room for the one response a watch can produce, so SetSnapshot never
// blocks on a stream, and gRPC blocks the stream's Send once the proxy's
// window is full and 64 KiB more wait behind it (the stream's write
// quota; a proxy owed less than that when it stops reading blocks no Send
// and keeps its stream). What such a stream still holds is its
// goroutines, one response and its place among the connected proxies.
// boundedADS releases them: each Send runs in its own goroutine and, when
// it has not returned within the timeout, the stream's handler returns
// errSendTimeout. gRPC then cancels the stream, which ends the pending Send.
type boundedADS struct {
	serverv3.Server
	timeout time.Duration // <= 0: no bound
}

// StreamAggregatedResources serves a state-of-the-world ADS stream.
func (b *boundedADS) StreamAggregatedResources(st discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	if b.timeout <= 0 {
		return b.Server.StreamAggregatedResources(st)
	}
	ctx, cancel := context.WithCancelCause(st.Context())
	defer cancel(nil)
	w := &sotwStream{AggregatedDiscoveryService_StreamAggregatedResourcesServer: st, ctx: ctx, cancel: cancel, timeout: b.timeout}
	err := b.Server.StreamAggregatedResources(w)
	return timeoutOr(ctx, err)
}

// DeltaAggregatedResources serves an incremental ADS stream.
func (b *boundedADS) DeltaAggregatedResources(st discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	if b.timeout <= 0 {
		return b.Server.DeltaAggregatedResources(st)
	}
	ctx, cancel := context.WithCancelCause(st.Context())
	defer cancel(nil)
	w := &deltaStream{AggregatedDiscoveryService_DeltaAggregatedResourcesServer: st, ctx: ctx, cancel: cancel, timeout: b.timeout}
	err := b.Server.DeltaAggregatedResources(w)
	return timeoutOr(ctx, err)
}

// timeoutOr is errSendTimeout when it ended the stream, else err.
func timeoutOr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, errSendTimeout) {
		return errSendTimeout
	}
	return err
}

// sendWithin runs send in its own goroutine and waits at most timeout for
// it; past that it cancels the stream's context with errSendTimeout, which
// stops go-control-plane's loops, and returns. The goroutine ends when gRPC
// cancels the stream, once its handler has returned.
func sendWithin(cancel context.CancelCauseFunc, timeout time.Duration, send func() error) error {
	done := make(chan error, 1)
	go func() { done <- send() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		cancel(errSendTimeout)
		return errSendTimeout
	}
}

type sotwStream struct {
	discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timeout time.Duration
}

func (s *sotwStream) Context() context.Context { return s.ctx }

func (s *sotwStream) Send(r *discoveryv3.DiscoveryResponse) error {
	return sendWithin(s.cancel, s.timeout, func() error {
		return s.AggregatedDiscoveryService_StreamAggregatedResourcesServer.Send(r)
	})
}

type deltaStream struct {
	discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timeout time.Duration
}

func (s *deltaStream) Context() context.Context { return s.ctx }

func (s *deltaStream) Send(r *discoveryv3.DeltaDiscoveryResponse) error {
	return sendWithin(s.cancel, s.timeout, func() error {
		return s.AggregatedDiscoveryService_DeltaAggregatedResourcesServer.Send(r)
	})
}
