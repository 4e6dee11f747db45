// Package injector is Weft's sidecar injection engine: a pure function from
// a pod (or a pod template) and the mesh configuration to the meshed pod.
//
// One engine serves both entry points, the mutating webhook in the control
// plane and `weftctl inject -f FILE`, so that what a user previews with the
// CLI is exactly what the webhook would do. The engine does no I/O: the
// webhook reads the configuration from the ConfigMap weft-system/weft-injector
// and hands it in; the CLI reads files. Everything it adds is listed in
// docs/injection.md, which is the contract.
//
// Injection is idempotent: an injected pod carries the annotation
// weft.dev/status: injected and is left as it is, so the webhook can inject a
// pod whose template weftctl already injected, and reinvocation changes
// nothing.
package injector
