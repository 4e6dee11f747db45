package dataplane

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Names fixed by docs/xds.md.
const (
	tlsTransportSocket = "envoy.transport_sockets.tls"
	certificateSecret  = "default"
	validationSecret   = "ROOTCA"
)

// sanMatcher is one URI SAN matcher: exactly one of exact and prefix is set.
type sanMatcher struct {
	exact  spiffeid.ID
	prefix string
}

// parseTransportSocket checks a transport socket that must be
// envoy.transport_sockets.tls with the given context type, and unpacks its
// typed_config into msg.
func parseTransportSocket(p *problems, path string, ts *corev3.TransportSocket, msg proto.Message) bool {
	before := p.Len()
	p.OnlyFields(path, ts, "name", "typed_config")
	if ts.GetName() != "" && ts.GetName() != tlsTransportSocket {
		p.Addf(field(path, "name"), "unsupported transport socket %q", ts.GetName())
	}
	unpackTyped(p, field(path, "typed_config"), ts.GetTypedConfig(), msg)
	return p.Len() == before
}

// unpackTyped unpacks a typed_config that must hold a msg.
func unpackTyped(p *problems, path string, a *anypb.Any, msg proto.Message) bool {
	if a == nil {
		p.Addf(path, "missing")
		return false
	}
	want := "type.googleapis.com/" + string(msg.ProtoReflect().Descriptor().FullName())
	if a.GetTypeUrl() != want {
		p.Addf(path, "unsupported type %q", a.GetTypeUrl())
		return false
	}
	if err := a.UnmarshalTo(msg); err != nil {
		p.Addf(path, "%v", err)
		return false
	}
	return true
}

// downstreamTLS is what a listener's DownstreamTlsContext asks for.
type downstreamTLS struct {
	matchers []sanMatcher
	alpn     []string
}

// parseDownstreamTLS checks a listener's DownstreamTlsContext.
func parseDownstreamTLS(p *problems, path string, ts *corev3.TransportSocket) (*downstreamTLS, bool) {
	var dtc tlsv3.DownstreamTlsContext
	if !parseTransportSocket(p, path, ts, &dtc) {
		return nil, false
	}
	path = field(path, "typed_config")
	before := p.Len()
	p.OnlyFields(path, &dtc, "common_tls_context", "require_client_certificate")
	if !dtc.GetRequireClientCertificate().GetValue() {
		p.Addf(field(path, "require_client_certificate"), "must be true")
	}
	matchers, alpn := parseCommonTLS(p, field(path, "common_tls_context"), dtc.GetCommonTlsContext())
	return &downstreamTLS{matchers: matchers, alpn: alpn}, p.Len() == before
}

// upstreamTLS is what a cluster's UpstreamTlsContext asks for.
type upstreamTLS struct {
	sni      string
	matchers []sanMatcher
	alpn     []string
}

// parseUpstreamTLS checks a cluster's UpstreamTlsContext.
func parseUpstreamTLS(p *problems, path string, ts *corev3.TransportSocket) (*upstreamTLS, bool) {
	var utc tlsv3.UpstreamTlsContext
	if !parseTransportSocket(p, path, ts, &utc) {
		return nil, false
	}
	path = field(path, "typed_config")
	before := p.Len()
	p.OnlyFields(path, &utc, "common_tls_context", "sni")
	matchers, alpn := parseCommonTLS(p, field(path, "common_tls_context"), utc.GetCommonTlsContext())
	return &upstreamTLS{sni: utc.GetSni(), matchers: matchers, alpn: alpn}, p.Len() == before
}

// parseCommonTLS checks that the certificate is SDS secret "default", the
// validation context SDS secret "ROOTCA", and returns the URI SAN matchers
// and the ALPN protocols.
func parseCommonTLS(p *problems, path string, c *tlsv3.CommonTlsContext) ([]sanMatcher, []string) {
	if c == nil {
		p.Addf(path, "missing")
		return nil, nil
	}
	p.OnlyFields(path, c, "tls_certificate_sds_secret_configs", "validation_context_sds_secret_config", "combined_validation_context", "alpn_protocols")
	alpn := c.GetAlpnProtocols()
	for i, proto := range alpn {
		if proto != "h2" && proto != "http/1.1" {
			p.Addf(index(field(path, "alpn_protocols"), i), "unsupported protocol %q, want h2 or http/1.1", proto)
		}
	}
	return parseValidation(p, path, c), alpn
}

// parseValidation checks the certificate and validation context of a
// CommonTlsContext and returns its URI SAN matchers.
func parseValidation(p *problems, path string, c *tlsv3.CommonTlsContext) []sanMatcher {
	certs := c.GetTlsCertificateSdsSecretConfigs()
	if len(certs) != 1 {
		p.Addf(field(path, "tls_certificate_sds_secret_configs"), "want exactly one secret, got %d", len(certs))
	} else {
		parseSecret(p, index(field(path, "tls_certificate_sds_secret_configs"), 0), certs[0], certificateSecret)
	}
	switch {
	case c.GetValidationContextSdsSecretConfig() != nil:
		parseSecret(p, field(path, "validation_context_sds_secret_config"), c.GetValidationContextSdsSecretConfig(), validationSecret)
		return nil
	case c.GetCombinedValidationContext() != nil:
		return parseCombinedValidation(p, field(path, "combined_validation_context"), c.GetCombinedValidationContext())
	case c.GetValidationContextType() == nil:
		p.Addf(field(path, "combined_validation_context"), "missing")
	}
	return nil
}

// parseSecret checks an SDS secret reference. Its sds_config is not
// consulted: the proxy resolves both secrets from its own identity.
func parseSecret(p *problems, path string, s *tlsv3.SdsSecretConfig, want string) {
	p.OnlyFields(path, s, "name", "sds_config")
	if s.GetName() != want {
		p.Addf(field(path, "name"), "unknown secret %q, want %q", s.GetName(), want)
	}
}

func parseCombinedValidation(p *problems, path string, cv *tlsv3.CommonTlsContext_CombinedCertificateValidationContext) []sanMatcher {
	p.OnlyFields(path, cv, "default_validation_context", "validation_context_sds_secret_config")
	if s := cv.GetValidationContextSdsSecretConfig(); s == nil {
		p.Addf(field(path, "validation_context_sds_secret_config"), "missing")
	} else {
		parseSecret(p, field(path, "validation_context_sds_secret_config"), s, validationSecret)
	}
	vc := cv.GetDefaultValidationContext()
	if vc == nil {
		return nil
	}
	path = field(path, "default_validation_context")
	p.OnlyFields(path, vc, "match_typed_subject_alt_names")
	var out []sanMatcher
	for i, m := range vc.GetMatchTypedSubjectAltNames() {
		if sm, ok := parseSANMatcher(p, index(field(path, "match_typed_subject_alt_names"), i), m); ok {
			out = append(out, sm)
		}
	}
	return out
}

func parseSANMatcher(p *problems, path string, m *tlsv3.SubjectAltNameMatcher) (sanMatcher, bool) {
	before := p.Len()
	p.OnlyFields(path, m, "san_type", "matcher")
	if m.GetSanType() != tlsv3.SubjectAltNameMatcher_URI {
		p.Addf(field(path, "san_type"), "unsupported SAN type %s, want URI", m.GetSanType())
	}
	var out sanMatcher
	sm := m.GetMatcher()
	path = field(path, "matcher")
	if sm == nil {
		p.Addf(path, "missing")
		return out, false
	}
	p.OnlyFields(path, sm, "exact", "prefix")
	switch pattern := sm.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		id, err := spiffeid.FromString(pattern.Exact)
		if err != nil {
			p.Addf(field(path, "exact"), "%q is not a SPIFFE ID: %v", pattern.Exact, err)
		}
		out.exact = id
	case *matcherv3.StringMatcher_Prefix:
		if !strings.HasPrefix(pattern.Prefix, "spiffe://") || len(pattern.Prefix) == len("spiffe://") {
			p.Addf(field(path, "prefix"), "%q is not a SPIFFE ID prefix", pattern.Prefix)
		}
		out.prefix = pattern.Prefix
	case nil:
		p.Addf(field(path, "exact"), "missing")
	}
	return out, p.Len() == before
}
