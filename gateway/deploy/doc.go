// Package deploy runs each Gateway of Weft's class (docs/gateway.md, "What
// Weft creates for a Gateway"): a ServiceAccount (the gateway's SPIFFE
// identity), a Deployment of weft-proxy --mode=gateway built from the same
// mesh configuration as an injected sidecar, and a LoadBalancer Service
// with externalTrafficPolicy Local, so that the gateway sees the client's
// address. Render is a pure function of the Gateway, its parameters and
// the mesh configuration, golden-tested; Reconciler applies what Render
// returns with server-side apply and deletes it when the Gateway goes.
// The objects are owned by the Gateway, so that a cluster's garbage
// collector removes them too; the Reconciler deletes them itself so that
// it does not depend on one.
package deploy
