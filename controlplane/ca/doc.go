// Package ca is the certificate authority of the Weft control plane.
//
// An Authority holds the trust domain's signing key and root certificate and
// turns certificate signing requests into X.509 SVIDs. It never trusts the
// identity a CSR claims: the caller's SPIFFE ID is decided by whoever calls
// Sign (the Service derives it from an authenticated token), and Sign only
// checks that the CSR asks for exactly that ID.
//
// Service exposes an Authority over gRPC (weft.ca.v1.CertificateService). It
// authenticates callers through an Authenticator: TokenAuthenticator checks
// bootstrap tokens against their SHA-256 digests (standalone mode); a
// Kubernetes TokenReview authenticator plugs in the same way.
//
// Where the keys live is kept apart from what the CA does with them. An
// Authority signs with Material: a signing certificate (a root, or an
// intermediate with the chain above it) and its key, plus every root it
// trusts. LoadOrCreate persists a self-signed root in a directory
// (standalone mode); Files reads Material from PEM files, a provided CA in
// cert-manager's layout (tls.crt, tls.key, ca.crt) among them; a
// Secret-backed store builds Material the same way. Update swaps the
// Material of a running Authority after the same checks, which is how a
// root is rotated with an overlapping trust bundle (docs/identity.md).
package ca
