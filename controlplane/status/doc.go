// Package status writes what the translator did with each policy and route
// back to the API server, so that `kubectl get` tells a user what the
// proxies silently run: translate.Check's Problems become status
// conditions on PeerAuthentications, AuthorizationPolicies and
// TrafficPolicies, and Gateway API status.parents entries on HTTPRoutes and
// GRPCRoutes attached to Services; for the ingress gateway
// (docs/gateway.md), what gateway.Resolve decides becomes the status of
// GatewayClasses, Gateways and the routes attached to them.
//
// Every control-plane replica builds the same mesh and serves xDS, but
// only one writes status, or replicas would fight over it: a Writer
// campaigns for a Lease (client-go leader election) and writes only while
// it holds it. Losing the Lease stops the writes, not the process, and the
// Writer campaigns again; another replica takes over within a lease
// duration (at once when the leader shuts down and releases the Lease).
//
// Writes are read-modify-write with the object's resourceVersion (Gateway
// API requires it for status.parents, which other controllers share), and
// happen only when the computed status differs from the stored one:
// lastTransitionTime is kept while a condition's status does not change,
// so a rebuild of an unchanged mesh writes nothing and the Writer's own
// writes cannot make it loop. Reads may come from an informer cache: a
// read older than the Writer's own last write of an object is not trusted
// to show that nothing needs writing (see Writer.write).
//
// # Conditions on Weft policies
//
// Accepted is always set (Gateway API's policy reasons, GEP-713).
// ResolvedRefs is set on TrafficPolicies, the only policy with a reference
// (targetRef; an AuthorizationPolicy's service accounts are identities,
// not references). A Problem either rejects the policy (it does nothing,
// or nothing where it conflicts) or only narrows it (it applies, minus
// what the message names); the latter is reported by a PartiallyApplied
// condition, set only while it is True, as Gateway API's PartiallyInvalid:
//
//	Problem reason    Accepted             ResolvedRefs (TrafficPolicy)   PartiallyApplied
//	(none)            True  Accepted       True  ResolvedRefs             absent
//	TargetNotFound    False TargetNotFound False TargetNotFound           -
//	InvalidKind       False InvalidKind    False InvalidKind              -
//	Conflicted        False Conflicted     True  ResolvedRefs             -
//	Invalid           False Invalid        -                              -
//	NotApplicable     True  Accepted       True  ResolvedRefs             True NotApplicable
//	MixedMTLSModes    True  Accepted       -                              True MixedMTLSModes
//	UnsupportedValue  True  Accepted       True  ResolvedRefs             True UnsupportedValue
//	any other reason  True  Accepted       True  ResolvedRefs             True <reason>
//
// When several Problems reject a policy, Accepted's reason is the first of
// InvalidKind, TargetNotFound, Invalid, Conflicted that occurs, and its
// message lists every rejecting Problem's message.
//
// # Route status
//
// For every parentRef of kind Service (whatever its group: a Service
// parentRef with Gateway API's default group attaches to nothing, and
// saying so helps), the Writer keeps one status.parents entry with
// controllerName ControllerName and the parentRef as written; entries of
// other controllers are left alone, and ours for parentRefs that are gone
// are removed. Reasons are Gateway API's RouteConditionReasons:
//
//	parentRef / rules                          Accepted                 ResolvedRefs           PartiallyInvalid
//	Service and an HTTP port found             True  Accepted           see below              -
//	no such Service, port, or group not ""     False NoMatchingParent   see below              -
//	every port it names is TCP                 False NoMatchingParent   see below              -
//	sectionName set (ignored)                  True  Accepted (noted)   see below              -
//	some rules UnsupportedValue (HTTP 500)     True  Accepted           see below              True UnsupportedValue "Dropped Rule..."
//	every rule UnsupportedValue                False UnsupportedValue   see below              -
//	a backendRef to a missing Service or port  -                        False BackendNotFound  -
//	a backendRef that is not a Service         -                        False InvalidKind      -
//	all backendRefs resolve                    -                        True  ResolvedRefs     -
//
// Rules are checked (by translate.Check) only when the route applies to
// some port of some parent; until then ResolvedRefs is not set. A rule the
// proxy cannot run answers HTTP 500 for its matches, which is what Gateway
// API asks of a dropped rule, hence PartiallyInvalid's "Dropped Rule"
// message.
//
// # Ingress gateway status
//
// Every GatewayClass whose controllerName is gateway.ControllerName gets
// Accepted=True. Every Gateway of such a class gets the conditions and
// listener statuses gateway.Resolve computes, except that Programmed,
// which Resolve decides as far as configuration goes, stays False with
// reason AddressNotAssigned until the Gateway's Service (<gateway>-weft,
// in the Gateway's namespace) has an address: a LoadBalancer's
// status.loadBalancer.ingress (IPAddress or Hostname), or a ClusterIP or
// NodePort Service's cluster IPs. Those addresses are status.addresses.
// A load balancer's assignment makes no new mesh, so while it leads the
// Writer watches the Services labelled gateway.networking.k8s.io/
// gateway-name, and GatewayClasses, and writes again when they change.
// Routes (HTTPRoute, GRPCRoute, TLSRoute, TCPRoute) get one
// status.parents entry per Gateway parentRef, with controllerName
// gateway.ControllerName, as Resolve has it; the mesh's entries
// (ControllerName) and other controllers' are left alone.
package status
