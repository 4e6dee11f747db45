// Package proxy runs weft-proxy, the sidecar: it obtains the workload's
// certificate from the CA (generating the key locally), follows its
// configuration over ADS from the control plane, and serves the listeners
// that configuration describes. It keeps serving its last good configuration
// while the control plane is unreachable.
//
// The pieces live in subpackages: identity (SVIDs), xdsclient (ADS),
// dataplane (listeners, clusters, mTLS), tcpproxy (byte copying), status
// (the kubelet's port: /ready and the app's rewritten probes).
package proxy
