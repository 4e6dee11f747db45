package translate

import (
	"slices"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// downstreamTLS is the inbound mTLS socket: it requires a client certificate
// from any workload of trust domain td, and offers the ALPN protocols alpn
// (none when empty).
func downstreamTLS(td spiffeid.TrustDomain, alpn []string) (*core.TransportSocket, error) {
	common := commonTLS(&tlsv3.CertificateValidationContext{
		MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{
			uriMatcher(&matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: td.IDString() + "/"}}),
		},
	})
	common.AlpnProtocols = alpn
	return transportSocket(&tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapperspb.Bool(true),
		CommonTlsContext:         common,
	})
}

// upstreamTLS is the outbound mTLS socket: it sends sni, offers the ALPN
// protocols alpn (none when empty) and accepts exactly the identities in ids
// (none when ids is empty).
func upstreamTLS(sni string, ids []spiffeid.ID, alpn []string) (*core.TransportSocket, error) {
	uris := make([]string, 0, len(ids))
	for _, id := range ids {
		uris = append(uris, id.String())
	}
	slices.Sort(uris)
	uris = slices.Compact(uris)

	vc := &tlsv3.CertificateValidationContext{}
	for _, u := range uris {
		vc.MatchTypedSubjectAltNames = append(vc.MatchTypedSubjectAltNames,
			uriMatcher(&matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: u}}))
	}
	common := commonTLS(vc)
	common.AlpnProtocols = alpn
	return transportSocket(&tlsv3.UpstreamTlsContext{
		Sni:              sni,
		CommonTlsContext: common,
	})
}

// commonTLS presents the proxy's own certificate and validates the peer
// against the mesh's trust bundle and vc.
func commonTLS(vc *tlsv3.CertificateValidationContext) *tlsv3.CommonTlsContext {
	return &tlsv3.CommonTlsContext{
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: SecretDefault}},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         vc,
				ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: SecretRootCA},
			},
		},
	}
}

func uriMatcher(m *matcher.StringMatcher) *tlsv3.SubjectAltNameMatcher {
	return &tlsv3.SubjectAltNameMatcher{SanType: tlsv3.SubjectAltNameMatcher_URI, Matcher: m}
}

// transportSocket wraps a TLS context in the TLS transport socket.
func transportSocket(ctx proto.Message) (*core.TransportSocket, error) {
	cfg, err := typed(ctx)
	if err != nil {
		return nil, err
	}
	return &core.TransportSocket{
		Name:       wellknown.TransportSocketTLS,
		ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: cfg},
	}, nil
}
