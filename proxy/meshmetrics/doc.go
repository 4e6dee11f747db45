// Package meshmetrics holds the metrics people look at: requests, their
// latency, and TCP traffic, each labelled with who talked to whom — source
// and destination workload, namespace and SPIFFE principal — and which
// proxy counted it (reporter "source" for the client's sidecar,
// "destination" for the server's). The HTTP proxy and the dataplane share
// one set of collectors per registry, so that a dashboard, an alert or
// weftctl stat reads one metric per question whatever the protocol.
//
// Labels stay bounded: workloads, namespaces and principals are a
// cluster's, service names come from the configuration, codes and flags
// from short lists; never a path, a pod IP or a client-chosen header.
//
// Where the labels come from (docs/metrics.md): each proxy knows its own
// Workload; the peer's principal is the verified SPIFFE ID of the mTLS
// connection, and its namespace the one in that ID. The peer's workload
// name travels in x-weft-* headers between sidecars (see Header*), trusted
// only over mTLS and only when the namespace they claim is the one of the
// peer's certificate.
package meshmetrics
