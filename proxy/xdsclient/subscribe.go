package xdsclient

import (
	"context"
	"slices"
)

// subscribe sends a stream's opening requests: CDS and LDS (every
// resource), then EDS for the clusters and RDS and SDS for the listeners
// accepted on an earlier stream, each naming what the client holds (SotW:
// the version last accepted; delta: each resource's) so that a control
// plane with unchanged state need not send it again.
func (s *session) subscribe(ctx context.Context) error {
	for _, url := range []string{ClusterType, ListenerType} {
		s.subscribed[url] = nil
		if err := s.w.subscribe(url, nil, nil, true, ""); err != nil {
			return err
		}
	}
	if !s.c.cdsReady {
		return nil
	}
	if err := s.follow(ctx, EndpointType, edsNames(s.c.types[ClusterType].accepted)); err != nil {
		return err
	}
	if lds := s.c.types[ListenerType]; lds.have {
		if err := s.follow(ctx, RouteType, rdsNames(lds.accepted)); err != nil {
			return err
		}
		return s.follow(ctx, SecretType, sdsNames(lds.accepted))
	}
	return nil
}

// follow subscribes the stream to exactly names of an EDS, RDS or SDS type,
// unless it already is (or the Handler takes no secrets). Accepted
// resources no longer named are dropped at once, as Envoy does: a control
// plane need not answer a narrower subscription, and a delta one never
// does.
func (s *session) follow(ctx context.Context, url string, names []string) error {
	if _, ok := s.c.cfg.Handler.(SecretHandler); url == SecretType && !ok {
		return nil
	}
	was, requested := s.subscribed[url]
	if slices.Equal(names, was) {
		return nil
	}
	s.dropUnsubscribed(ctx, url, names)
	// The request also answers (SotW) or outdates any response of the type
	// still held back.
	delete(s.pending, url)
	s.subscribed[url] = names
	s.c.log.Debug("xds subscription", "type", typeLabel(url), "resources", names)
	return s.w.subscribe(url, was, names, !requested, s.nonces[url])
}

// dropUnsubscribed hands the Handler the accepted resources of url that
// names still holds, when some are gone. A refusal is logged and changes
// nothing: the next response tries again.
func (s *session) dropUnsubscribed(ctx context.Context, url string, names []string) {
	st := s.c.types[url]
	if !st.have {
		return
	}
	kept := keepNamed(st.accepted, names)
	if sameSet(kept, st.accepted) {
		return
	}
	if err := apply(ctx, s.c.cfg.Handler, url, kept); err != nil {
		s.c.log.Warn("xds resources no longer named kept", "type", typeLabel(url), "error", err)
		return
	}
	st.accepted = kept
	s.c.log.Info("xds resources no longer named dropped", "type", typeLabel(url), "resources", len(kept))
}
