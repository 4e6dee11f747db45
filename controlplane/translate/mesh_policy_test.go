package translate

import (
	"net/netip"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// policyMesh is the mesh of the policy cases (testdata/policy/):
//
//   - PeerAuthentications: STRICT mesh-wide (weft-system/default), DISABLE
//     for namespace legacy, PERMISSIVE for app=api with port 9000
//     DISABLE, and DISABLE for the workloads labelled track=off.
//   - api-1 (sec) serves HTTP 8080, TCP 9000 and sniffed 7000, under an
//     ALLOW and a DENY policy and the mesh-wide AUDIT one.
//   - db-1 (sec) serves TCP 5432 under the mesh's STRICT default and an
//     ALLOW policy one of whose rules names a method.
//   - old-1 (legacy) serves HTTP 8080 without mTLS.
//   - pool-1 and pool-2 (sec) serve Service pool; pool-2 runs DISABLE.
//   - client (sec) calls old (all DISABLE), api and pool (mixed).
func policyMesh() *model.Mesh {
	local := netip.MustParseAddr("127.0.0.1")
	svc := func(ns, name string) model.NamespacedName { return model.NamespacedName{Namespace: ns, Name: name} }
	m := &model.Mesh{
		TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local"),
		Services: []model.Service{
			{
				Name: "api", Namespace: "sec", Selector: map[string]string{"app": "api"},
				Ports: []model.ServicePort{
					{Name: "http", Port: 80, TargetPort: 8080},
					{Name: "tcp-db", Port: 9000, TargetPort: 9000},
					{Port: 7000, TargetPort: 7000},
				},
			},
			{
				Name: "db", Namespace: "sec", Selector: map[string]string{"app": "db"},
				Ports: []model.ServicePort{{Name: "tcp-pg", Port: 5432, TargetPort: 5432}},
			},
			{
				Name: "pool", Namespace: "sec", Selector: map[string]string{"app": "pool"},
				Ports: []model.ServicePort{{Name: "tcp", Port: 80, TargetPort: 8080}},
			},
			{
				Name: "old", Namespace: "legacy", Selector: map[string]string{"app": "old"},
				Ports: []model.ServicePort{{Name: "http", Port: 80, TargetPort: 8080}},
			},
		},
		Workloads: []model.Workload{
			{
				Name: "api-1", Namespace: "sec", ServiceAccount: "api",
				Labels:  map[string]string{"app": "api"},
				Address: netip.MustParseAddr("192.0.2.70"), LocalAddress: local,
				Ports: []model.WorkloadPort{{Port: 8080, TargetPort: 18080}, {Port: 9000}, {Port: 7000}},
			},
			{
				Name: "db-1", Namespace: "sec", ServiceAccount: "db",
				Labels:  map[string]string{"app": "db"},
				Address: netip.MustParseAddr("192.0.2.71"), LocalAddress: local,
				Ports: []model.WorkloadPort{{Port: 5432}},
			},
			{
				Name: "pool-1", Namespace: "sec", ServiceAccount: "pool",
				Labels:  map[string]string{"app": "pool"},
				Address: netip.MustParseAddr("192.0.2.72"), LocalAddress: local,
				Ports: []model.WorkloadPort{{Port: 8080}},
			},
			{
				Name: "pool-2", Namespace: "sec", ServiceAccount: "pool-legacy",
				Labels:  map[string]string{"app": "pool", "track": "off"},
				Address: netip.MustParseAddr("192.0.2.73"), LocalAddress: local,
				Ports: []model.WorkloadPort{{Port: 8080}},
			},
			{
				Name: "client", Namespace: "sec", ServiceAccount: "client",
				Address: netip.MustParseAddr("192.0.2.74"), LocalAddress: local,
				Outbound: []model.Outbound{
					{Service: svc("legacy", "old"), Port: 80, LocalPort: 8081},
					{Service: svc("sec", "api"), Port: 80, LocalPort: 8082},
					{Service: svc("sec", "pool"), Port: 80, LocalPort: 8083},
				},
			},
			{
				Name: "old-1", Namespace: "legacy", ServiceAccount: "old",
				Labels:  map[string]string{"app": "old"},
				Address: netip.MustParseAddr("192.0.2.75"), LocalAddress: local,
				Ports: []model.WorkloadPort{{Port: 8080}},
			},
		},
		Policies: model.Policies{
			PeerAuthentications: []v1alpha1.PeerAuthentication{
				peerAuth(v1alpha1.RootNamespace, "default", nil, v1alpha1.MTLSStrict),
				peerAuth("legacy", "default", nil, v1alpha1.MTLSDisable),
				peerAuth("sec", "api", map[string]string{"app": "api"}, v1alpha1.MTLSPermissive,
					v1alpha1.PortMutualTLS{Port: 9000, Mode: v1alpha1.MTLSDisable}),
				peerAuth("sec", "pool-off", map[string]string{"track": "off"}, v1alpha1.MTLSDisable),
			},
			AuthorizationPolicies: []v1alpha1.AuthorizationPolicy{
				authzPolicy(v1alpha1.RootNamespace, "audit-outsiders", nil, v1alpha1.ActionAudit,
					v1alpha1.AuthorizationRule{From: []v1alpha1.Source{{NotIPBlocks: []string{"192.0.2.0/24"}}}},
				),
				authzPolicy("sec", "api-allow", map[string]string{"app": "api"}, v1alpha1.ActionAllow,
					v1alpha1.AuthorizationRule{
						From: []v1alpha1.Source{{ServiceAccounts: []string{"frontend", "ops/admin"}}},
						To: []v1alpha1.Operation{{
							Methods: []string{"GET", "HEAD"},
							Paths:   []v1alpha1.PathMatch{{Prefix: "/public/"}, {Exact: "/healthz"}},
						}},
					},
					v1alpha1.AuthorizationRule{
						From: []v1alpha1.Source{{Namespaces: []string{"ops"}, NotServiceAccounts: []string{"ops/intern"}}},
						To:   []v1alpha1.Operation{{Ports: []int32{9000}}},
					},
					v1alpha1.AuthorizationRule{
						From: []v1alpha1.Source{{Principals: []string{"spiffe://cluster.local/ns/batch/sa/*"}}},
						To: []v1alpha1.Operation{
							{Ports: []int32{9000, 7000}},
							{Hosts: []string{"*.api.example", "api.sec"}},
						},
					},
					v1alpha1.AuthorizationRule{
						From: []v1alpha1.Source{{IPBlocks: []string{"192.0.2.5", "2001:db8::/32"}}},
						To: []v1alpha1.Operation{{
							NotMethods: []string{"DELETE"},
							NotPaths:   []v1alpha1.PathMatch{{Suffix: ".php", IgnoreCase: true}},
						}},
					},
					v1alpha1.AuthorizationRule{
						From: []v1alpha1.Source{{Principals: []string{"*"}}},
						When: []v1alpha1.Condition{{Header: "x-tenant", Values: []string{"a.b"}, NotValues: []string{"blocked"}}},
					},
				),
				authzPolicy("sec", "api-deny", map[string]string{"app": "api"}, v1alpha1.ActionDeny,
					v1alpha1.AuthorizationRule{
						From: []v1alpha1.Source{{NotNamespaces: []string{"sec", "ops"}}},
						To:   []v1alpha1.Operation{{Ports: []int32{8080, 7000, 9000}, Paths: []v1alpha1.PathMatch{{Prefix: "/admin"}}}},
					},
					v1alpha1.AuthorizationRule{
						To:   []v1alpha1.Operation{{Ports: []int32{8080}, Methods: []string{"POST"}, Paths: []v1alpha1.PathMatch{{Exact: "/debug"}}}},
						When: []v1alpha1.Condition{{Header: "x-debug", Values: []string{"1"}}},
					},
				),
				authzPolicy("sec", "db-allow", map[string]string{"app": "db"}, v1alpha1.ActionAllow,
					v1alpha1.AuthorizationRule{From: []v1alpha1.Source{{ServiceAccounts: []string{"api"}}}},
					v1alpha1.AuthorizationRule{To: []v1alpha1.Operation{{Methods: []string{"GET"}}}},
				),
			},
		},
	}
	m.Sort()
	return m
}

func peerAuth(ns, name string, sel map[string]string, mode v1alpha1.MTLSMode, ports ...v1alpha1.PortMutualTLS) v1alpha1.PeerAuthentication {
	pa := v1alpha1.PeerAuthentication{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.PeerAuthenticationSpec{PortLevelMTLS: ports},
	}
	if sel != nil {
		pa.Spec.Selector = &v1alpha1.WorkloadSelector{MatchLabels: sel}
	}
	if mode != "" {
		pa.Spec.MTLS = &v1alpha1.MutualTLS{Mode: mode}
	}
	return pa
}

func authzPolicy(ns, name string, sel map[string]string, action v1alpha1.AuthorizationAction, rules ...v1alpha1.AuthorizationRule) v1alpha1.AuthorizationPolicy {
	ap := v1alpha1.AuthorizationPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.AuthorizationPolicySpec{Action: action, Rules: rules},
	}
	if sel != nil {
		ap.Spec.Selector = &v1alpha1.WorkloadSelector{MatchLabels: sel}
	}
	return ap
}
