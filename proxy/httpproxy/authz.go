package httpproxy

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/weftmesh/weft/proxy/rbac"
)

// FlagRBAC is a request an RBAC filter denied (Envoy's RBAC flag).
const FlagRBAC = "RBAC"

// deniedBody is the body of every denial: generic, so that it tells the
// client nothing about the policies.
const deniedBody = "RBAC: access denied"

// authorize runs the listener's RBAC filters on the request, whose path is
// already normalized, and answers a denial; false when it did.
func (ex *exchange) authorize(ctx context.Context) bool {
	l := ex.info.listener
	if l.Authz.Len() == 0 {
		return true
	}
	r := ex.r
	d := l.Authz.Evaluate(&rbac.Input{
		PeerID:          ex.info.peer,
		RemoteIP:        ex.info.remote.Addr(),
		DestinationPort: ex.info.local.Port(),
		Request: &rbac.Request{
			Method:    r.Method,
			Authority: r.Host,
			Path:      r.URL.RequestURI(),
			Header:    r.Header,
		},
	})
	ex.p.authz.Observe(l.Name, d)
	noteAuthz(ctx, d)
	if len(d.Audited) > 0 {
		ex.p.log.Info("request audited", "listener", l.Name, "policies", d.Audited, "allowed", d.Allowed,
			"method", r.Method, "path", r.URL.Path, "peer_id", ex.info.peer)
	}
	if d.Allowed {
		return true
	}
	ex.p.log.Info("request denied", "listener", l.Name, "policy", d.Policy, "reason", d.Reason,
		"method", r.Method, "path", r.URL.Path, "peer_id", ex.info.peer)
	ex.deny()
	return false
}

// deny answers a denied request: 403 with a generic body, or for gRPC a
// Trailers-Only response with status PERMISSION_DENIED.
func (ex *exchange) deny() {
	h := ex.w.Header()
	h.Set(flagHeader, FlagRBAC)
	if isGRPC(ex.r) {
		h.Set("Content-Type", "application/grpc")
		h.Set("Grpc-Status", "7")
		h.Set("Grpc-Message", deniedBody)
		ex.status = http.StatusOK
		ex.w.WriteHeader(http.StatusOK)
		return
	}
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Length", strconv.Itoa(len(deniedBody)))
	ex.status = http.StatusForbidden
	ex.w.WriteHeader(http.StatusForbidden)
	_, _ = ex.w.Write([]byte(deniedBody))
}

// isGRPC reports a gRPC request (content-type application/grpc, +proto...).
func isGRPC(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	return ct == "application/grpc" || strings.HasPrefix(ct, "application/grpc+") || strings.HasPrefix(ct, "application/grpc;")
}

// addrPort is a's address and port; zero when a is not an IP address.
func addrPort(a net.Addr) netip.AddrPort {
	if a == nil {
		return netip.AddrPort{}
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
