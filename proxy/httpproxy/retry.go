package httpproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FlagRetryExhausted marks a response sent after the retries ran out
// (Envoy's URX, upstream retry limit exceeded).
const FlagRetryExhausted = "URX"

// MaxReplayBody is the largest request body buffered so that it can be
// sent again; requests with a larger or unknown-length body are never
// retried.
const MaxReplayBody = 64 << 10

// RetryOn is a set of retry conditions, as Envoy's retry_on tokens.
type RetryOn uint32

// The retry conditions.
const (
	RetryOn5xx                   RetryOn = 1 << iota // 5xx, or no response at all
	RetryOnGatewayError                              // 502, 503, 504, or no response at all
	RetryOnReset                                     // no response: disconnect, reset, timeout
	RetryOnResetBeforeRequest                        // no connection: the request was not sent
	RetryOnConnectFailure                            // no connection
	RetryOnRetriable4xx                              // 409
	RetryOnRetriableStatusCodes                      // RetryPolicy.StatusCodes
	RetryOnGRPCCancelled                             // grpc-status 1 in the headers
	RetryOnGRPCDeadlineExceeded                      // grpc-status 4
	RetryOnGRPCResourceExhausted                     // grpc-status 8
	RetryOnGRPCInternal                              // grpc-status 13
	RetryOnGRPCUnavailable                           // grpc-status 14
)

// RetryPolicy is a route's retry policy.
type RetryPolicy struct {
	On RetryOn
	// NumRetries is the number of retries after the first attempt.
	NumRetries uint32
	// PerTryTimeout bounds each attempt, response body included; zero
	// means only the route's Timeout applies. An attempt that runs out is
	// retried under 5xx, gateway-error and reset, and answered 504 UT.
	PerTryTimeout time.Duration
	// StatusCodes are retried under RetryOnRetriableStatusCodes.
	StatusCodes []uint32
	// BackOffBase and BackOffMax shape the wait before retry n: random in
	// [0, (2^n-1)·BackOffBase), at most BackOffMax.
	BackOffBase, BackOffMax time.Duration
}

// failure is why an attempt got no response.
type failure int

const (
	failNone         failure = iota
	failConnect              // no connection to the endpoint
	failReset                // connection lost, or the request failed
	failPerTry               // the per-try timeout passed
	failRouteTimeout         // the route timeout passed: final
	failClientGone           // the downstream request ended: final
	failOverflow             // a circuit breaker refused: final
	failRefused              // no cluster or no healthy endpoint: final
	failAnswered             // answered locally already: final
)

// attempt is the outcome of one try: a response, or a failure.
type attempt struct {
	resp    *http.Response
	fail    failure
	flag    string   // of a failure
	breaker *Breaker // of the endpoint's cluster
	cleanup []func()
	// done releases the request's circuit-breaker and load-balancer
	// slots; it runs once, when the upstream response ends or at finish.
	done func()
}

// finish releases what the attempt holds; call it once the response body
// has been copied or dropped.
func (a *attempt) finish() {
	if a.resp != nil {
		_ = a.resp.Body.Close()
	}
	for _, f := range slices.Backward(a.cleanup) {
		f()
	}
}

// releaseAtEOF runs release when the body has been read to its end.
type releaseAtEOF struct {
	io.ReadCloser
	release func()
}

func (b *releaseAtEOF) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.release()
	}
	return n, err
}

// errOverflow is a connection refused by the circuit breaker.
var errOverflow = errors.New("circuit breaker: too many upstream connections")

// dialError marks a failure to connect to an endpoint.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connect: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// forward sends the request upstream, retrying as the route's policy says,
// and streams the chosen response back.
func (ex *exchange) forward(ctx context.Context, action Action) {
	down := ctx // the downstream request's, without the route timeout
	if action.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, action.Timeout)
		defer cancel()
	}
	policy := action.Retry
	if policy == nil {
		policy = &RetryPolicy{}
	}
	body, replayable, err := ex.replayBody(policy)
	if err != nil {
		ex.status = 499
		return
	}
	if ex.r.ProtoMajor == 1 && !replayable {
		// Read the request body while the response streams (gRPC-Web and
		// other full-duplex HTTP/1 clients).
		_ = http.NewResponseController(ex.w).EnableFullDuplex()
	}
	var retrySlot slot
	for n := uint32(0); ; n++ {
		a := ex.try(ctx, down, action, policy, body, retrySlot)
		retrySlot = slot{}
		retriable := policy.retriable(a)
		if !retriable || !replayable || a.fail >= failRouteTimeout {
			ex.finishAttempt(action, a)
			return
		}
		if n >= policy.NumRetries {
			ex.flags = FlagRetryExhausted
			ex.finishAttempt(action, a)
			return
		}
		s, ok := a.breaker.retry()
		if !ok {
			ex.finishAttempt(action, a) // retry overflow: the last outcome stands
			return
		}
		retrySlot = s
		a.finish()
		if err := sleep(ctx, policy.backOff(n+1)); err != nil {
			retrySlot.release()
			ex.finishAttempt(action, &attempt{fail: ended(down)})
			return
		}
	}
}

// ended classifies the end of the route's context: the client gone, or
// the route timeout.
func ended(down context.Context) failure {
	if down.Err() != nil {
		return failClientGone
	}
	return failRouteTimeout
}

// finishAttempt answers with the outcome of the last attempt.
func (ex *exchange) finishAttempt(action Action, a *attempt) {
	defer a.finish()
	switch a.fail {
	case failNone:
		// The upstream request is over when its body ends, before the
		// last bytes reach the client: a client that sends its next
		// request then finds the circuit breaker's slot free.
		a.resp.Body = &releaseAtEOF{ReadCloser: a.resp.Body, release: a.done}
		ex.respond(action, a.resp)
	case failAnswered:
	case failClientGone:
		ex.status = 499 // the client went away, as nginx counts it
	case failRouteTimeout, failPerTry:
		ex.local(http.StatusGatewayTimeout, FlagUpstreamTimeout, "upstream request timeout")
	case failOverflow:
		ex.local(http.StatusServiceUnavailable, FlagUpstreamOverflow, "upstream overflow")
	case failRefused:
		ex.local(http.StatusServiceUnavailable, a.flag, "no healthy upstream")
	default:
		ex.local(http.StatusServiceUnavailable, FlagUpstreamFailure, "upstream connect error")
	}
}

// try makes one attempt: it picks an endpoint and sends the request.
func (ex *exchange) try(ctx, down context.Context, action Action, policy *RetryPolicy, body []byte, retry slot) *attempt {
	a := &attempt{cleanup: []func(){retry.release}}
	target, flag := ex.pick(action)
	noteUpstream(ctx, action.Cluster, target.Address) // for the access log
	if flag != "" {
		a.fail, a.flag = failRefused, flag
		return a
	}
	a.breaker = target.Breaker
	req, ok := target.Breaker.request()
	if !ok {
		if target.Release != nil {
			target.Release()
		}
		a.fail = failOverflow
		return a
	}
	a.done = sync.OnceFunc(func() {
		req.release()
		if target.Release != nil {
			target.Release()
		}
	})
	a.cleanup = append(a.cleanup, a.done)
	tctx := ctx
	if policy.PerTryTimeout > 0 {
		var cancel context.CancelFunc
		tctx, cancel = context.WithTimeout(ctx, policy.PerTryTimeout)
		a.cleanup = append(a.cleanup, cancel)
	}
	var rc io.ReadCloser
	if body != nil {
		rc = io.NopCloser(bytes.NewReader(body))
	} else {
		rc = ex.r.Body
	}
	pend, ok := target.Breaker.pend()
	if !ok {
		a.fail = failOverflow
		return a
	}
	var pending atomic.Bool
	pending.Store(true)
	releasePending := func() {
		if pending.CompareAndSwap(true, false) {
			pend.release()
		}
	}
	a.cleanup = append(a.cleanup, releasePending)
	// The request stops pending once it has a connection.
	var upstreamPeer string
	out, ok := ex.prepare(tctx, action, target, rc, &upstreamPeer, releasePending)
	if !ok {
		a.fail = failAnswered
		return a
	}
	if body != nil {
		b := body
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}

	up := ex.p.upstreams.acquire(target)
	a.cleanup = append(a.cleanup, func() { ex.p.upstreams.release(up) }) // after the body is closed
	resp, err := up.rt.RoundTrip(out)                                    //nolint:bodyclose // closed by attempt.finish
	releasePending()
	if ex.info.listener.Direction != "inbound" {
		ex.peer = upstreamPeer
	}
	if err == nil {
		a.resp = resp
		observe(target, resp.StatusCode)
		return a
	}
	switch {
	case down.Err() != nil:
		a.fail = failClientGone
	case ctx.Err() != nil:
		a.fail = failRouteTimeout
	case errors.Is(err, errOverflow):
		a.fail = failOverflow
	case tctx.Err() != nil:
		a.fail = failPerTry
		observe(target, 0)
	default:
		a.fail = failReset
		if _, ok := errors.AsType[*dialError](err); ok {
			a.fail = failConnect
		}
		observe(target, 0)
		ex.p.log.Debug("upstream request failed", "listener", ex.info.listener.Name, "cluster", action.Cluster,
			"endpoint", target.Address, "error", err)
	}
	return a
}

func observe(t Target, status int) {
	if t.Observe != nil {
		t.Observe(status)
	}
}

// retriable reports whether the policy retries the attempt's outcome.
func (p *RetryPolicy) retriable(a *attempt) bool {
	switch a.fail {
	case failNone:
		return p.retriableResponse(a.resp)
	case failConnect:
		return p.On&(RetryOn5xx|RetryOnGatewayError|RetryOnReset|RetryOnConnectFailure|RetryOnResetBeforeRequest) != 0
	case failReset, failPerTry:
		return p.On&(RetryOn5xx|RetryOnGatewayError|RetryOnReset) != 0
	}
	return false
}

func (p *RetryPolicy) retriableResponse(resp *http.Response) bool {
	code := resp.StatusCode
	switch {
	case p.On&RetryOn5xx != 0 && code >= 500:
		return true
	case p.On&RetryOnGatewayError != 0 && (code == 502 || code == 503 || code == 504):
		return true
	case p.On&RetryOnRetriable4xx != 0 && code == http.StatusConflict:
		return true
	case p.On&RetryOnRetriableStatusCodes != 0 && slices.Contains(p.StatusCodes, uint32(code)): //nolint:gosec // a status code
		return true
	}
	grpc := map[string]RetryOn{
		"1": RetryOnGRPCCancelled, "4": RetryOnGRPCDeadlineExceeded, "8": RetryOnGRPCResourceExhausted,
		"13": RetryOnGRPCInternal, "14": RetryOnGRPCUnavailable,
	}
	if c, ok := grpc[resp.Header.Get("Grpc-Status")]; ok && p.On&c != 0 {
		return true
	}
	return false
}

// backOff returns the wait before retry n (1 for the first).
func (p *RetryPolicy) backOff(n uint32) time.Duration {
	if p.BackOffBase <= 0 {
		return 0
	}
	upper := p.BackOffMax
	if n < 32 {
		if d := p.BackOffBase * time.Duration(uint64(1)<<n-1); d > 0 && (upper <= 0 || d < upper) {
			upper = d
		}
	}
	if upper <= 0 {
		return 0
	}
	return rand.N(upper) //nolint:gosec // jitter needs no secrecy
}

// sleep waits for d or the end of ctx.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// replayBody buffers the request body when the policy may retry and the
// body is small enough, and reports whether attempts can be repeated. A
// nil body with replayable set means there is no body.
func (ex *exchange) replayBody(p *RetryPolicy) ([]byte, bool, error) {
	r := ex.r
	if r.ContentLength == 0 {
		return nil, true, nil
	}
	if p.NumRetries == 0 || p.On == 0 || r.ContentLength < 0 || r.ContentLength > MaxReplayBody {
		return nil, false, nil
	}
	buf := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, buf); err != nil {
		return nil, false, err
	}
	return buf, true, nil
}

// joinFlags joins response flags as Envoy prints them.
func joinFlags(flags ...string) string {
	return strings.Join(slices.DeleteFunc(flags, func(f string) bool { return f == "" }), ",")
}
