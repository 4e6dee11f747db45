// Package xdsclient is the proxy's xDS client: one Aggregated Discovery
// Service (ADS) stream, state of the world, Envoy v3 resources.
//
// The client subscribes to clusters (CDS) and listeners (LDS) with wildcard
// requests, then to the ClusterLoadAssignments (EDS) of every EDS cluster it
// has accepted, and to the RouteConfigurations (RDS) named by the
// rds.route_config_name of the HTTP connection managers of the listeners it
// has accepted (sorted; a new request only when that set changes). Each
// response is unmarshalled and checked (every resource of
// the response's type, a unique non-empty name) before the complete set of
// that type is handed to a Handler. The Handler's verdict becomes the ACK or
// the NACK, whose error_detail carries the Handler's message.
//
// Ordering follows Envoy: clusters are applied before their endpoints (EDS is
// only requested once a CDS response has been accepted), and listeners are
// applied only once a set of clusters has been accepted; route
// configurations come after the listeners that name them. Until its route
// configuration arrives, an HTTP listener has no routes (the Handler decides
// what that means; the dataplane answers 503 with response flag NR).
//
// EDS and RDS responses need not carry every subscribed resource (xDS
// protocol, "grouping resources into responses"): the client merges each
// response with the resources of the type it already accepted, drops those
// no longer subscribed, and hands the Handler the merged set. Route
// configurations that no accepted listener names any more are dropped (and
// the Handler told) as soon as the listeners change, since a control plane
// need not answer a narrower subscription.
//
// On a stream failure the client logs once, backs off exponentially with
// jitter and reconnects, sending its subscriptions with the versions it last
// accepted. A response whose resources equal the accepted set is ACKed
// without calling the Handler, so a reconnect to a control plane with
// unchanged state does not re-apply anything, and the Handler never sees an
// empty update merely because the stream was down.
//
// Some control planes (go-control-plane's snapshot cache among them) answer a
// NACK by sending the rejected response again at once. The client processes
// such a repeat only after a growing delay, so a bad configuration costs a
// few retries rather than a busy loop, while a rejection that was transient
// (a port briefly in use) is still retried.
package xdsclient
