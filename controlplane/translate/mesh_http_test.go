package translate

import (
	"net/netip"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/model"
)

// webMesh is the mesh of the HTTP cases, in namespace "web". It is built
// afresh for every call.
//
//   - Service web:80 (appProtocol http) targets port "http" of web-1 (8080,
//     app on 18080); client calls it.
//   - Service greeter:50051 (appProtocol grpc) targets greeter-1's 50051;
//     client calls it too.
//   - api-1 serves 9000, targeted by api:80 (http) and api-raw:9000 (tcp), so
//     it stays TCP, and 9001, targeted only by api:81 (kubernetes.io/h2c).
//   - Service site:80 has no appProtocol but is named "http-site", so it is
//     HTTP; site-1 serves it. browser calls site:80, plain:443 (named
//     "https": TCP) and old:80 (named "http" but appProtocol tcp: TCP).
func webMesh() *model.Mesh {
	local := netip.MustParseAddr("127.0.0.1")
	svc := func(name string, ports ...model.ServicePort) model.Service {
		return model.Service{Name: name, Namespace: "web", Selector: map[string]string{"app": name}, Ports: ports}
	}
	workload := func(name, app, addr string, ports []model.WorkloadPort, out ...model.Outbound) model.Workload {
		return model.Workload{
			Name: name, Namespace: "web", ServiceAccount: name,
			Labels:  map[string]string{"app": app},
			Address: netip.MustParseAddr(addr), LocalAddress: local,
			Ports: ports, Outbound: out,
		}
	}
	call := func(name string, port, local uint32) model.Outbound {
		return model.Outbound{Service: model.NamespacedName{Namespace: "web", Name: name}, Port: port, LocalPort: local}
	}
	m := &model.Mesh{
		TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local"),
		Services: []model.Service{
			svc("web", model.ServicePort{Name: "web", Port: 80, TargetPortName: "http", AppProtocol: "http"}),
			svc("greeter", model.ServicePort{Name: "rpc", Port: 50051, TargetPort: 50051, AppProtocol: "grpc"}),
			svc("api",
				model.ServicePort{Name: "http", Port: 80, TargetPort: 9000, AppProtocol: "http"},
				model.ServicePort{Name: "h2c", Port: 81, TargetPort: 9001, AppProtocol: "kubernetes.io/h2c"},
			),
			{
				Name: "api-raw", Namespace: "web", Selector: map[string]string{"app": "api"},
				Ports: []model.ServicePort{{Name: "raw", Port: 9000, TargetPort: 9000, AppProtocol: "tcp"}},
			},
			svc("site", model.ServicePort{Name: "http-site", Port: 80, TargetPort: 3000}),
			svc("plain", model.ServicePort{Name: "https", Port: 443, TargetPort: 8443}),
			svc("old", model.ServicePort{Name: "http", Port: 80, TargetPort: 8080, AppProtocol: "tcp"}),
		},
		Workloads: []model.Workload{
			workload("web-1", "web", "192.0.2.10", []model.WorkloadPort{{Name: "http", Port: 8080, TargetPort: 18080}}),
			workload("greeter-1", "greeter", "192.0.2.20", []model.WorkloadPort{{Name: "grpc", Port: 50051}}),
			workload("api-1", "api", "192.0.2.30", []model.WorkloadPort{{Name: "mixed", Port: 9000}, {Name: "h2c", Port: 9001}}),
			workload("site-1", "site", "192.0.2.40", []model.WorkloadPort{{Port: 3000}}),
			workload("plain-1", "plain", "192.0.2.50", []model.WorkloadPort{{Port: 8443}}),
			workload("old-1", "old", "192.0.2.60", []model.WorkloadPort{{Port: 8080}}),
			workload("client", "client", "192.0.2.2", nil, call("web", 80, 8080), call("greeter", 50051, 50051)),
			workload("browser", "browser", "192.0.2.3", nil, call("site", 80, 8000), call("plain", 443, 8443), call("old", 80, 8001)),
		},
	}
	m.Sort()
	return m
}
