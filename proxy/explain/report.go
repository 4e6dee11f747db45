package explain

// Report is the explanation of one request. It marshals to JSON (and to
// YAML through its JSON form) for `weftctl explain -o json|yaml`.
type Report struct {
	Request     RequestInfo  `json:"request"`
	Source      Source       `json:"source"`
	Destination *Destination `json:"destination,omitempty"`
	Outcome     Outcome      `json:"outcome"`
}

// RequestInfo is the request explained, as the source proxy sees it.
type RequestInfo struct {
	Method    string `json:"method"`
	Authority string `json:"authority"`
	// Path is normalized as the proxy normalizes it before routing and
	// authorization, query included.
	Path string `json:"path"`
	// Destination is the address the app's connection goes to (the
	// original destination behind capture).
	Destination string            `json:"destination"`
	Headers     map[string]string `json:"headers,omitempty"`
}

// Source is what the source proxy does with the request.
type Source struct {
	Proxy string `json:"proxy"`
	ID    string `json:"spiffeID,omitempty"`
	// Listener takes the connection; Via names the capture listener
	// (virtualOutbound) that handed it over, if any.
	Listener string `json:"listener"`
	Address  string `json:"address"`
	Via      string `json:"via,omitempty"`
	// Chain is the filter chain's name, or filter_chains[i] without one.
	Chain string `json:"chain"`
	// Protocol is "http" (an HTTP connection manager routes the request)
	// or "tcp" (tcp_proxy: the bytes go to one cluster, unrouted).
	Protocol string `json:"protocol"`
	// RouteConfig, VirtualHost and Route are the route that matched;
	// Route is its name, or routes[i] without one.
	RouteConfig string `json:"routeConfig,omitempty"`
	VirtualHost string `json:"virtualHost,omitempty"`
	Route       string `json:"route,omitempty"`
	// Authz is set when the chain has RBAC filters of its own.
	Authz *Authz `json:"authz,omitempty"`
	// Clusters are the clusters the request may go to: one, or the
	// weighted clusters of the route with their weights.
	Clusters []Cluster `json:"clusters,omitempty"`
}

// Cluster is one upstream cluster the source may send the request to.
type Cluster struct {
	Name string `json:"name"`
	// Weight is set for a weighted cluster: it takes Weight/TotalWeight
	// of the requests.
	Weight      uint32 `json:"weight,omitempty"`
	TotalWeight uint32 `json:"totalWeight,omitempty"`
	// Type is STATIC, EDS or ORIGINAL_DST.
	Type     string `json:"type"`
	LBPolicy string `json:"lbPolicy,omitempty"`
	// MTLS is set when the proxy dials the endpoints with mTLS;
	// ServerIDs are the SPIFFE IDs it accepts from them.
	MTLS      bool     `json:"mtls"`
	ServerIDs []string `json:"serverIDs,omitempty"`
	HTTP2     bool     `json:"http2,omitempty"`
	// Endpoints take traffic (health unknown, healthy or degraded).
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Picked is the endpoint the balancer picks for this request when
	// the policy decides it (RING_HASH, MAGLEV with a request hash); ""
	// when it is one of Endpoints.
	Picked string `json:"picked,omitempty"`
	// Pick says how the endpoint is chosen, in words.
	Pick string `json:"pick"`
	// Path and Host are the request's :path and :authority as forwarded
	// (after the route's rewrites), when they change.
	Path string `json:"path,omitempty"`
	Host string `json:"host,omitempty"`
}

// Endpoint is one upstream address.
type Endpoint struct {
	Address string `json:"address"`
	Weight  uint32 `json:"weight"`
}

// Destination is what the destination proxy does with the request.
type Destination struct {
	Proxy string `json:"proxy"`
	ID    string `json:"spiffeID,omitempty"`
	// Cluster and Endpoint are the source's cluster and endpoint that
	// reach this proxy.
	Cluster  string `json:"cluster"`
	Endpoint string `json:"endpoint"`
	// Listener, Chain and Port take the connection: Port is the original
	// destination port (the chain's destination_port on virtualInbound).
	Listener string `json:"listener"`
	Chain    string `json:"chain"`
	Port     uint16 `json:"port"`
	// Transport is "mtls" or "plaintext": what the source's cluster
	// speaks, and the chain accepts.
	Transport string `json:"transport"`
	Protocol  string `json:"protocol,omitempty"`
	// Authz is what the chain's RBAC filters decide.
	Authz *Authz `json:"authz,omitempty"`
	// Route and Upstream are the inbound route and the app's address
	// the request is forwarded to, once allowed.
	Route           string `json:"route,omitempty"`
	UpstreamCluster string `json:"upstreamCluster,omitempty"`
	Upstream        string `json:"upstream,omitempty"`
}

// Authz is what the RBAC filters of one chain decide.
type Authz struct {
	Allowed bool `json:"allowed"`
	// Reason is "allowed", "denied", "not_allowed" (package rbac) or
	// "no_policy" when the chain has no RBAC filter.
	Reason string `json:"reason"`
	// Policy is the key of the deciding policy
	// (<namespace>/<name>/rules[<i>]); PolicyName its namespace/name.
	Policy     string   `json:"policy,omitempty"`
	PolicyName string   `json:"policyName,omitempty"`
	Audited    []string `json:"audited,omitempty"`
	// Summary says it in words: "denied by shop/deny-admin
	// (rules[0])", "no policy: allowed", ...
	Summary string `json:"summary"`
}

// Outcome is what the client would see.
type Outcome struct {
	// Status is the HTTP status the proxies answer themselves (403, 404,
	// 503, a redirect or direct response); 0 when the request reaches
	// the app, which answers.
	Status int `json:"status,omitempty"`
	// Flag is the proxy's response flag (RBAC, NR, UH, ...).
	Flag string `json:"flag,omitempty"`
	// Forwarded is set when the request reaches the app.
	Forwarded bool   `json:"forwarded"`
	Summary   string `json:"summary"`
}
