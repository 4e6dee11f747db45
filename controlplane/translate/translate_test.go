package translate

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/weftmesh/weft/controlplane/model"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// renderOrder lists the types of Resources in the order golden files show
// them. Routes are shown only when there are some, so that the TCP golden
// files (which the proxy's contract test reads) keep their shape.
var renderOrder = []struct {
	typ resource.Type
	key string
}{
	{resource.ListenerType, "listeners"},
	{resource.RouteType, "routes"},
	{resource.ClusterType, "clusters"},
	{resource.EndpointType, "endpoints"},
}

func TestProxyGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.file, func(t *testing.T) {
			got := render(t, translateIn(t, tc.mesh, tc.workload))
			path := filepath.Join("testdata", filepath.FromSlash(tc.file)+".golden.yaml")
			if *update {
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

func TestProxySnapshotConsistent(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.file, func(t *testing.T) {
			res := translateIn(t, tc.mesh, tc.workload)
			for _, typ := range []resource.Type{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType} {
				if _, ok := res[typ]; !ok {
					t.Errorf("resources lack type %s", typ)
				}
			}
			if len(res) != 4 {
				t.Errorf("resources hold %d types, want 4", len(res))
			}
			snap, err := cache.NewSnapshot("1", res)
			if err != nil {
				t.Fatalf("NewSnapshot: %v", err)
			}
			if err := snap.Consistent(); err != nil {
				t.Errorf("Consistent: %v", err)
			}
		})
	}
}

// TestConsistentCatchesMissingAssignment shows that the consistency check
// above can fail: an EDS cluster without its assignment is inconsistent.
func TestConsistentCatchesMissingAssignment(t *testing.T) {
	res := translateCase(t, model.NamespacedName{Namespace: "shop", Name: "frontend"})
	res[resource.EndpointType] = nil
	snap, err := cache.NewSnapshot("1", res)
	if err != nil {
		t.Fatalf("NewSnapshot: %v", err)
	}
	if err := snap.Consistent(); err == nil {
		t.Error("Consistent accepted an EDS cluster without its assignment")
	}
}

func TestProxyDeterministic(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.file, func(t *testing.T) {
			first := marshalAll(t, translateIn(t, tc.mesh, tc.workload))
			for range 20 {
				if got := marshalAll(t, translateIn(t, tc.mesh, tc.workload)); !bytes.Equal(got, first) {
					t.Fatal("two translations of the same input differ")
				}
			}
		})
	}
}

func TestProxyDoesNotMutateMesh(t *testing.T) {
	m := shopMesh()
	w := m.Workload(model.NamespacedName{Namespace: "shop", Name: "frontend"})
	before, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Proxy(m, w); err != nil {
		t.Fatal(err)
	}
	after, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("Proxy changed the mesh")
	}
}

// translateCase translates one workload of shopMesh.
func translateCase(t *testing.T, key model.NamespacedName) Resources {
	t.Helper()
	return translateIn(t, shopMesh, key)
}

// translateIn translates one workload of the mesh that mesh builds.
func translateIn(t *testing.T, mesh func() *model.Mesh, key model.NamespacedName) Resources {
	t.Helper()
	m := mesh()
	w := m.Workload(key)
	if w == nil {
		t.Fatalf("no workload %s in the test mesh", key)
	}
	res, err := Proxy(m, w)
	if err != nil {
		t.Fatalf("Proxy: %v", err)
	}
	return res
}

// render shows resources as YAML, one top-level key per type in
// renderOrder, each resource as protojson with proto field names.
func render(t *testing.T, res Resources) []byte {
	t.Helper()
	opts := protojson.MarshalOptions{Multiline: true, Indent: "  ", UseProtoNames: true}
	var out bytes.Buffer
	for _, o := range renderOrder {
		if o.typ == resource.RouteType && len(res[o.typ]) == 0 {
			continue
		}
		items := []json.RawMessage{}
		for _, r := range res[o.typ] {
			b, err := opts.Marshal(r)
			if err != nil {
				t.Fatalf("protojson: %v", err)
			}
			items = append(items, b)
		}
		j, err := json.Marshal(map[string][]json.RawMessage{o.key: items})
		if err != nil {
			t.Fatal(err)
		}
		y, err := yaml.JSONToYAML(j)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(y)
	}
	return out.Bytes()
}

// marshalAll is the wire form of every resource, in order.
func marshalAll(t *testing.T, res Resources) []byte {
	t.Helper()
	var out []byte
	for _, o := range renderOrder {
		for _, r := range res[o.typ] {
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b...)
		}
	}
	return out
}

// names lists the resource names of one type, in order.
func names(rs []types.Resource) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, cache.GetResourceName(r))
	}
	return out
}
