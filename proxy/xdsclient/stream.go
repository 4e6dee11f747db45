package xdsclient

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
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
	version  string  // version_info of the last accepted response
	accepted []named // the set last accepted, sorted by name
	have     bool    // a response of this type has been accepted

	rejected     [sha256.Size]byte // digest of the last rejected response
	rejectStreak int               // rejections of that same response in a row
}

// pending is a response held back: listeners waiting for the first accepted
// clusters (zero due), or a repeat of a rejected response waiting out its
// retry delay.
type pending struct {
	resp   *discoveryv3.DiscoveryResponse
	digest [sha256.Size]byte
	due    time.Time
}

type received struct {
	resp *discoveryv3.DiscoveryResponse
	err  error
}

// session is the state of one ADS stream.
type session struct {
	c        *Client
	stream   discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	nodeSent bool
	received bool // a response arrived: the stream was healthy

	nonces        map[string]string // last nonce received, per type URL
	edsRequested  bool              // an EDS request was sent on this stream
	edsSubscribed []string          // resource names of the last EDS request
	rdsRequested  bool              // an RDS request was sent on this stream
	rdsSubscribed []string          // resource names of the last RDS request
	sdsRequested  bool              // an SDS request was sent on this stream (sds.go)
	sdsSubscribed []string          // resource names of the last SDS request
	pending       map[string]pending
}

// runStream opens one ADS stream and serves it until it fails or ctx ends.
// healthy reports whether the control plane answered on it.
func (c *Client) runStream(ctx context.Context) (healthy bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(c.cfg.Conn).StreamAggregatedResources(sctx)
	if err != nil {
		return false, fmt.Errorf("opening ADS stream: %w", err)
	}

	recv := make(chan received)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			resp, err := stream.Recv()
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
		c:       c,
		stream:  stream,
		nonces:  map[string]string{},
		pending: map[string]pending{},
	}
	err = s.run(ctx, recv)
	return s.received, err
}

func (s *session) run(ctx context.Context, recv <-chan received) error {
	if err := s.subscribe(ctx); err != nil {
		return s.sendFailed(ctx, err, recv)
	}
	s.c.setConnected(true)
	s.c.log.Info("xds stream open")

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

// subscribe sends the initial requests: CDS and LDS (wildcard), then EDS
// for the clusters and RDS for the listeners accepted on an earlier stream,
// each with the version last accepted so that a control plane with
// unchanged state need not resend it.
func (s *session) subscribe(ctx context.Context) error {
	for _, url := range []string{ClusterType, ListenerType} {
		if err := s.send(&discoveryv3.DiscoveryRequest{
			TypeUrl:     url,
			VersionInfo: s.c.types[url].version,
		}); err != nil {
			return err
		}
	}
	if !s.c.cdsReady {
		return nil
	}
	if err := s.subscribeEndpoints(edsNames(s.c.types[ClusterType].accepted)); err != nil {
		return err
	}
	if lds := s.c.types[ListenerType]; lds.have {
		if err := s.subscribeRoutes(ctx, rdsNames(lds.accepted)); err != nil {
			return err
		}
		return s.subscribeSecrets(ctx, sdsNames(lds.accepted))
	}
	return nil
}

// subscribeRoutes sends an RDS request for names unless the stream is
// already subscribed to exactly those. Route configurations no listener
// names any more are dropped at once, as Envoy does: the control plane
// need not answer a narrower subscription whose resources it already sent.
func (s *session) subscribeRoutes(ctx context.Context, names []string) error {
	if slices.Equal(names, s.rdsSubscribed) {
		return nil
	}
	s.dropUnsubscribedRoutes(ctx, names)
	delete(s.pending, RouteType)
	s.rdsRequested = true
	s.rdsSubscribed = names
	s.c.log.Debug("xds routes subscription", "resources", names)
	return s.send(&discoveryv3.DiscoveryRequest{
		TypeUrl:       RouteType,
		VersionInfo:   s.c.types[RouteType].version,
		ResponseNonce: s.nonces[RouteType],
		ResourceNames: names,
	})
}

// dropUnsubscribedRoutes hands the Handler the accepted route
// configurations that names still holds, when some are gone. A refusal is
// logged and changes nothing: the next RDS response tries again.
func (s *session) dropUnsubscribedRoutes(ctx context.Context, names []string) {
	st := s.c.types[RouteType]
	if !st.have {
		return
	}
	kept := mergeSubscribed(st.accepted, nil, names)
	if sameSet(kept, st.accepted) {
		return
	}
	if err := apply(ctx, s.c.cfg.Handler, RouteType, kept); err != nil {
		s.c.log.Warn("xds routes no longer named kept", "error", err)
		return
	}
	st.accepted = kept
	s.c.log.Info("xds routes no longer named dropped", "resources", len(kept))
}

// subscribeEndpoints sends an EDS request for names unless the stream is
// already subscribed to exactly those.
func (s *session) subscribeEndpoints(names []string) error {
	if slices.Equal(names, s.edsSubscribed) {
		return nil
	}
	// The request also answers any EDS response still held back.
	delete(s.pending, EndpointType)
	s.edsRequested = true
	s.edsSubscribed = names
	s.c.log.Debug("xds endpoints subscription", "resources", names)
	return s.send(&discoveryv3.DiscoveryRequest{
		TypeUrl:       EndpointType,
		VersionInfo:   s.c.types[EndpointType].version,
		ResponseNonce: s.nonces[EndpointType],
		ResourceNames: names,
	})
}

func (s *session) onResponse(ctx context.Context, resp *discoveryv3.DiscoveryResponse) error {
	url := resp.GetTypeUrl()
	if _, ok := s.c.types[url]; !ok || (url == EndpointType && !s.edsRequested) || (url == RouteType && !s.rdsRequested) || (url == SecretType && !s.sdsRequested) {
		s.c.log.Warn("xds response of an unrequested type ignored", "type", url, "version", resp.GetVersionInfo())
		return nil
	}
	s.nonces[url] = resp.GetNonce()
	delete(s.pending, url) // a newer response supersedes a held one
	return s.consider(ctx, resp, responseDigest(resp))
}

// consider processes resp now, or holds it back: listeners until clusters
// have been accepted, a repeat of a rejected response until its retry delay.
func (s *session) consider(ctx context.Context, resp *discoveryv3.DiscoveryResponse, digest [sha256.Size]byte) error {
	url := resp.GetTypeUrl()
	if url == ListenerType && !s.c.cdsReady {
		s.pending[url] = pending{resp: resp, digest: digest}
		s.c.log.Debug("xds listeners held until clusters are accepted", "version", resp.GetVersionInfo())
		return nil
	}
	if st := s.c.types[url]; st.rejectStreak > 0 && digest == st.rejected {
		delay := s.c.rejectRetryDelay(st.rejectStreak)
		s.pending[url] = pending{resp: resp, digest: digest, due: time.Now().Add(delay)}
		s.c.log.Debug("xds response repeats a rejected one, retrying later",
			"type", typeLabel(url), "version", resp.GetVersionInfo(), "delay", delay)
		return nil
	}
	return s.process(ctx, resp, digest)
}

// process decodes resp, hands the resulting set to the Handler when it
// differs from the accepted one, and answers with an ACK or a NACK.
func (s *session) process(ctx context.Context, resp *discoveryv3.DiscoveryResponse, digest [sha256.Size]byte) error {
	url := resp.GetTypeUrl()
	st := s.c.types[url]
	set, err := decode(resp)
	if err == nil && (url == EndpointType || url == RouteType || url == SecretType) {
		set = mergeSubscribed(st.accepted, set, s.resourceNames(url))
	}
	changed := !st.have || !sameSet(set, st.accepted)
	if err == nil && changed {
		err = apply(ctx, s.c.cfg.Handler, url, set)
		if ctx.Err() != nil {
			return ctx.Err() // shutting down: answer nothing
		}
	}
	if err != nil {
		return s.nack(resp, digest, err)
	}
	return s.ack(ctx, resp, set, changed)
}

func (s *session) ack(ctx context.Context, resp *discoveryv3.DiscoveryResponse, set []named, changed bool) error {
	url := resp.GetTypeUrl()
	st := s.c.types[url]
	st.version = resp.GetVersionInfo()
	st.accepted = set
	st.have = true
	st.rejectStreak = 0
	st.rejected = [sha256.Size]byte{}
	s.c.setTypeStatus(url, TypeStatus{Version: st.version})
	s.c.metrics.update(url, true)
	if changed {
		s.c.log.Info("xds update applied", "type", typeLabel(url), "version", st.version, "resources", len(set))
	} else {
		s.c.log.Debug("xds update unchanged", "type", typeLabel(url), "version", st.version)
	}
	if err := s.send(&discoveryv3.DiscoveryRequest{
		TypeUrl:       url,
		VersionInfo:   st.version,
		ResponseNonce: resp.GetNonce(),
		ResourceNames: s.resourceNames(url),
	}); err != nil {
		return err
	}
	if url == ListenerType {
		if err := s.subscribeRoutes(ctx, rdsNames(set)); err != nil {
			return err
		}
		return s.subscribeSecrets(ctx, sdsNames(set))
	}
	if url != ClusterType {
		return nil
	}
	s.c.cdsReady = true
	if err := s.subscribeEndpoints(edsNames(set)); err != nil {
		return err
	}
	if p, ok := s.pending[ListenerType]; ok && p.due.IsZero() {
		delete(s.pending, ListenerType)
		return s.consider(ctx, p.resp, p.digest)
	}
	return nil
}

func (s *session) nack(resp *discoveryv3.DiscoveryResponse, digest [sha256.Size]byte, reason error) error {
	url := resp.GetTypeUrl()
	st := s.c.types[url]
	if digest == st.rejected {
		st.rejectStreak++
	} else {
		st.rejected, st.rejectStreak = digest, 1
	}
	s.c.setTypeStatus(url, TypeStatus{
		Version:         st.version,
		RejectedVersion: resp.GetVersionInfo(),
		Error:           reason.Error(),
	})
	s.c.metrics.update(url, false)
	if st.rejectStreak == 1 {
		s.c.log.Warn("xds update rejected", "type", typeLabel(url), "version", resp.GetVersionInfo(), "error", reason)
	} else {
		s.c.log.Debug("xds update rejected again", "type", typeLabel(url), "version", resp.GetVersionInfo(),
			"attempt", st.rejectStreak, "error", reason)
	}
	return s.send(&discoveryv3.DiscoveryRequest{
		TypeUrl:       url,
		VersionInfo:   st.version,
		ResponseNonce: resp.GetNonce(),
		ResourceNames: s.resourceNames(url),
		ErrorDetail: &statuspb.Status{
			Code:    nackCode,
			Message: reason.Error(),
		},
	})
}

// onDue processes the held responses whose retry delay has passed.
func (s *session) onDue(ctx context.Context) error {
	now := time.Now()
	for _, url := range typeURLs() {
		p, ok := s.pending[url]
		if !ok || p.due.IsZero() || p.due.After(now) {
			continue
		}
		delete(s.pending, url)
		if err := s.process(ctx, p.resp, p.digest); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) nextDue() (time.Time, bool) {
	var next time.Time
	for _, p := range s.pending {
		if !p.due.IsZero() && (next.IsZero() || p.due.Before(next)) {
			next = p.due
		}
	}
	return next, !next.IsZero()
}

// resourceNames is the subscription a request of type url carries: the EDS
// or RDS names, or nothing (wildcard) for CDS and LDS.
func (s *session) resourceNames(url string) []string {
	switch url {
	case EndpointType:
		return s.edsSubscribed
	case RouteType:
		return s.rdsSubscribed
	case SecretType:
		return s.sdsSubscribed
	}
	return nil
}

func (s *session) send(req *discoveryv3.DiscoveryRequest) error {
	if !s.nodeSent {
		req.Node = s.c.cfg.Node
		s.nodeSent = true
	}
	if err := s.stream.Send(req); err != nil {
		return fmt.Errorf("sending %s request: %w", typeLabel(req.GetTypeUrl()), err)
	}
	return nil
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

// rejectRetryDelay is the jittered delay before the streak-th repeat of a
// rejected response is processed again.
func (c *Client) rejectRetryDelay(streak int) time.Duration {
	initial, maxBackoff := c.cfg.backoffBounds()
	b := newBackoff(initial, max(initial, min(maxBackoff, maxRejectRetry)))
	b.attempt = streak - 1
	return b.next()
}
