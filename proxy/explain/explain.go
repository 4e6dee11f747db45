package explain

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/weftmesh/weft/proxy/httpguard"
	"github.com/weftmesh/weft/proxy/rbac"
)

// Request is the request to explain, as the source's app sends it.
type Request struct {
	Method string
	// URL is http://<authority>/<path>[?query]: its host and port are the
	// authority, and, unless Destination is set, where the app connects
	// (an IP address, or a Service: <service>[.<namespace>[.svc...]]).
	URL    string
	Header http.Header
	// Destination is the address the app's connection goes to (ip:port):
	// a Service's ClusterIP behind capture, the sidecar's local outbound
	// address in standalone mode. Empty: from URL.
	Destination string
	// Namespace completes a Service name of URL without a namespace.
	Namespace string
	// SourceIP is the source workload's address (ipBlocks rules, source
	// IP hashing); zero when unknown.
	SourceIP netip.Addr
}

// Proxy is one proxy's configuration and identity.
type Proxy struct {
	// Name names the proxy in the report (a pod, or an admin URL).
	Name string
	Dump *Dump
	// ID is the proxy's SPIFFE ID (its admin port's /certs); "" when
	// unknown.
	ID string
	// Address is the workload's IP, telling which endpoints are this
	// proxy's; zero when unknown (endpoints are then told by the
	// listeners that would take them).
	Address netip.Addr
}

// ErrBadRequest is wrapped when the request to explain is malformed.
var ErrBadRequest = errors.New("bad request")

// Explain tells what the source proxy from, then the destination proxy
// to (nil: the source side only), do with req, from their
// configuration. An error means the request cannot be explained (a bad
// request, no listener for its destination, a configuration the proxy
// would not have accepted); what the proxies answer themselves (403,
// 404, 503, ...) is the report's Outcome.
func Explain(req Request, from Proxy, to *Proxy) (*Report, error) {
	r, dest, err := req.build()
	if err != nil {
		return nil, err
	}
	rep := &Report{
		Request: RequestInfo{Method: r.Method, Authority: r.Host, Destination: dest.String(), Headers: flatHeaders(req.Header)},
		Source:  Source{Proxy: from.Name, ID: from.ID},
	}
	norm, err := normalize(r)
	if err != nil {
		rep.Request.Path = r.URL.RequestURI()
		rep.Outcome = Outcome{Status: http.StatusBadRequest, Summary: "400: the proxy refuses the path: " + err.Error()}
		return rep, nil
	}
	r, rep.Request.Path = norm, norm.URL.RequestURI()

	l, via, err := from.Dump.sourceListener(req, r.Host, dest)
	if err != nil {
		return nil, err
	}
	if a := from.Dump.listenerAddrs(l); len(a) > 0 && !dest.IsValid() {
		dest = a[0]
		rep.Request.Destination = dest.String()
	}
	rep.Source.Listener, rep.Source.Via = l.GetName(), via
	if a := from.Dump.listenerAddrs(l); len(a) > 0 {
		rep.Source.Address = a[0].String()
	}
	i, fc := chooseChain(l, dest, "raw_buffer", "http/1.1")
	if fc == nil {
		rep.Outcome = Outcome{Summary: fmt.Sprintf("the connection is closed: listener %q has no filter chain for it (no_filter_chain)", l.GetName())}
		return rep, nil
	}
	rep.Source.Chain = chainName(i, fc)
	c, err := from.Dump.readChain(l, i, fc)
	if err != nil {
		return nil, err
	}
	s := &sides{req: req, r: r, rep: rep, from: from, to: to, src: c}
	if !c.http {
		return s.tcp()
	}
	return s.http()
}

// build parses the request: the *http.Request the app sends and the
// address it connects to (invalid when a Service names it).
func (req Request) build() (*http.Request, netip.AddrPort, error) {
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("%w: URL %q: %w", ErrBadRequest, req.URL, err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, netip.AddrPort{}, fmt.Errorf("%w: URL %q: want http://host[:port]/path (the app's plaintext request)", ErrBadRequest, req.URL)
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	r, err := http.NewRequest(strings.ToUpper(method), req.URL, nil)
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	r.URL.Scheme, r.URL.Host = "", "" // origin form, as the app sends it
	r.Header = req.Header.Clone()
	if r.Header == nil {
		r.Header = http.Header{}
	}
	if h := r.Header.Get("Host"); h != "" {
		r.Host = h
		r.Header.Del("Host")
	}
	if req.SourceIP.IsValid() {
		r.RemoteAddr = net.JoinHostPort(req.SourceIP.String(), "0")
	}
	if req.Destination != "" {
		ap, err := netip.ParseAddrPort(req.Destination)
		if err != nil {
			return nil, netip.AddrPort{}, fmt.Errorf("%w: destination %q: want ip:port", ErrBadRequest, req.Destination)
		}
		return r, ap, nil
	}
	port := uint16(80)
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return nil, netip.AddrPort{}, fmt.Errorf("%w: URL %q: bad port", ErrBadRequest, req.URL)
		}
		port = uint16(n)
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		return r, netip.AddrPortFrom(ip, port), nil
	}
	return r, netip.AddrPortFrom(netip.Addr{}, port), nil
}

// sourceListener is the listener of the app's connection: by address,
// or by the Service the URL names.
func (d *Dump) sourceListener(req Request, authority string, dest netip.AddrPort) (*listenerv3.Listener, string, error) {
	if dest.Addr().IsValid() {
		return d.findListener(dest)
	}
	host, _, err := net.SplitHostPort(authority)
	if err != nil {
		host = authority
	}
	l, err := d.serviceListener(host, dest.Port(), req.Namespace)
	if err != nil {
		return nil, "", err
	}
	if virtual(l) {
		for _, c := range d.Listeners {
			if c.GetUseOriginalDst().GetValue() {
				return l, c.GetName(), nil
			}
		}
	}
	return l, "", nil
}

// normalize is the request as the proxy routes and authorizes it: its
// path normalized (httpguard), or the error the proxy answers 400 for.
func normalize(r *http.Request) (*http.Request, error) {
	norm, err := httpguard.NormalizePath(r.URL.RequestURI(), httpguard.PathOptions{})
	if err != nil {
		return nil, err
	}
	u, err := url.ParseRequestURI(norm)
	if err != nil {
		return nil, err
	}
	out := r.Clone(r.Context())
	out.URL.Path, out.URL.RawPath, out.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
	return out, nil
}

func flatHeaders(h http.Header) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, vs := range h {
		out[k] = strings.Join(vs, ",")
	}
	return out
}

// decide runs the RBAC filters of a chain and says it in words.
func decide(c *rbac.Chain, in *rbac.Input) Authz {
	if c.Len() == 0 {
		return Authz{Allowed: true, Reason: "no_policy", Summary: "no policy: allowed"}
	}
	d := c.Evaluate(in)
	a := Authz{Allowed: d.Allowed, Reason: d.Reason, Policy: d.Policy, PolicyName: policyName(d.Policy), Audited: d.Audited}
	switch d.Reason {
	case rbac.ReasonDenied:
		a.Summary = fmt.Sprintf("denied by %s (%s)", a.PolicyName, strings.TrimPrefix(d.Policy, a.PolicyName+"/"))
	case rbac.ReasonNotAllowed:
		a.Summary = "denied: no ALLOW policy matches"
	case rbac.ReasonAllowed:
		a.Summary = fmt.Sprintf("allowed by %s (%s)", a.PolicyName, strings.TrimPrefix(d.Policy, a.PolicyName+"/"))
	default:
		a.Reason = "no_policy"
		a.Summary = "no ALLOW or DENY policy decides: allowed"
	}
	return a
}

// policyName is the namespace/name of a policy key
// <namespace>/<name>/rules[<i>] (docs/xds.md).
func policyName(key string) string {
	if i := strings.LastIndex(key, "/rules["); i > 0 {
		return key[:i]
	}
	return key
}
