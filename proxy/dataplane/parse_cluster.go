package dataplane

import (
	"crypto/tls"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"

	"github.com/weftmesh/weft/proxy/httpproxy"
)

// defaultConnectTimeout is a cluster's connect_timeout when unset, as in
// Envoy.
const defaultConnectTimeout = 5 * time.Second

// clusterConfig is a validated cluster.
type clusterConfig struct {
	name string
	// edsName names the ClusterLoadAssignment of an EDS cluster; empty for
	// STATIC clusters, whose endpoints are in static.
	edsName string
	static  *endpointSet
	// lb is the load balancing policy and its settings.
	lb             lbSettings
	connectTimeout time.Duration
	// tls is nil for plaintext clusters; its ServerName is the SNI.
	tls *tls.Config
	// originalDst is set for ORIGINAL_DST clusters: a connection goes to
	// its own original destination, in plaintext or over tls
	// (passthrough.go).
	originalDst bool
	// http2 asks HTTP listeners for HTTP/2 to the endpoints (h2c when
	// plaintext); HTTP/1.1 otherwise. TCP listeners ignore it.
	http2 bool
	// breaker and outlier are the circuit breaker and outlier detection of
	// HTTP requests; a new configuration of the cluster starts them afresh.
	// outlier is nil without outlier_detection.
	breaker *httpproxy.Breaker
	outlier *httpproxy.Outlier
}

// parseClusters validates a complete set of clusters.
func (d *Dataplane) parseClusters(cs []*clusterv3.Cluster) (map[string]*clusterConfig, error) {
	var all []*problems
	out := make(map[string]*clusterConfig, len(cs))
	names := make([]string, 0, len(cs))
	for _, c := range cs {
		if c.GetName() == "" {
			all = append(all, missingName("cluster"))
			continue
		}
		names = append(names, c.GetName())
		p := newProblems("cluster", c.GetName())
		cc := d.parseCluster(p, c)
		all = append(all, p)
		out[cc.name] = cc
	}
	all = append(all, duplicates("cluster", names)...)
	if err := joinProblems(all); err != nil {
		return nil, err
	}
	return out, nil
}

func (d *Dataplane) parseCluster(p *problems, c *clusterv3.Cluster) *clusterConfig {
	if c.GetType() == clusterv3.Cluster_ORIGINAL_DST {
		return d.parseOriginalDstCluster(p, c)
	}
	p.OnlyFields("", c, "name", "type", "eds_cluster_config", "connect_timeout", "lb_policy", "load_assignment", "transport_socket", "typed_extension_protocol_options",
		"circuit_breakers", "outlier_detection",
		"ring_hash_lb_config", "maglev_lb_config", "least_request_lb_config")
	cc := &clusterConfig{
		name:           c.GetName(),
		lb:             parseLB(p, c),
		connectTimeout: parseDuration(p, "connect_timeout", c.GetConnectTimeout(), defaultConnectTimeout),
	}
	cc.http2 = parseProtocolOptions(p, c)
	cc.breaker = httpproxy.NewBreaker(parseCircuitBreakers(p, c))
	if od := parseOutlierDetection(p, c); od != nil {
		cc.outlier = httpproxy.NewOutlier(*od)
	}
	if cc.connectTimeout == 0 {
		cc.connectTimeout = defaultConnectTimeout
	}

	switch c.GetType() {
	case clusterv3.Cluster_STATIC:
		if c.GetEdsClusterConfig() != nil {
			p.Addf("eds_cluster_config", "set on a STATIC cluster")
		}
		if c.GetLoadAssignment() == nil {
			// No endpoints, as in Envoy: connections are closed
			// (BlackHoleCluster, docs/capture.md).
			cc.static = &endpointSet{}
		} else {
			cc.static = parseAssignment(p, "load_assignment", c.GetLoadAssignment())
		}
	case clusterv3.Cluster_EDS:
		if c.GetLoadAssignment() != nil {
			p.Addf("load_assignment", "set on an EDS cluster")
		}
		cc.edsName = parseEDSConfig(p, c)
	default:
		p.Addf("type", "unsupported cluster type %s", c.GetType())
	}

	cc.tls = d.parseClusterTLS(p, c)
	return cc
}

// parseClusterTLS returns the client TLS configuration of c's
// transport_socket, nil for plaintext.
func (d *Dataplane) parseClusterTLS(p *problems, c *clusterv3.Cluster) *tls.Config {
	ts := c.GetTransportSocket()
	if ts == nil {
		return nil
	}
	ut, ok := parseUpstreamTLS(p, "transport_socket", ts)
	if !ok {
		return nil
	}
	tc, err := d.clientTLS(ut)
	if err != nil {
		p.Addf("transport_socket", "%v", err)
	}
	return tc
}

// parseEDSConfig checks that an EDS cluster takes its endpoints over ADS
// and returns the name of its ClusterLoadAssignment.
func parseEDSConfig(p *problems, c *clusterv3.Cluster) string {
	const path = "eds_cluster_config"
	eds := c.GetEdsClusterConfig()
	if eds == nil {
		p.Addf(path, "missing")
		return ""
	}
	p.OnlyFields(path, eds, "eds_config", "service_name")
	src := eds.GetEdsConfig()
	if src == nil {
		p.Addf(field(path, "eds_config"), "missing")
	} else {
		p.OnlyFields(field(path, "eds_config"), src, "ads", "resource_api_version", "initial_fetch_timeout")
		if src.GetAds() == nil && src.GetConfigSourceSpecifier() == nil {
			p.Addf(field(path, "eds_config.ads"), "missing")
		}
		if v := src.GetResourceApiVersion(); v != corev3.ApiVersion_AUTO && v != corev3.ApiVersion_V3 {
			p.Addf(field(path, "eds_config.resource_api_version"), "unsupported version %s", v)
		}
	}
	if name := eds.GetServiceName(); name != "" {
		return name
	}
	return c.GetName()
}

func cloneClusters(cs []*clusterv3.Cluster) []*clusterv3.Cluster {
	out := make([]*clusterv3.Cluster, len(cs))
	for i, c := range cs {
		out[i] = proto.Clone(c).(*clusterv3.Cluster)
	}
	return out
}
