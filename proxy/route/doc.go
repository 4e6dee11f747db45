// Package route compiles an Envoy v3 RouteConfiguration into a Table that
// the HTTP proxy consults for every request.
//
// Compile validates the whole configuration first and reports every
// problem at once, each naming the field path:
//
//	route_config "web": virtual_hosts[0].routes[2].match.safe_regex.regex: error parsing regexp: ...
//
// The supported subset is an allow list: a field this package does not
// implement is an error ("unsupported field"), never silently ignored, so
// the proxy can NACK what it cannot run.
//
// Table.Match follows Envoy's semantics:
//
//   - Virtual host: the authority is compared case-insensitively with
//     the domains, exact first, then the longest `*suffix`, then the
//     longest `prefix*`, then `*`; a wildcard matches at least one
//     character. A domain without a port matches the authority with any
//     port (each tier tries the whole authority, then the authority without
//     its port); ignore_port_in_host_matching drops the port first.
//   - Route: the first route whose match holds. prefix compares against
//     :path with its query string; path, safe_regex (RE2 via Go's regexp,
//     matching the whole path) and path_separated_prefix against :path
//     without it; case_sensitive (default true) applies to all but
//     safe_regex. Paths are compared raw, as received. Headers (with the
//     :method, :authority, :path and :scheme pseudo-headers; several values
//     joined with ",") match with string_match, present_match or
//     range_match, invert_match and treat_missing_header_as_empty; a
//     missing header fails every matcher except present_match, inverted or
//     not. Query parameters match their first value, percent-decoded.
//   - Action: cluster, weighted_clusters (a random value modulo the sum of
//     the weights), redirect (Location built from the request as Envoy
//     does) or direct_response. Path and host rewrites and the header
//     mutations of every level are returned in the Decision for the proxy
//     to apply; timeouts, retry and hash policies are parsed into plain
//     structs on Route.
//
// :scheme is the request URL's scheme for absolute-form requests, else
// "https" when the request arrived over TLS, else "http"; it decides
// redirect port dropping too (X-Forwarded-Proto is not consulted). An
// empty authority matches only the `*` virtual host.
//
// Header values are literal: Envoy's %COMMAND% substitutions are refused,
// and "%%" stands for "%". Pseudo-headers and host cannot be added or
// removed by request header mutations.
//
// A Table is immutable and safe for concurrent use; Match allocates only
// the Decision and what a rewrite or redirect builds.
package route
