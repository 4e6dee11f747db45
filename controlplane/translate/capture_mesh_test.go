package translate

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// captureMesh is the mesh of the capture cases, shaped as Kubernetes mode
// builds it. Built afresh for every call.
//
//   - store/api-1 is a Pod serving 8080 (behind api:80, HTTP), 9000
//     (behind api:9000, declared TCP) and 7000 (behind api:7000, no
//     protocol: sniffed). store runs PERMISSIVE (no policy), api-1 has
//     STRICT on 9000 and DISABLE on 7000, and an AuthorizationPolicy
//     admits only store's identities on 8080. api:9100 (HTTP) targets
//     9100, which no container of api-1 declares.
//   - store/api is dual-stack (two ClusterIPs); store/db has one
//     ClusterIP (TCP 5432); store/peers is headless (no ClusterIP).
//   - vault/safe-1 runs STRICT (namespace policy), legacy/old-1 DISABLE;
//     both serve 8443, behind no Service.
//   - store/client serves nothing and depends on vault/*.
func captureMesh() *model.Mesh {
	pod := func(name, ns, addr string, ports ...model.WorkloadPort) model.Workload {
		return model.Workload{
			Name: name, Namespace: ns, ServiceAccount: name, Pod: true,
			Labels:  map[string]string{"app": name},
			Address: netip.MustParseAddr(addr),
			Ports:   ports,
		}
	}
	port := func(name string, p uint32) model.WorkloadPort {
		return model.WorkloadPort{Name: name, Port: p, TargetPort: p}
	}
	ready := func(addr, pod, ns string, ports map[string]uint32) model.SliceEndpoint {
		return model.SliceEndpoint{
			Address: netip.MustParseAddr(addr), Ports: ports, Ready: true,
			Pod: &model.NamespacedName{Namespace: ns, Name: pod},
		}
	}
	apiSelector := &v1alpha1.WorkloadSelector{MatchLabels: map[string]string{"app": "api-1"}}
	m := &model.Mesh{
		TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local"),
		Services: []model.Service{
			{
				Name: "api", Namespace: "store", Selector: map[string]string{"app": "api-1"},
				Ports: []model.ServicePort{
					{Name: "http", Port: 80, TargetPort: 8080, AppProtocol: "http"},
					{Name: "tcp-admin", Port: 9000, TargetPort: 9000},
					{Name: "data", Port: 7000, TargetPort: 7000},
					{Name: "http-metrics", Port: 9100, TargetPort: 9100}, // no container declares 9100
				},
				ClusterIPs: []netip.Addr{netip.MustParseAddr("198.18.10.1"), netip.MustParseAddr("2001:db8::a:1")},
				Slices: []model.SliceEndpoint{
					ready("192.0.2.10", "api-1", "store", map[string]uint32{"http": 8080, "tcp-admin": 9000, "data": 7000, "http-metrics": 9100}),
				},
			},
			{
				Name: "db", Namespace: "store",
				Ports:      []model.ServicePort{{Name: "tcp", Port: 5432, TargetPort: 5432}},
				ClusterIPs: []netip.Addr{netip.MustParseAddr("198.18.10.2")},
				Slices:     []model.SliceEndpoint{},
			},
			{
				Name: "peers", Namespace: "store", Selector: map[string]string{"app": "api-1"},
				Ports:  []model.ServicePort{{Name: "http", Port: 80, TargetPort: 8080, AppProtocol: "http"}},
				Slices: []model.SliceEndpoint{ready("192.0.2.10", "api-1", "store", map[string]uint32{"http": 8080})},
			},
			{
				Name: "vault", Namespace: "vault",
				Ports:      []model.ServicePort{{Name: "tls", Port: 8443, TargetPort: 8443}},
				ClusterIPs: []netip.Addr{netip.MustParseAddr("198.18.10.3")},
				Slices:     []model.SliceEndpoint{ready("192.0.2.20", "safe-1", "vault", map[string]uint32{"tls": 8443})},
			},
		},
		Workloads: []model.Workload{
			pod("api-1", "store", "192.0.2.10", port("http", 8080), port("admin", 9000), port("data", 7000)),
			pod("client", "store", "192.0.2.11"),
			pod("safe-1", "vault", "192.0.2.20", port("https", 8443)),
			pod("old-1", "legacy", "192.0.2.30", port("https", 8443)),
		},
		Policies: model.Policies{
			PeerAuthentications: []v1alpha1.PeerAuthentication{
				{
					ObjectMeta: metav1.ObjectMeta{Namespace: "store", Name: "api"},
					Spec: v1alpha1.PeerAuthenticationSpec{
						Selector: apiSelector,
						PortLevelMTLS: []v1alpha1.PortMutualTLS{
							{Port: 9000, Mode: v1alpha1.MTLSStrict},
							{Port: 7000, Mode: v1alpha1.MTLSDisable},
						},
					},
				},
				{
					ObjectMeta: metav1.ObjectMeta{Namespace: "vault", Name: "default"},
					Spec:       v1alpha1.PeerAuthenticationSpec{MTLS: &v1alpha1.MutualTLS{Mode: v1alpha1.MTLSStrict}},
				},
				{
					ObjectMeta: metav1.ObjectMeta{Namespace: "legacy", Name: "default"},
					Spec:       v1alpha1.PeerAuthenticationSpec{MTLS: &v1alpha1.MutualTLS{Mode: v1alpha1.MTLSDisable}},
				},
			},
			AuthorizationPolicies: []v1alpha1.AuthorizationPolicy{{
				ObjectMeta: metav1.ObjectMeta{Namespace: "store", Name: "api-from-store"},
				Spec: v1alpha1.AuthorizationPolicySpec{
					Selector: apiSelector,
					Action:   v1alpha1.ActionAllow,
					Rules: []v1alpha1.AuthorizationRule{{
						From: []v1alpha1.Source{{Namespaces: []string{"store"}}},
						To:   []v1alpha1.Operation{{Ports: []int32{8080}}},
					}},
				},
			}},
		},
	}
	m.Workloads[1].Dependencies = []model.NamespacedName{{Namespace: "vault", Name: "*"}}
	m.Sort()
	return m
}

// registryOnlyMesh is captureMesh under REGISTRY_ONLY.
func registryOnlyMesh() *model.Mesh {
	m := captureMesh()
	m.OutboundTrafficPolicy = model.OutboundRegistryOnly
	return m
}

// captureCases are the goldens of testdata/capture.
var captureCases = []goldenCase{
	{"capture/api-ports", captureMesh, model.NamespacedName{Namespace: "store", Name: "api-1"}},
	{"capture/client-allow-any", captureMesh, model.NamespacedName{Namespace: "store", Name: "client"}},
	{"capture/client-registry-only", registryOnlyMesh, model.NamespacedName{Namespace: "store", Name: "client"}},
	{"capture/strict-passthrough", captureMesh, model.NamespacedName{Namespace: "vault", Name: "safe-1"}},
	{"capture/disable-passthrough", captureMesh, model.NamespacedName{Namespace: "legacy", Name: "old-1"}},
	{"capture/access-log-api", captureMeshLogged, model.NamespacedName{Namespace: "store", Name: "api-1"}},
	{"capture/access-log-client", captureMeshLogged, model.NamespacedName{Namespace: "store", Name: "client"}},
}

func TestCaptureGolden(t *testing.T) {
	for _, tc := range captureCases {
		t.Run(tc.file, func(t *testing.T) {
			got := render(t, translateIn(t, tc.mesh, tc.workload))
			path := filepath.Join("testdata", filepath.FromSlash(tc.file)+".golden.yaml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./controlplane/translate -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (rerun with -update and review the diff):\n%s", path, got)
			}
		})
	}
}
