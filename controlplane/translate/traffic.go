package translate

import (
	"fmt"
	"strings"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
)

// Load-balancer settings the translator states explicitly: Envoy's own
// defaults, written out so that a cluster says what it runs.
const (
	leastRequestChoices = 2
	ringHashMinSize     = 1024
	ringHashMaxSize     = 8 << 20
	maglevTableSize     = 65537 // prime, as Maglev requires
)

// defaultRetryOn is a retry policy's retry_on when the TrafficPolicy lists
// no condition (docs/xds.md).
const defaultRetryOn = "connect-failure,gateway-error,reset"

// finding is one Problem of an object not yet named: Proxy drops them,
// Check names them and reports them.
type finding struct{ reason, message string }

// findings collects what one translation step could apply only in part.
// A nil *findings drops everything, so translation code never checks.
type findings []finding

func (f *findings) add(reason, format string, args ...any) {
	if f == nil {
		return
	}
	*f = append(*f, finding{reason: reason, message: fmt.Sprintf(format, args...)})
}

// applyTrafficPolicy sets on c what tp says about the cluster: load
// balancing, circuit breakers, connect timeout and outlier detection. A
// nil tp changes nothing. Values the proxy cannot take are left out (or
// moved to the nearest it takes) and reported to f.
func applyTrafficPolicy(c *cluster.Cluster, tp *v1alpha1.TrafficPolicy, f *findings) {
	if tp == nil {
		return
	}
	spec := &tp.Spec
	if lbc := spec.LoadBalancer; lbc != nil {
		switch lbc.Algorithm {
		case v1alpha1.RoundRobin, "":
			c.LbPolicy = cluster.Cluster_ROUND_ROBIN
		case v1alpha1.LeastRequest:
			c.LbPolicy = cluster.Cluster_LEAST_REQUEST
			c.LbConfig = &cluster.Cluster_LeastRequestLbConfig_{LeastRequestLbConfig: &cluster.Cluster_LeastRequestLbConfig{
				ChoiceCount: wrapperspb.UInt32(leastRequestChoices),
			}}
		case v1alpha1.Random:
			c.LbPolicy = cluster.Cluster_RANDOM
		case v1alpha1.RingHash:
			c.LbPolicy = cluster.Cluster_RING_HASH
			c.LbConfig = &cluster.Cluster_RingHashLbConfig_{RingHashLbConfig: &cluster.Cluster_RingHashLbConfig{
				MinimumRingSize: wrapperspb.UInt64(ringHashMinSize),
				MaximumRingSize: wrapperspb.UInt64(ringHashMaxSize),
				HashFunction:    cluster.Cluster_RingHashLbConfig_XX_HASH,
			}}
		case v1alpha1.Maglev:
			c.LbPolicy = cluster.Cluster_MAGLEV
			c.LbConfig = &cluster.Cluster_MaglevLbConfig_{MaglevLbConfig: &cluster.Cluster_MaglevLbConfig{
				TableSize: wrapperspb.UInt64(maglevTableSize),
			}}
		default:
			f.add(reasonUnsupportedValue, "loadBalancer.algorithm %q is not supported; using ROUND_ROBIN", lbc.Algorithm)
		}
	}
	if cp := spec.ConnectionPool; cp != nil {
		th := &cluster.CircuitBreakers_Thresholds{
			Priority:           core.RoutingPriority_DEFAULT,
			MaxConnections:     positiveLimit(cp.MaxConnections, "connectionPool.maxConnections", f),
			MaxPendingRequests: positiveLimit(cp.MaxPendingRequests, "connectionPool.maxPendingRequests", f),
			MaxRequests:        positiveLimit(cp.MaxRequests, "connectionPool.maxRequests", f),
			MaxRetries:         positiveLimit(cp.MaxRetries, "connectionPool.maxRetries", f),
		}
		if th.MaxConnections != nil || th.MaxPendingRequests != nil || th.MaxRequests != nil || th.MaxRetries != nil {
			c.CircuitBreakers = &cluster.CircuitBreakers{Thresholds: []*cluster.CircuitBreakers_Thresholds{th}}
		}
		if d, ok := positiveDuration(cp.ConnectTimeout, "connectionPool.connectTimeout", f); ok {
			c.ConnectTimeout = durationpb.New(d)
		}
	}
	if od := spec.OutlierDetection; od != nil {
		c.OutlierDetection = outlierDetection(od, f)
	}
}

// positiveLimit is a circuit-breaker threshold. The proxy refuses 0 (it
// would refuse every request); a maxRetries of 0, which the API allows to
// mean "no retries in flight", becomes 1, the nearest it runs.
func positiveLimit(v *int32, field string, f *findings) *wrapperspb.UInt32Value {
	switch {
	case v == nil:
		return nil
	case *v < 1:
		f.add(reasonUnsupportedValue, "%s: %d is not supported, 1 is used", field, *v)
		return wrapperspb.UInt32(1)
	default:
		return wrapperspb.UInt32(uint32(*v))
	}
}

// positiveDuration returns d when it is set and above zero; a zero or
// negative d is reported and left out.
func positiveDuration(d *metav1.Duration, field string, f *findings) (time.Duration, bool) {
	if d == nil {
		return 0, false
	}
	v := d.Duration
	if v <= 0 {
		f.add(reasonUnsupportedValue, "%s: %v must be positive; the default is used", field, v)
		return 0, false
	}
	return v, true
}

// outlierDetection follows Envoy's detectors: the 5xx one runs only when
// the policy asks for it, and the gateway-failure one is enforced (Envoy
// enforces it at 0% by default).
func outlierDetection(od *v1alpha1.OutlierDetection, f *findings) *cluster.OutlierDetection {
	out := &cluster.OutlierDetection{}
	if v := od.Consecutive5xxErrors; v != nil && *v >= 1 {
		out.Consecutive_5Xx = wrapperspb.UInt32(uint32(*v))
	} else {
		out.EnforcingConsecutive_5Xx = wrapperspb.UInt32(0)
	}
	if v := od.ConsecutiveGatewayErrors; v != nil && *v >= 1 {
		out.ConsecutiveGatewayFailure = wrapperspb.UInt32(uint32(*v))
		out.EnforcingConsecutiveGatewayFailure = wrapperspb.UInt32(100)
	}
	if d, ok := positiveDuration(od.Interval, "outlierDetection.interval", f); ok {
		out.Interval = durationpb.New(d)
	}
	if d, ok := positiveDuration(od.BaseEjectionTime, "outlierDetection.baseEjectionTime", f); ok {
		out.BaseEjectionTime = durationpb.New(d)
	}
	if v := od.MaxEjectionPercent; v != nil && *v >= 0 && *v <= 100 {
		out.MaxEjectionPercent = wrapperspb.UInt32(uint32(*v))
	}
	return out
}

// routeHashPolicy is the hash_policy of a route to a cluster of tp's
// Service: nil without hashOn.
func routeHashPolicy(tp *v1alpha1.TrafficPolicy) []*route.RouteAction_HashPolicy {
	h := hashOn(tp)
	if h == nil {
		return nil
	}
	var hp *route.RouteAction_HashPolicy
	switch {
	case h.Header != "":
		hp = &route.RouteAction_HashPolicy{PolicySpecifier: &route.RouteAction_HashPolicy_Header_{
			Header: &route.RouteAction_HashPolicy_Header{HeaderName: strings.ToLower(h.Header)},
		}}
	case h.Cookie != "":
		hp = &route.RouteAction_HashPolicy{PolicySpecifier: &route.RouteAction_HashPolicy_Cookie_{
			Cookie: &route.RouteAction_HashPolicy_Cookie{Name: h.Cookie},
		}}
	case h.SourceIP:
		hp = &route.RouteAction_HashPolicy{PolicySpecifier: &route.RouteAction_HashPolicy_ConnectionProperties_{
			ConnectionProperties: &route.RouteAction_HashPolicy_ConnectionProperties{SourceIp: true},
		}}
	default:
		return nil
	}
	return []*route.RouteAction_HashPolicy{hp}
}

// hashOn is tp's hashOn, nil when tp or its load balancer has none.
func hashOn(tp *v1alpha1.TrafficPolicy) *v1alpha1.HashOn {
	if tp == nil || tp.Spec.LoadBalancer == nil {
		return nil
	}
	return tp.Spec.LoadBalancer.HashOn
}

// outboundTCPProxy is the tcp_proxy filter of an outbound TCP chain: that
// of tcpProxyFilter, plus a source_ip hash policy when tp hashes on the
// source IP (header and cookie hashes have nothing to hash on TCP).
func outboundTCPProxy(clusterName string, tp *v1alpha1.TrafficPolicy, logged bool) (*listener.Filter, error) {
	h := hashOn(tp)
	if h == nil || !h.SourceIP {
		return tcpProxyFilter(clusterName, logged)
	}
	return tcpProxyNetworkFilter(&tcpproxy.TcpProxy{
		StatPrefix:       clusterName,
		ClusterSpecifier: &tcpproxy.TcpProxy_Cluster{Cluster: clusterName},
		HashPolicy: []*typev3.HashPolicy{{
			PolicySpecifier: &typev3.HashPolicy_SourceIp_{SourceIp: &typev3.HashPolicy_SourceIp{}},
		}},
	}, logged)
}

// routeDefaults are what a TrafficPolicy gives every route of its
// Service's RouteConfiguration: a timeout (routeTimeout, none, without
// one) and a retry policy (nil without one).
type routeDefaults struct {
	timeout time.Duration
	retry   *route.RetryPolicy
}

// trafficRouteDefaults reads tp's timeout and retries; f hears of values
// left out.
func trafficRouteDefaults(tp *v1alpha1.TrafficPolicy, f *findings) routeDefaults {
	d := routeDefaults{timeout: routeTimeout}
	if tp == nil {
		return d
	}
	if t := tp.Spec.Timeout; t != nil {
		if t.Duration < 0 {
			f.add(reasonUnsupportedValue, "timeout: %v is negative; no timeout is set", t.Duration)
		} else {
			d.timeout = t.Duration
		}
	}
	if r := tp.Spec.Retries; r != nil {
		rp := &route.RetryPolicy{RetryOn: defaultRetryOn, NumRetries: wrapperspb.UInt32(uint32(max(r.Attempts, 0)))}
		if len(r.RetryOn) > 0 {
			on := make([]string, 0, len(r.RetryOn))
			for _, c := range r.RetryOn {
				on = append(on, string(c))
			}
			rp.RetryOn = strings.Join(on, ",")
		}
		if pt, ok := positiveDuration(r.PerTryTimeout, "retries.perTryTimeout", f); ok {
			rp.PerTryTimeout = durationpb.New(pt)
		}
		d.retry = rp
	}
	return d
}
