package dataplane

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"
)

// TestTranslatorGoldenFilesAreAccepted validates every resource in the
// translator's golden files, the control plane's side of docs/xds.md: what
// it emits, the dataplane must accept. Only the files are read; no code of
// the control plane is imported. The proxyless goldens are for grpc-go's
// xDS client, not for this proxy (translate checks them against grpc-go's
// requirements).
func TestTranslatorGoldenFilesAreAccepted(t *testing.T) {
	var files []string
	for _, pattern := range []string{"*.golden.yaml", "*/*.golden.yaml"} {
		matches, err := filepath.Glob(filepath.Join("../../controlplane/translate/testdata", pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range matches {
			if filepath.Base(filepath.Dir(m)) != "proxyless" {
				files = append(files, m)
			}
		}
	}
	if len(files) == 0 {
		t.Fatal("no golden files of the translator found")
	}
	td := spiffeid.RequireTrustDomainFromString("cluster.local")
	// Validation needs sources to exist; it never calls them.
	d := New(Config{SVID: &x509svid.SVID{}, Bundle: x509bundle.New(td), TrustDomain: td})
	for _, f := range files {
		name, _ := filepath.Rel("../../controlplane/translate/testdata", f)
		t.Run(name, func(t *testing.T) {
			var doc struct {
				Routes    []json.RawMessage `json:"routes"`
				Listeners []json.RawMessage `json:"listeners"`
				Clusters  []json.RawMessage `json:"clusters"`
				Endpoints []json.RawMessage `json:"endpoints"`
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			js, err := yaml.YAMLToJSON(raw)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(js, &doc); err != nil {
				t.Fatal(err)
			}
			if _, err := d.parseListeners(unmarshalAll[*listenerv3.Listener](t, doc.Listeners)); err != nil {
				t.Error(err)
			}
			if _, err := d.parseClusters(unmarshalAll[*clusterv3.Cluster](t, doc.Clusters)); err != nil {
				t.Error(err)
			}
			if _, err := parseRoutes(unmarshalAll[*routev3.RouteConfiguration](t, doc.Routes)); err != nil {
				t.Error(err)
			}
			if _, err := parseAssignments(unmarshalAll[*endpointv3.ClusterLoadAssignment](t, doc.Endpoints)); err != nil {
				t.Error(err)
			}
		})
	}
}

func unmarshalAll[M proto.Message](t *testing.T, raws []json.RawMessage) []M {
	t.Helper()
	out := make([]M, 0, len(raws))
	for _, r := range raws {
		var m M
		m = m.ProtoReflect().Type().New().Interface().(M)
		if err := protojson.Unmarshal(r, m); err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		out = append(out, m)
	}
	return out
}
