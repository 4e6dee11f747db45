// Package status serves the proxy's status port (15020), the one port of
// the sidecar the kubelet talks to. Under STRICT mTLS the kubelet, which
// has no mesh certificate, cannot reach the app's own probe ports through
// the proxy, so the injector rewrites the app's HTTP and gRPC probes to
// /app-health/<container>/<livez|readyz|startupz> here, and this server
// asks the app on loopback on the kubelet's behalf, with the kubelet's
// semantics (200–399 is success, a timeout is a failure). The same port
// answers /ready, which the native sidecar's startupProbe checks so that
// app containers start only once the proxy has its certificate and
// configuration, and /metrics for Prometheus. Under weft-proxy --capture
// it also answers the proxy's own capture probe (package capture), which
// the probe rule redirects here from 127.0.0.1:15007, and /ready fails
// while that probe does.
//
// The probe table comes from the injector in the env var WEFT_APP_PROBES
// (docs/injection.md). Targets are fixed by that table and must be
// loopback, so the port cannot be used to reach anything else.
package status
