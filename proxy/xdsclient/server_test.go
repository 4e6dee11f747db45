package xdsclient

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

const testNodeID = "web-0.default"

// xdsServer is a go-control-plane ADS server, state of the world and delta,
// with a snapshot cache in ADS mode on a loopback port, recording every
// request it receives and every delta response it sends.
type xdsServer struct {
	addr  string
	cache cachev3.SnapshotCache
	grpc  *grpc.Server
	done  chan struct{}

	mu             sync.Mutex
	requests       []sentRequest
	deltaResponses []*discoveryv3.DeltaDiscoveryResponse
	deltaSubs      map[int64]deltaSubscriptions // by delta stream
}

// startServer serves ADS on addr ("127.0.0.1:0" for a fresh port) until the
// test ends or stop is called.
func startServer(t testing.TB, addr string) *xdsServer {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	s := &xdsServer{
		addr:      lis.Addr().String(),
		cache:     cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil),
		grpc:      grpc.NewServer(),
		done:      make(chan struct{}),
		deltaSubs: map[int64]deltaSubscriptions{},
	}
	ctx, cancel := context.WithCancel(t.Context())
	callbacks := serverv3.CallbackFuncs{
		StreamRequestFunc: func(id int64, req *discoveryv3.DiscoveryRequest) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.requests = append(s.requests, sotwRequest(id, req))
			return nil
		},
		StreamDeltaRequestFunc: func(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			subs := s.deltaSubs[id]
			if subs == nil {
				subs = deltaSubscriptions{}
				s.deltaSubs[id] = subs
			}
			s.requests = append(s.requests, subs.request(id, req))
			return nil
		},
		StreamDeltaResponseFunc: func(_ int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.deltaResponses = append(s.deltaResponses, proto.CloneOf(resp))
		},
	}
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(s.grpc, serverv3.NewServer(ctx, s.cache, callbacks))
	go func() {
		defer close(s.done)
		defer cancel()
		if err := s.grpc.Serve(lis); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(s.stop)
	return s
}

// stop closes the listener and every stream, and waits for Serve to return.
func (s *xdsServer) stop() {
	s.grpc.Stop()
	<-s.done
}

func (s *xdsServer) setSnapshot(t testing.TB, snap *cachev3.Snapshot) {
	t.Helper()
	if err := snap.Consistent(); err != nil {
		t.Fatalf("inconsistent snapshot: %v", err)
	}
	if err := s.cache.SetSnapshot(t.Context(), testNodeID, snap); err != nil {
		t.Fatalf("set snapshot: %v", err)
	}
}

// requestsOf returns the requests of one type, oldest first.
func (s *xdsServer) requestsOf(typeURL string) []sentRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sentRequest
	for _, r := range s.requests {
		if r.typeURL == typeURL {
			out = append(out, r)
		}
	}
	return out
}

// deltaResponsesOf returns the delta responses of one type, oldest first.
func (s *xdsServer) deltaResponsesOf(typeURL string) []*discoveryv3.DeltaDiscoveryResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*discoveryv3.DeltaDiscoveryResponse
	for _, r := range s.deltaResponses {
		if r.GetTypeUrl() == typeURL {
			out = append(out, r)
		}
	}
	return out
}

// acked reports whether the server received an ACK of version for typeURL:
// a SotW request naming it, or a delta request answering the nonce of a
// response of that system version.
func (s *xdsServer) acked(typeURL, version string) bool {
	sent := map[string]string{} // delta nonce → version
	for _, r := range s.deltaResponsesOf(typeURL) {
		sent[r.GetNonce()] = r.GetSystemVersionInfo()
	}
	for _, r := range s.requestsOf(typeURL) {
		if r.nonce == "" || r.detail != nil {
			continue
		}
		if (!r.delta && r.version == version) || (r.delta && sent[r.nonce] == version) {
			return true
		}
	}
	return false
}

// nacks returns the NACKs received for typeURL.
func (s *xdsServer) nacks(typeURL string) []sentRequest {
	var out []sentRequest
	for _, r := range s.requestsOf(typeURL) {
		if r.detail != nil {
			out = append(out, r)
		}
	}
	return out
}

// edsSubscriptions returns the successive EDS resource-name sets requested,
// with consecutive duplicates (ACKs of the same subscription) removed.
func (s *xdsServer) edsSubscriptions() [][]string { return s.subscriptions(EndpointType) }

// subscriptions returns the successive resource-name sets requested for
// typeURL (for delta, the subscription each request leaves), with
// consecutive duplicates removed.
func (s *xdsServer) subscriptions(typeURL string) [][]string {
	var out [][]string
	for _, r := range s.requestsOf(typeURL) {
		if len(out) == 0 || !slices.Equal(out[len(out)-1], r.names) {
			out = append(out, r.names)
		}
	}
	return out
}

// dial returns an insecure client connection to addr with a short gRPC
// reconnect backoff, closed when the test ends.
func dial(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, MaxDelay: 100 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}),
	}, opts...)...)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() {
		if err := conn.Close(); err != nil {
			t.Errorf("close conn: %v", err)
		}
	})
	return conn
}

// startClient runs a Client speaking p on conn until the test ends and
// checks that Run then returns nil.
func startClient(t testing.TB, p Protocol, conn grpc.ClientConnInterface, h Handler, reg prometheus.Registerer) *Client {
	t.Helper()
	return startClientWith(t, Config{
		Conn:           conn,
		Node:           &corev3.Node{Id: testNodeID, Cluster: "web"},
		Handler:        h,
		Protocol:       p,
		Logger:         slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		InitialBackoff: 10 * time.Millisecond,
		MaxBackoff:     200 * time.Millisecond,
		Registerer:     reg,
	})
}

// startClientWith is startClient with a Config of the test's own.
func startClientWith(t testing.TB, cfg Config) *Client {
	t.Helper()
	c := New(cfg)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	})
	return c
}

// eventually polls cond until it holds or 10s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder is a Handler that keeps the last set it accepted per type and
// rejects any set holding a resource named in reject.
type recorder struct {
	mu        sync.Mutex
	calls     []call
	reject    map[string]string
	clusters  []*clusterv3.Cluster
	endpoints []*endpointv3.ClusterLoadAssignment
	listeners []*listenerv3.Listener
	routes    []*routev3.RouteConfiguration
}

type call struct {
	typ   string // cds, eds, lds, rds
	names []string
}

func newRecorder() *recorder { return &recorder{reject: map[string]string{}} }

func (r *recorder) OnClusters(_ context.Context, clusters []*clusterv3.Cluster) error {
	return record(r, "cds", clusters, (*clusterv3.Cluster).GetName, &r.clusters)
}

func (r *recorder) OnEndpoints(_ context.Context, endpoints []*endpointv3.ClusterLoadAssignment) error {
	return record(r, "eds", endpoints, (*endpointv3.ClusterLoadAssignment).GetClusterName, &r.endpoints)
}

func (r *recorder) OnListeners(_ context.Context, listeners []*listenerv3.Listener) error {
	return record(r, "lds", listeners, (*listenerv3.Listener).GetName, &r.listeners)
}

func (r *recorder) OnRoutes(_ context.Context, routes []*routev3.RouteConfiguration) error {
	return record(r, "rds", routes, (*routev3.RouteConfiguration).GetName, &r.routes)
}

func record[T any](r *recorder, typ string, set []T, name func(T) string, state *[]T) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, res := range set {
		names = append(names, name(res))
	}
	r.calls = append(r.calls, call{typ: typ, names: names})
	var errs []error
	for _, n := range names {
		if msg, ok := r.reject[n]; ok {
			errs = append(errs, errors.New(msg))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	*state = set
	return nil
}

func (r *recorder) setReject(name, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reject[name] = msg
}

func (r *recorder) callList() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// state returns the names of the accepted sets, as "cds=a,b eds=a lds=l1".
func (r *recorder) state() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var c, e, l, rt []string
	for _, x := range r.clusters {
		c = append(c, x.GetName())
	}
	for _, x := range r.endpoints {
		e = append(e, x.GetClusterName())
	}
	for _, x := range r.listeners {
		l = append(l, x.GetName())
	}
	for _, x := range r.routes {
		rt = append(rt, x.GetName())
	}
	out := "cds=" + strings.Join(c, ",") + " eds=" + strings.Join(e, ",") + " lds=" + strings.Join(l, ",")
	if len(rt) > 0 {
		out += " rds=" + strings.Join(rt, ",")
	}
	return out
}

func (r *recorder) endpoint(name string) *endpointv3.ClusterLoadAssignment {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.endpoints {
		if e.GetClusterName() == name {
			return e
		}
	}
	return nil
}

func edsCluster(name, serviceName string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ConnectTimeout:       durationpb.New(5 * time.Second),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{
			ServiceName: serviceName,
			EdsConfig: &corev3.ConfigSource{
				ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
			},
		},
	}
}

func staticCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ConnectTimeout:       durationpb.New(5 * time.Second),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		LoadAssignment:       assignment(name, "127.0.0.1"),
	}
}

func assignment(name string, addrs ...string) *endpointv3.ClusterLoadAssignment {
	var lbs []*endpointv3.LbEndpoint
	for _, a := range addrs {
		lbs = append(lbs, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: socketAddress(a, 8080),
			}},
		})
	}
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: name,
		Endpoints:   []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lbs}},
	}
}

func testListener(name string, port uint32) *listenerv3.Listener {
	return &listenerv3.Listener{Name: name, Address: socketAddress("127.0.0.1", port)}
}

func socketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       ip,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

type resources struct {
	clusters  []*clusterv3.Cluster
	endpoints []*endpointv3.ClusterLoadAssignment
	listeners []*listenerv3.Listener
	routes    []*routev3.RouteConfiguration
}

func snapshot(t testing.TB, version string, r resources) *cachev3.Snapshot {
	t.Helper()
	m := map[resourcev3.Type][]types.Resource{}
	for _, c := range r.clusters {
		m[resourcev3.ClusterType] = append(m[resourcev3.ClusterType], c)
	}
	for _, e := range r.endpoints {
		m[resourcev3.EndpointType] = append(m[resourcev3.EndpointType], e)
	}
	for _, l := range r.listeners {
		m[resourcev3.ListenerType] = append(m[resourcev3.ListenerType], l)
	}
	for _, rc := range r.routes {
		m[resourcev3.RouteType] = append(m[resourcev3.RouteType], rc)
	}
	snap, err := cachev3.NewSnapshot(version, m)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return snap
}
