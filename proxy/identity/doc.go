// Package identity keeps the proxy's X.509 SVID. It has two sources, both
// satisfying Source (go-spiffe's x509svid.Source and x509bundle.Source,
// plus Start, Close and Certs):
//
//   - Manager, the CSR flow with Weft's CA: it generates a private key in
//     the pod (the key never leaves the process), sends a CSR with a bearer
//     token to the CA (weft.ca.v1.CertificateService), and renews the
//     certificate with a new key at a random point between 40% and 55% of
//     its lifetime, counted from when it arrived (the CA backdates
//     NotBefore for clock skew). The jitter keeps proxies started together
//     from renewing together. A failed renewal is retried with exponential
//     backoff while the current certificate stays in use; each failure is
//     logged at warn level with the time left, and at error level once the
//     certificate has expired.
//   - WorkloadAPISource, the SPIFFE Workload API (a SPIRE agent): go-spiffe's
//     workloadapi.X509Source, which the issuer keeps current. The source
//     warns when the SVID reaches 80% of its lifetime without an update.
//
// TLS configurations built from a Source with spiffetls/tlsconfig
// (MTLSServerConfig, MTLSClientConfig) always present the current
// certificate and trust the current bundle:
//
//	m := identity.New(cfg)
//	if err := m.Start(ctx); err != nil { ... } // returns holding an SVID
//	defer m.Close()
//	serverTLS := tlsconfig.MTLSServerConfig(m, m, tlsconfig.AuthorizeMemberOf(td))
//
// Metrics (on the config's Registerer):
//
//	weft_proxy_svid_expiry_timestamp_seconds   NotAfter of the current SVID
//	weft_certificate_expiry_timestamp_seconds{certificate="workload"}  the same, under the name docs/metrics.md uses
//	weft_proxy_svid_renewals_total{result}     success, failure
//
// A failure is a failed request to the CA after the first certificate, or,
// with the Workload API, a check that found the SVID overdue for renewal.
//
// The package talks to the CA only over its gRPC API; it does not import
// the control plane.
package identity
