package dataplane

import (
	"strings"
	"time"

	"github.com/weftmesh/weft/proxy/accesslog"
	"github.com/weftmesh/weft/proxy/httpproxy"
	"github.com/weftmesh/weft/proxy/rbac"
	"github.com/weftmesh/weft/proxy/tcpproxy"
)

// connLog is the access log line of one connection through a tcp_proxy
// with an access_log: filled in as the connection is authorized, routed
// and proxied, and written once when it ends, refused or not, as Envoy's
// tcp_proxy logs. Its methods do nothing on a nil connLog (a chain
// without access log), so that proxyTCP calls them unconditionally.
type connLog struct {
	log   *accesslog.Log
	start time.Time
	e     accesslog.Entry
}

// newConnLog starts the line of a connection accepted at start from peer
// (the verified SPIFFE ID of an mTLS client, "" for plaintext); nil when
// log is nil.
func newConnLog(log *accesslog.Log, start time.Time, peer string) *connLog {
	if log == nil {
		return nil
	}
	return &connLog{log: log, start: start, e: accesslog.Entry{
		StartTime: start.UTC(), Protocol: accesslog.ProtocolTCP, PeerID: peer,
	}}
}

// authz records what the chain's network RBAC filters decided.
func (l *connLog) authz(d rbac.Decision) {
	if l == nil {
		return
	}
	l.e.AuthzPolicy, l.e.AuthzReason, l.e.AuthzAudit = d.Policy, d.Reason, strings.Join(d.Audited, ",")
	if !d.Allowed {
		l.e.ResponseFlags = httpproxy.FlagRBAC
	}
}

// upstream records the cluster the connection goes to and, once known,
// the endpoint ("" before one is picked).
func (l *connLog) upstream(cluster, host string) {
	if l == nil {
		return
	}
	l.e.UpstreamCluster, l.e.UpstreamHost = cluster, host
}

// refused records why the connection went no further: one of Envoy's
// response flags.
func (l *connLog) refused(flag string) {
	if l == nil {
		return
	}
	l.e.ResponseFlags = flag
}

// joined records the bytes tcpproxy.Join carried: received from the
// downstream (and sent upstream), and sent to it.
func (l *connLog) joined(res tcpproxy.Result) {
	if l == nil {
		return
	}
	l.e.BytesReceived, l.e.BytesSent = res.ToUpstream, res.ToDownstream
}

// write writes the line, once the connection has ended.
func (l *connLog) write() {
	if l == nil {
		return
	}
	l.e.DurationMillis = time.Since(l.start).Milliseconds()
	l.log.Write(&l.e)
}

// refusedFlags are the response flags of the results of Dataplane.route
// that refuse a connection, as on HTTP (NC, UH).
var refusedFlags = map[string]string{
	resultNoCluster:   httpproxy.FlagNoCluster,
	resultNoEndpoints: httpproxy.FlagNoHealthy,
}
