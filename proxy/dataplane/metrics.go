package dataplane

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftmesh/weft/proxy/meshmetrics"
	"github.com/weftmesh/weft/proxy/rbac"
	"github.com/weftmesh/weft/proxy/tcpproxy"
)

// Results of weft_proxy_connections_total.
const (
	resultOK                    = "ok"
	resultTLSHandshakeFailed    = "tls_handshake_failed"
	resultNoCluster             = "no_cluster"
	resultNoEndpoints           = "no_endpoints"
	resultUpstreamConnectFailed = "upstream_connect_failed"
	resultNoFilterChain         = "no_filter_chain"
	// resultLoop: the connection came from the proxy itself, or was
	// going to one of its own listeners (loop.go).
	resultLoop = "loop"
)

type metrics struct {
	connections     *prometheus.CounterVec
	active          *prometheus.GaugeVec
	bytes           *prometheus.CounterVec
	handshakeErrors *prometheus.CounterVec
	detections      *prometheus.CounterVec
	tlsDetections   *prometheus.CounterVec
	// authz counts RBAC decisions; HTTP listeners share its counters.
	authz *rbac.Metrics
	// mesh has weft_tcp_*; the HTTP proxy shares its collectors.
	mesh *meshmetrics.Metrics
	// certExpiry is the NotAfter of each certificate served from SDS, by
	// secret name. proxy/identity registers the same collector for the
	// proxy's own (certificate="workload"): whichever registers second
	// gets the first's.
	certExpiry *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_proxy_connections_total",
			Help: "Connections accepted by a listener, by direction, the verified SPIFFE ID of the mTLS peer, and result.",
		}, []string{"listener", "direction", "peer_id", "result"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weft_proxy_active_connections",
			Help: "Connections of a listener that are open now.",
		}, []string{"listener"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_proxy_bytes_total",
			Help: "Bytes proxied by a listener, to_upstream or to_downstream.",
		}, []string{"listener", "direction"}),
		handshakeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_proxy_tls_handshake_errors_total",
			Help: "Failed TLS handshakes of a listener's connections by reason; reasons of upstream handshakes start with upstream_.",
		}, []string{"listener", "reason"}),
		detections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_proxy_protocol_detection_total",
			Help: "Protocols the HTTP inspector of a listener detected: http1, h2c, tcp, or timeout (no decision within the budget, served as TCP).",
		}, []string{"listener", "result"}),
		tlsDetections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_proxy_tls_detection_total",
			Help: "Transport protocols the TLS inspector of a listener detected: tls, plaintext, or timeout (no decision within the budget, served as plaintext).",
		}, []string{"listener", "result"}),
		certExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weft_certificate_expiry_timestamp_seconds",
			Help: "NotAfter of a certificate in use, in seconds since the Unix epoch.", // as proxy/identity's: one collector
		}, []string{"certificate"}),
	}
	m.authz = rbac.NewMetrics(reg)
	m.mesh = meshmetrics.New(reg)
	if reg == nil {
		return m
	}
	m.connections = register(reg, m.connections)
	m.active = register(reg, m.active)
	m.bytes = register(reg, m.bytes)
	m.handshakeErrors = register(reg, m.handshakeErrors)
	m.detections = register(reg, m.detections)
	m.tlsDetections = register(reg, m.tlsDetections)
	m.certExpiry = register(reg, m.certExpiry)
	return m
}

// register registers c, or returns the identical collector already
// registered (several dataplanes may share a registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// tcpLabels says who talks to whom on a proxied TCP connection: the
// verified client on inbound listeners, the verified server (peer) on
// the others.
func (d *Dataplane) tcpLabels(direction, cluster, peer string) *meshmetrics.Labels {
	self := d.cfg.Workload
	l := &meshmetrics.Labels{DestinationService: meshmetrics.ServiceOf(cluster)}
	if direction == directionInbound {
		l.Reporter = meshmetrics.ReporterDestination
		l.SourceNamespace, l.SourcePrincipal = meshmetrics.NamespaceOf(peer), peer
		l.DestinationWorkload, l.DestinationNamespace, l.DestinationPrincipal = self.Name, self.Namespace, self.Principal
		return l
	}
	l.Reporter = meshmetrics.ReporterSource
	l.SourceWorkload, l.SourceNamespace, l.SourcePrincipal = self.Name, self.Namespace, self.Principal
	l.DestinationNamespace, l.DestinationPrincipal = meshmetrics.NamespaceOf(peer), peer
	return l
}

// counters adds to several counters at once.
type counters []tcpproxy.Counter

func (cs counters) Add(v float64) {
	for _, c := range cs {
		c.Add(v)
	}
}
