package dataplane

import (
	"crypto/tls"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// A gateway terminates the TLS of external clients (docs/gateway.md): its
// DownstreamTlsContext names SDS secrets other than "default", asks no
// client certificate and validates none, and may lower the minimum TLS
// version to 1.2. Sidecar contexts (mTLS, parse_tls.go) are unchanged.

// isEdgeTLS reports whether a listener's transport socket is a gateway's
// DownstreamTlsContext: one that requires no client certificate and names
// a certificate secret other than the proxy's own. Any other is judged as
// a sidecar's mTLS context (parse_tls.go).
func isEdgeTLS(ts *corev3.TransportSocket) bool {
	var dtc tlsv3.DownstreamTlsContext
	if ts.GetTypedConfig() == nil || ts.GetTypedConfig().UnmarshalTo(&dtc) != nil || dtc.GetRequireClientCertificate().GetValue() {
		return false
	}
	return slices.ContainsFunc(dtc.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs(), func(s *tlsv3.SdsSecretConfig) bool {
		return s.GetName() != certificateSecret
	})
}

// parseEdgeTLS checks a gateway's DownstreamTlsContext and returns its
// server configuration: certificates looked up by SNI at every handshake
// among the named secrets (the first is the default), no client
// certificate. A handshake waits, up to the handshake timeout, for secrets
// that have not arrived yet.
func (d *Dataplane) parseEdgeTLS(p *problems, path string, ts *corev3.TransportSocket) *tls.Config {
	var dtc tlsv3.DownstreamTlsContext
	if !parseTransportSocket(p, path, ts, &dtc) {
		return nil
	}
	path = field(path, "typed_config")
	before := p.Len()
	p.OnlyFields(path, &dtc, "common_tls_context", "require_client_certificate")
	path = field(path, "common_tls_context")
	c := dtc.GetCommonTlsContext()
	p.OnlyFields(path, c, "tls_certificate_sds_secret_configs", "alpn_protocols", "tls_params")
	var names []string
	for i, s := range c.GetTlsCertificateSdsSecretConfigs() {
		spath := index(field(path, "tls_certificate_sds_secret_configs"), i)
		p.OnlyFields(spath, s, "name", "sds_config")
		switch n := s.GetName(); n {
		case "":
			p.Addf(field(spath, "name"), "missing")
		case certificateSecret, validationSecret:
			p.Addf(field(spath, "name"), "secret %q cannot be mixed with gateway certificates", n)
		default:
			names = append(names, n)
		}
	}
	for i, proto := range c.GetAlpnProtocols() {
		if proto != "h2" && proto != "http/1.1" {
			p.Addf(index(field(path, "alpn_protocols"), i), "unsupported protocol %q, want h2 or http/1.1", proto)
		}
	}
	minVersion := uint16(tls.VersionTLS12)
	if tp := c.GetTlsParams(); tp != nil {
		ppath := field(path, "tls_params")
		p.OnlyFields(ppath, tp, "tls_minimum_protocol_version")
		switch v := tp.GetTlsMinimumProtocolVersion(); v {
		case tlsv3.TlsParameters_TLS_AUTO, tlsv3.TlsParameters_TLSv1_2:
		case tlsv3.TlsParameters_TLSv1_3:
			minVersion = tls.VersionTLS13
		default:
			p.Addf(field(ppath, "tls_minimum_protocol_version"), "unsupported version %s, want TLSv1_2 or TLSv1_3", v)
		}
	}
	if p.Len() != before {
		return nil
	}
	return &tls.Config{
		MinVersion:     minVersion,
		NextProtos:     c.GetAlpnProtocols(),
		ClientAuth:     tls.NoClientCert,
		GetCertificate: edgeCertificates{store: &d.secrets, names: names}.get,
	}
}

// edgeCertificates are the secrets a chain serves.
type edgeCertificates struct {
	store *secretStore
	names []string
}

// get returns the certificate for a ClientHello, waiting for the secrets
// as long as the handshake may last.
func (e edgeCertificates) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	certs, err := e.store.wait(hello.Context(), e.names)
	if err != nil {
		return nil, err
	}
	return pickCertificate(certs, hello.ServerName), nil
}

// pickCertificate chooses the certificate for a client's SNI as crypto/tls
// does among several: one whose DNS names hold the name exactly, else one
// valid for it (wildcards), else the first.
func pickCertificate(certs []*tls.Certificate, sni string) *tls.Certificate {
	name := strings.ToLower(strings.TrimSuffix(sni, "."))
	if name == "" || len(certs) == 1 {
		return certs[0]
	}
	for _, c := range certs {
		if c.Leaf != nil && slices.ContainsFunc(c.Leaf.DNSNames, func(n string) bool { return strings.EqualFold(n, name) }) {
			return c
		}
	}
	for _, c := range certs {
		if c.Leaf != nil && c.Leaf.VerifyHostname(name) == nil {
			return c
		}
	}
	return certs[0]
}

// edgeHandshake reports whether c, a chain's server TLS configuration,
// terminates a gateway's TLS: no client certificate, no peer SPIFFE ID.
func edgeHandshake(c *tls.Config) bool {
	return c != nil && c.ClientAuth == tls.NoClientCert
}
