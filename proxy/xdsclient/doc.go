// Package xdsclient is the proxy's xDS client: one Aggregated Discovery
// Service (ADS) stream, state of the world (SotW) or incremental (delta),
// Envoy v3 resources.
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
// The two protocols (Config.Protocol) differ only on the wire (wire.go,
// sotw.go, delta.go); the session that judges responses, orders the types
// and paces retries is shared, and the Handler cannot tell them apart. SotW
// CDS and LDS responses are the whole set of their type. Delta responses
// carry only the resources that changed, each with its name and version,
// and the names of those removed (removed_resources): the client applies
// them to the set it accepted and hands the Handler the result. A delta
// subscription change names only what it adds (resource_names_subscribe)
// and drops (resource_names_unsubscribe); CDS and LDS subscribe to "*". A
// delta ACK or NACK names only the response's nonce.
//
// A delta control plane takes what it sent as held, NACKed or not, and
// sends only later changes (go-control-plane does not send a rejected
// response again). So a delta response that is rejected, or held back, is
// composed with the next one of its type before that is judged: the set
// judged is always the control plane's view, as with SotW, and a fix that
// removes a bad resource applies the good changes that came with it.
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
// the Handler told) as soon as the listeners change, and so are the
// assignments of clusters that are gone, since a control plane need not
// answer a narrower subscription (and a delta one never does).
//
// On a stream failure the client logs once, backs off exponentially with
// jitter and reconnects, naming what it holds: SotW requests the version
// last accepted, delta requests carry initial_resource_versions (each
// accepted resource's version), so that the control plane sends only what
// differs. A response whose resources equal the accepted set is ACKed
// without calling the Handler, so a reconnect to a control plane with
// unchanged state does not re-apply anything, and the Handler never sees an
// empty update merely because the stream was down.
//
// Some control planes (go-control-plane's snapshot cache over SotW among
// them) answer a NACK by sending the rejected response again at once. The client processes
// such a repeat only after a growing delay, so a bad configuration costs a
// few retries rather than a busy loop, while a rejection that was transient
// (a port briefly in use) is still retried.
package xdsclient
