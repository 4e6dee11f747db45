// Package rbac enforces the Envoy RBAC filters the control plane sends
// (envoy.filters.http.rbac and envoy.filters.network.rbac, docs/xds.md
// "Authorization"): it compiles their envoy.config.rbac.v3.RBAC rules once,
// when an update arrives, into matchers that evaluate a request or a
// connection without touching an Envoy type, so that the per-request path
// is small and its semantics are ours to test.
//
// Compilation refuses every field outside the subset docs/xds.md lists,
// naming its path through package allowlist, so the control plane learns
// from the NACK what the proxy cannot enforce; an authorization rule the
// proxy skipped silently would be a hole.
//
// A Chain holds the RBAC filters of one filter chain in the order they were
// received (the translator sends LOG, then DENY, then ALLOW) and decides
// as Envoy's filter chain does: a LOG filter records the policies that
// matched and goes on, a DENY filter stops at its first matching policy
// (in lexicographic order of the keys), and an ALLOW filter stops when
// none of its policies match. Identities are compared as the literal
// strings they are: no matcher is a regular expression, and an empty
// identity (plaintext) never matches an authenticated principal.
package rbac
