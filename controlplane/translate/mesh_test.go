package translate

import (
	"net/netip"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/model"
)

// shopMesh is the mesh the table cases translate from. It is built afresh
// for every call so that no test can see another's changes.
//
//   - frontend (sa frontend) serves 8080 and calls backend:80.
//   - backend (sa backend) serves two ports; Service backend's port 80
//     targets the port named "http". It is named "http" but declared tcp:
//     every port of this mesh is TCP (webMesh has the HTTP ones).
//   - checkout calls payments:443, served by three workloads under two
//     service accounts, plus one in another namespace the selector must skip.
//   - legacy calls a service that does not exist, and a port backend lacks.
//   - idle has no ports and no outbound entries.
func shopMesh() *model.Mesh {
	local := netip.MustParseAddr("127.0.0.1")
	m := &model.Mesh{
		TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local"),
		Services: []model.Service{
			{
				Name: "backend", Namespace: "shop",
				Selector: map[string]string{"app": "backend"},
				Ports: []model.ServicePort{
					{Name: "http", Port: 80, TargetPortName: "http", AppProtocol: "tcp"},
					{Name: "tcp-admin", Port: 9090, TargetPort: 9090},
				},
			},
			{
				Name: "frontend", Namespace: "shop",
				Selector: map[string]string{"app": "frontend"},
				Ports:    []model.ServicePort{{Name: "tcp", Port: 80, TargetPort: 8080}},
			},
			{
				Name: "payments", Namespace: "shop",
				Selector: map[string]string{"app": "payments"},
				Ports:    []model.ServicePort{{Name: "https", Port: 443, TargetPort: 8443}},
			},
		},
		Workloads: []model.Workload{
			{
				Name: "payments-x", Namespace: "other", ServiceAccount: "payments",
				Labels:  map[string]string{"app": "payments"},
				Address: netip.MustParseAddr("192.0.2.99"), LocalAddress: local,
				Ports: []model.WorkloadPort{{Port: 8443, TargetPort: 443}},
			},
			{
				Name: "backend", Namespace: "shop", ServiceAccount: "backend",
				Labels:  map[string]string{"app": "backend", "tier": "data"},
				Address: netip.MustParseAddr("192.0.2.10"), LocalAddress: local,
				Ports: []model.WorkloadPort{
					{Name: "http", Port: 8080, TargetPort: 18080},
					{Name: "admin", Port: 9090},
				},
			},
			{
				Name: "checkout", Namespace: "shop", ServiceAccount: "checkout",
				Labels:  map[string]string{"app": "checkout"},
				Address: netip.MustParseAddr("192.0.2.30"), LocalAddress: netip.MustParseAddr("127.0.0.2"),
				Outbound: []model.Outbound{{Service: model.NamespacedName{Namespace: "shop", Name: "payments"}, Port: 443}},
			},
			{
				Name: "frontend", Namespace: "shop", ServiceAccount: "frontend",
				Labels:  map[string]string{"app": "frontend"},
				Address: netip.MustParseAddr("192.0.2.2"), LocalAddress: local,
				Ports:    []model.WorkloadPort{{Name: "http", Port: 8080, TargetPort: 3000}},
				Outbound: []model.Outbound{{Service: model.NamespacedName{Namespace: "shop", Name: "backend"}, Port: 80, LocalPort: 8081}},
			},
			{
				Name: "idle", Namespace: "shop", ServiceAccount: "idle",
				Address: netip.MustParseAddr("192.0.2.40"), LocalAddress: local,
			},
			{
				Name: "legacy", Namespace: "shop", ServiceAccount: "legacy",
				Address: netip.MustParseAddr("192.0.2.50"), LocalAddress: local,
				Outbound: []model.Outbound{
					{Service: model.NamespacedName{Namespace: "shop", Name: "inventory"}, Port: 80, LocalPort: 8082},
					{Service: model.NamespacedName{Namespace: "shop", Name: "backend"}, Port: 81, LocalPort: 8083},
				},
			},
			{
				Name: "payments-a", Namespace: "shop", ServiceAccount: "payments",
				Labels:  map[string]string{"app": "payments"},
				Address: netip.MustParseAddr("192.0.2.21"), LocalAddress: local,
				Ports: []model.WorkloadPort{{Name: "https", Port: 8443, TargetPort: 443}},
			},
			{
				Name: "payments-b", Namespace: "shop", ServiceAccount: "payments-canary",
				Labels:  map[string]string{"app": "payments", "track": "canary"},
				Address: netip.MustParseAddr("192.0.2.22"), LocalAddress: local,
				Ports: []model.WorkloadPort{{Name: "https", Port: 8443, TargetPort: 443}},
			},
			{
				Name: "payments-c", Namespace: "shop", ServiceAccount: "payments",
				Labels:  map[string]string{"app": "payments"},
				Address: netip.MustParseAddr("192.0.2.20"), LocalAddress: local,
				Ports: []model.WorkloadPort{{Name: "https", Port: 8443, TargetPort: 443}},
			},
			{
				// Selected by payments but without its target port: not an endpoint.
				Name: "payments-d", Namespace: "shop", ServiceAccount: "payments-debug",
				Labels:  map[string]string{"app": "payments"},
				Address: netip.MustParseAddr("192.0.2.23"), LocalAddress: local,
				Ports: []model.WorkloadPort{{Name: "debug", Port: 6060}},
			},
		},
	}
	m.Sort()
	return m
}

// goldenCase names a workload of a test mesh and its golden file,
// testdata/<file>.golden.yaml.
type goldenCase struct {
	file     string
	mesh     func() *model.Mesh
	workload model.NamespacedName
}

// goldenCases are the TCP cases (testdata/*.golden.yaml, which the proxy's
// contract test reads) and the HTTP ones (testdata/http/).
var goldenCases = []goldenCase{
	{"frontend-outbound", shopMesh, model.NamespacedName{Namespace: "shop", Name: "frontend"}},
	{"backend-two-ports", shopMesh, model.NamespacedName{Namespace: "shop", Name: "backend"}},
	{"outbound-several-identities", shopMesh, model.NamespacedName{Namespace: "shop", Name: "checkout"}},
	{"outbound-missing-service", shopMesh, model.NamespacedName{Namespace: "shop", Name: "legacy"}},
	{"no-ports-no-outbound", shopMesh, model.NamespacedName{Namespace: "shop", Name: "idle"}},
	{"http/http-inbound", webMesh, model.NamespacedName{Namespace: "web", Name: "web-1"}},
	{"http/http-and-grpc-outbound", webMesh, model.NamespacedName{Namespace: "web", Name: "client"}},
	{"http/grpc-inbound", webMesh, model.NamespacedName{Namespace: "web", Name: "greeter-1"}},
	{"http/mixed-port-inbound", webMesh, model.NamespacedName{Namespace: "web", Name: "api-1"}},
	{"http/name-detection-outbound", webMesh, model.NamespacedName{Namespace: "web", Name: "browser"}},
	{"http/name-detection-inbound", webMesh, model.NamespacedName{Namespace: "web", Name: "site-1"}},
	{"http/access-log-inbound", webMeshLogged, model.NamespacedName{Namespace: "web", Name: "web-1"}},
	{"http/access-log-outbound", webMeshLogged, model.NamespacedName{Namespace: "web", Name: "client"}},
	{"auto/auto-inbound", autoMesh, model.NamespacedName{Namespace: "data", Name: "db-1"}},
	{"auto/auto-outbound", autoMesh, model.NamespacedName{Namespace: "data", Name: "app"}},
	{"policy/api-inbound", policyMesh, model.NamespacedName{Namespace: "sec", Name: "api-1"}},
	{"policy/strict-tcp-inbound", policyMesh, model.NamespacedName{Namespace: "sec", Name: "db-1"}},
	{"policy/disable-inbound", policyMesh, model.NamespacedName{Namespace: "legacy", Name: "old-1"}},
	{"policy/client-outbound", policyMesh, model.NamespacedName{Namespace: "sec", Name: "client"}},
	{"traffic/productpage-outbound", trafficMesh, model.NamespacedName{Namespace: "store", Name: "productpage"}},
	{"traffic/consumer-route-outbound", trafficMesh, model.NamespacedName{Namespace: "qa", Name: "tester"}},
	{"pod/shopper-scope", podMesh, model.NamespacedName{Namespace: "shop", Name: "shopper"}},
	{"pod/dependency-missing", podMesh, model.NamespacedName{Namespace: "other", Name: "legacy-1"}},
}
