package meshmetrics

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reporters: which proxy counted a request or connection.
const (
	ReporterSource      = "source"
	ReporterDestination = "destination"
)

// Workload is the workload a proxy serves: its name (a Deployment's, not a
// pod's), namespace, and SPIFFE ID.
type Workload struct {
	Name, Namespace, Principal string
}

// Labels says who talked to whom, as seen by one reporter. Unknown fields
// stay empty.
type Labels struct {
	Reporter                                                                            string
	SourceWorkload, SourceNamespace, SourcePrincipal                                    string
	DestinationWorkload, DestinationNamespace, DestinationPrincipal, DestinationService string
}

// values are the label values in the order of peerLabels.
func (l *Labels) values() []string {
	return []string{l.Reporter, l.SourceWorkload, l.SourceNamespace, l.SourcePrincipal,
		l.DestinationWorkload, l.DestinationNamespace, l.DestinationPrincipal, l.DestinationService}
}

var peerLabels = []string{"reporter", "source_workload", "source_namespace", "source_principal",
	"destination_workload", "destination_namespace", "destination_principal", "destination_service"}

// DurationBuckets are the bounds of weft_request_duration_seconds: 0.5 ms
// to 30 s, about three per power of ten.
var DurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Metrics are the collectors of one registry. Create them with New.
type Metrics struct {
	requests             *prometheus.CounterVec
	duration             *prometheus.HistogramVec
	tcpSent, tcpReceived *prometheus.CounterVec
	tcpOpened, tcpClosed *prometheus.CounterVec
}

// New returns the metrics registered on reg, or those already registered
// there by another New (the HTTP proxy and the dataplane share them); a nil
// reg keeps them unregistered.
func New(reg prometheus.Registerer) *Metrics {
	requestLabels := append(append([]string{}, peerLabels...), "response_code", "response_flags", "grpc_status")
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_requests_total",
			Help: "HTTP and gRPC requests, by reporter, source and destination workload, response code, response flags and gRPC status.",
		}, requestLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "weft_request_duration_seconds",
			Help:    "Time from a request's arrival at the proxy to the end of its response.",
			Buckets: DurationBuckets,
		}, requestLabels),
		tcpSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_tcp_sent_bytes_total",
			Help: "Bytes of proxied TCP connections sent to the downstream (the connection's client).",
		}, peerLabels),
		tcpReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_tcp_received_bytes_total",
			Help: "Bytes of proxied TCP connections received from the downstream (the connection's client).",
		}, peerLabels),
		tcpOpened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_tcp_connections_opened_total",
			Help: "TCP connections proxied to an upstream.",
		}, peerLabels),
		tcpClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_tcp_connections_closed_total",
			Help: "Proxied TCP connections that ended.",
		}, peerLabels),
	}
	if reg == nil {
		return m
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	m.tcpSent = register(reg, m.tcpSent)
	m.tcpReceived = register(reg, m.tcpReceived)
	m.tcpOpened = register(reg, m.tcpOpened)
	m.tcpClosed = register(reg, m.tcpClosed)
	return m
}

// Request is one request as a reporter saw it.
type Request struct {
	Labels
	// Code is the status sent downstream, 0 when none was.
	Code int
	// Flags are the response flags, joined with ",", empty for none.
	Flags string
	// GRPCStatus is the grpc-status of a gRPC response ("" otherwise).
	GRPCStatus string
	Duration   time.Duration
}

// ObserveRequest counts one request and its duration.
func (m *Metrics) ObserveRequest(r *Request) {
	flags := r.Flags
	if flags == "" {
		flags = "-"
	}
	v := append(r.values(), strconv.Itoa(r.Code), flags, grpcStatus(r.GRPCStatus))
	m.requests.WithLabelValues(v...).Inc()
	m.duration.WithLabelValues(v...).Observe(r.Duration.Seconds())
}

// grpcStatus keeps the label bounded: a gRPC code (0–16), else "".
func grpcStatus(s string) string {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 16 && strconv.Itoa(n) == s {
		return s
	}
	return ""
}

// Conn is one proxied TCP connection's counters.
type Conn struct {
	// Sent counts bytes to the downstream, Received bytes from it.
	Sent, Received prometheus.Counter
	closed         prometheus.Counter
}

// OpenConn counts a TCP connection opened to an upstream and returns its
// byte counters; call Close when it ends.
func (m *Metrics) OpenConn(l *Labels) *Conn {
	v := l.values()
	m.tcpOpened.WithLabelValues(v...).Inc()
	return &Conn{
		Sent:     m.tcpSent.WithLabelValues(v...),
		Received: m.tcpReceived.WithLabelValues(v...),
		closed:   m.tcpClosed.WithLabelValues(v...),
	}
}

// Close counts the connection closed.
func (c *Conn) Close() { c.closed.Inc() }

// register registers c, or returns the identical collector already
// registered (the HTTP proxy and the dataplane share a registry).
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
