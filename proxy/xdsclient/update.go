package xdsclient

import (
	"context"
	"crypto/sha256"
	"time"
)

func (s *session) onResponse(ctx context.Context, r *response) error {
	url := r.typeURL
	if _, ok := s.subscribed[url]; !ok {
		s.c.log.Warn("xds response of an unrequested type ignored", "type", url, "version", r.version)
		return nil
	}
	s.nonces[url] = r.nonce
	r = compose(s.unapplied[url], r)
	delete(s.pending, url) // a newer response supersedes a held one
	return s.consider(ctx, r, r.digest())
}

// consider processes r now, or holds it back: listeners until clusters
// have been accepted, a repeat of a rejected response until its retry delay.
func (s *session) consider(ctx context.Context, r *response, digest [sha256.Size]byte) error {
	url := r.typeURL
	if url == ListenerType && !s.c.cdsReady {
		s.hold(r, pending{resp: r, digest: digest})
		s.c.log.Debug("xds listeners held until clusters are accepted", "version", r.version)
		return nil
	}
	if st := s.c.types[url]; st.rejectStreak > 0 && digest == st.rejected {
		delay := s.c.rejectRetryDelay(st.rejectStreak)
		s.hold(r, pending{resp: r, digest: digest, due: time.Now().Add(delay)})
		s.c.log.Debug("xds response repeats a rejected one, retrying later",
			"type", typeLabel(url), "version", r.version, "delay", delay)
		return nil
	}
	return s.process(ctx, r, digest)
}

func (s *session) hold(r *response, p pending) {
	s.pending[r.typeURL] = p
	s.unapplied[r.typeURL] = r
}

// process decodes r, hands the resulting set to the Handler when it
// differs from the accepted one, and answers with an ACK or a NACK.
func (s *session) process(ctx context.Context, r *response, digest [sha256.Size]byte) error {
	st := s.c.types[r.typeURL]
	update, err := decode(r)
	var set []named
	if err == nil {
		set = s.nextSet(st, r, update)
	}
	changed := !st.have || !sameSet(set, st.accepted)
	if err == nil && changed {
		err = apply(ctx, s.c.cfg.Handler, r.typeURL, set)
		if ctx.Err() != nil {
			return ctx.Err() // shutting down: answer nothing
		}
	}
	if err != nil {
		return s.nack(r, digest, err)
	}
	return s.ack(ctx, r, set, changed)
}

// nextSet is the set of r's type that accepting r leads to. A SotW CDS or
// LDS response is the whole set; any other response changes the accepted
// set, and for EDS, RDS and SDS only the subscribed names are kept.
func (s *session) nextSet(st *typeState, r *response, update []named) []named {
	if wildcard(r.typeURL) && !r.incremental {
		return update
	}
	set := merge(withoutNamed(st.accepted, r.removed), update)
	if wildcard(r.typeURL) {
		return set
	}
	return keepNamed(set, s.subscribed[r.typeURL])
}

func (s *session) ack(ctx context.Context, r *response, set []named, changed bool) error {
	url := r.typeURL
	st := s.c.types[url]
	st.version = r.version
	st.accepted = set
	st.have = true
	st.rejectStreak = 0
	st.rejected = [sha256.Size]byte{}
	delete(s.unapplied, url)
	s.c.setTypeStatus(url, TypeStatus{Version: st.version, Accepted: true})
	s.c.metrics.update(url, true)
	if changed {
		s.c.log.Info("xds update applied", "type", typeLabel(url), "version", st.version, "resources", len(set))
	} else {
		s.c.log.Debug("xds update unchanged", "type", typeLabel(url), "version", st.version)
	}
	if err := s.w.answer(r, s.subscribed[url], nil); err != nil {
		return err
	}
	switch url {
	case ListenerType:
		if err := s.follow(ctx, RouteType, rdsNames(set)); err != nil {
			return err
		}
		return s.follow(ctx, SecretType, sdsNames(set))
	case ClusterType:
		s.c.cdsReady = true
		if err := s.follow(ctx, EndpointType, edsNames(set)); err != nil {
			return err
		}
		if p, ok := s.pending[ListenerType]; ok && p.due.IsZero() {
			delete(s.pending, ListenerType)
			return s.consider(ctx, p.resp, p.digest)
		}
	}
	return nil
}

func (s *session) nack(r *response, digest [sha256.Size]byte, reason error) error {
	url := r.typeURL
	st := s.c.types[url]
	if digest == st.rejected {
		st.rejectStreak++
	} else {
		st.rejected, st.rejectStreak = digest, 1
	}
	s.unapplied[url] = r
	s.c.setTypeStatus(url, TypeStatus{
		Version:         st.version,
		Accepted:        st.have,
		RejectedVersion: r.version,
		Error:           reason.Error(),
	})
	s.c.metrics.update(url, false)
	if st.rejectStreak == 1 {
		s.c.log.Warn("xds update rejected", "type", typeLabel(url), "version", r.version, "error", reason)
	} else {
		s.c.log.Debug("xds update rejected again", "type", typeLabel(url), "version", r.version,
			"attempt", st.rejectStreak, "error", reason)
	}
	return s.w.answer(r, s.subscribed[url], reason)
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

// rejectRetryDelay is the jittered delay before the streak-th repeat of a
// rejected response is processed again.
func (c *Client) rejectRetryDelay(streak int) time.Duration {
	initial, maxBackoff := c.cfg.backoffBounds()
	b := newBackoff(initial, max(initial, min(maxBackoff, maxRejectRetry)))
	b.attempt = streak - 1
	return b.next()
}
