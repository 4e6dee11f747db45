package bench

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/configdir"
)

// load reads yaml with the control plane's own loader.
func load(t *testing.T, yaml string) (services, workloads int, outbound map[string]int) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mesh.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := configdir.Load(dir, spiffeid.RequireTrustDomainFromString(trustDomain))
	if err != nil {
		t.Fatalf("the control plane refuses the generated configuration: %v\n%s", err, yaml)
	}
	outbound = map[string]int{}
	for _, w := range m.Workloads {
		outbound[w.Name] = len(w.Outbound)
		if w.BootstrapTokenSHA256 == "" {
			t.Errorf("workload %s has no bootstrap token digest", w.Name)
		}
	}
	return len(m.Services), len(m.Workloads), outbound
}

func sides() (MeshSide, MeshSide) {
	return MeshSide{Name: "client-1", ServiceAccount: "client", Address: netip.MustParseAddr("127.1.1.2"),
			LocalAddress: netip.MustParseAddr("127.1.1.2"), Token: "a"},
		MeshSide{Name: "server-1", ServiceAccount: "server", Address: netip.MustParseAddr("127.1.1.3"),
			LocalAddress: netip.MustParseAddr("127.1.1.10"), Token: "b"}
}

func TestMeshYAML(t *testing.T) {
	for _, proto := range []string{"tcp", "http"} {
		t.Run(proto, func(t *testing.T) {
			client, server := sides()
			yaml := MeshYAML(MeshSpec{
				Namespace: namespace, Service: "app", AppProtocol: proto,
				Ports:  []MeshPort{{"http", 9080, 18080, "http"}, {"grpc", 9082, 18082, "grpc"}},
				Client: client, Server: server,
			})
			services, workloads, outbound := load(t, yaml)
			if services != 1 || workloads != 2 {
				t.Errorf("%d services and %d workloads, want 1 and 2", services, workloads)
			}
			wantGRPC := map[string]string{"tcp": "appProtocol: tcp", "http": "appProtocol: grpc"}[proto]
			if !strings.Contains(yaml, wantGRPC) {
				t.Errorf("the gRPC port lacks %q:\n%s", wantGRPC, yaml)
			}
			if outbound["client-1"] != 2 || outbound["server-1"] != 0 {
				t.Errorf("outbound listeners %v, want 2 for the client, none for the server", outbound)
			}
		})
	}
}

func TestManyServicesYAML(t *testing.T) {
	client, server := sides()
	services, workloads, outbound := load(t, ManyServicesYAML(namespace, "tcp", 50, manyBasePort, client, server))
	if services != 50 || workloads != 51 {
		t.Errorf("%d services and %d workloads, want 50 and 51", services, workloads)
	}
	if outbound["client-1"] != 50 {
		t.Errorf("client has %d outbound listeners, want 50", outbound["client-1"])
	}
}
