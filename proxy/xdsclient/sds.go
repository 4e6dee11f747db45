package xdsclient

import (
	"context"
	"slices"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// SecretType is the type URL of SDS secrets: a gateway's certificates,
// subscribed by the names its listeners reference (docs/gateway.md).
const SecretType = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

// SecretHandler is a Handler that also takes SDS secrets. The client
// subscribes to secrets only when its Handler is one.
type SecretHandler interface {
	Handler
	// OnSecrets gets the Secrets named by the accepted listeners'
	// DownstreamTlsContexts, other than "default" and "ROOTCA", which
	// the proxy resolves from its own identity and never subscribes to.
	OnSecrets(ctx context.Context, secrets []*tlsv3.Secret) error
}

// Secret names the proxy resolves itself (docs/xds.md).
var ownSecrets = []string{"default", "ROOTCA"}

// sdsNames returns the sorted, unique certificate secret names that the
// DownstreamTlsContexts of a set of listeners reference, without the
// proxy's own. Transport sockets that do not unmarshal are skipped: the
// Handler judges them.
func sdsNames(listeners []named) []string {
	var names []string
	for _, r := range listeners {
		l, ok := r.msg.(*listenerv3.Listener)
		if !ok {
			continue
		}
		for _, fc := range l.GetFilterChains() {
			tc := fc.GetTransportSocket().GetTypedConfig()
			var dtc tlsv3.DownstreamTlsContext
			if tc == nil || tc.UnmarshalTo(&dtc) != nil {
				continue
			}
			for _, s := range dtc.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs() {
				if n := s.GetName(); n != "" && !slices.Contains(ownSecrets, n) {
					names = append(names, n)
				}
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// subscribeSecrets sends an SDS request for names unless the stream is
// already subscribed to exactly those, or the Handler takes no secrets.
// Secrets no listener names any more are dropped at once, as routes are.
func (s *session) subscribeSecrets(ctx context.Context, names []string) error {
	if _, ok := s.c.cfg.Handler.(SecretHandler); !ok || slices.Equal(names, s.sdsSubscribed) {
		return nil
	}
	s.dropUnsubscribed(ctx, SecretType, names)
	delete(s.pending, SecretType)
	s.sdsRequested = true
	s.sdsSubscribed = names
	s.c.log.Debug("xds secrets subscription", "resources", names)
	return s.send(&discoveryv3.DiscoveryRequest{
		TypeUrl:       SecretType,
		VersionInfo:   s.c.types[SecretType].version,
		ResponseNonce: s.nonces[SecretType],
		ResourceNames: names,
	})
}

// dropUnsubscribed hands the Handler the accepted resources of url that
// names still holds, when some are gone. A refusal is logged and changes
// nothing: the next response tries again.
func (s *session) dropUnsubscribed(ctx context.Context, url string, names []string) {
	st := s.c.types[url]
	if !st.have {
		return
	}
	kept := mergeSubscribed(st.accepted, nil, names)
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
