package xdsclient

import (
	"context"
	"slices"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
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
