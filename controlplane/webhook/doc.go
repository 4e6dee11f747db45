// Package webhook serves the sidecar injector's mutating admission webhook
// from the control plane, so that the component that issues workload
// certificates also owns the webhook's: its serving certificate comes from
// the control plane's CA, is reissued at half-life without a restart, and
// the CA's roots are kept in the MutatingWebhookConfiguration's caBundle.
//
// The pod patch itself is injector.Inject's, the one engine shared with
// `weftctl inject`; this package only carries pods to it and back, with the
// mesh configuration read from a ConfigMap it watches. See
// docs/injection.md.
package webhook
