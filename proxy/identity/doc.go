// Package identity keeps the proxy's X.509 SVID: it generates a private key
// in the pod (the key never leaves the process), sends a CSR with a bearer
// token to the Weft CA (weft.ca.v1.CertificateService), and renews the
// certificate, with a new key, when half of its remaining lifetime has
// passed.
//
// A Manager is a go-spiffe x509svid.Source and x509bundle.Source, so TLS
// configurations built from it with spiffetls/tlsconfig (MTLSServerConfig,
// MTLSClientConfig) always present the current certificate and trust the
// current bundle:
//
//	m := identity.New(cfg)
//	if err := m.Start(ctx); err != nil { ... } // returns holding an SVID
//	defer m.Close()
//	serverTLS := tlsconfig.MTLSServerConfig(m, m, tlsconfig.AuthorizeMemberOf(td))
//
// The package talks to the CA only over its gRPC API; it does not import
// the control plane.
package identity
