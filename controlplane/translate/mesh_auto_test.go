package translate

import (
	"net/netip"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/model"
)

// autoMesh is the mesh of the auto-port cases (testdata/auto/):
//   - db serves port 3306 through a service port that declares nothing
//     (auto), and port 5432 through one named tcp-pg (declared TCP);
//   - app calls both.
func autoMesh() *model.Mesh {
	local := netip.MustParseAddr("127.0.0.1")
	m := &model.Mesh{
		TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local"),
		Services: []model.Service{{
			Name: "db", Namespace: "data",
			Selector: map[string]string{"app": "db"},
			Ports: []model.ServicePort{
				{Port: 3306, TargetPort: 3306},
				{Name: "tcp-pg", Port: 5432, TargetPort: 5432},
			},
		}},
		Workloads: []model.Workload{
			{
				Name: "db-1", Namespace: "data", ServiceAccount: "db",
				Labels:  map[string]string{"app": "db"},
				Address: netip.MustParseAddr("192.0.2.60"), LocalAddress: local,
				Ports: []model.WorkloadPort{{Port: 3306, TargetPort: 13306}, {Port: 5432}},
			},
			{
				Name: "app", Namespace: "data", ServiceAccount: "app",
				Address: netip.MustParseAddr("192.0.2.61"), LocalAddress: local,
				Outbound: []model.Outbound{
					{Service: model.NamespacedName{Namespace: "data", Name: "db"}, Port: 3306},
					{Service: model.NamespacedName{Namespace: "data", Name: "db"}, Port: 5432},
				},
			},
		},
	}
	m.Sort()
	return m
}
