package translate

import (
	"testing"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"

	"github.com/weftmesh/weft/controlplane/model"
)

// webMeshLogged is webMesh with the control plane's --access-log on.
func webMeshLogged() *model.Mesh {
	m := webMesh()
	m.AccessLog = true
	return m
}

// TestAccessLogSetting: with the mesh's AccessLog every HTTP connection
// manager of a sidecar, inbound and outbound, logs to stdout; without it
// none does.
func TestAccessLogSetting(t *testing.T) {
	for _, key := range []model.NamespacedName{{Namespace: "web", Name: "web-1"}, {Namespace: "web", Name: "client"}} {
		for _, mesh := range []func() *model.Mesh{webMesh, webMeshLogged} {
			on := mesh().AccessLog
			managers, logged := 0, 0
			for _, r := range translateIn(t, mesh, key)[resource.ListenerType] {
				for _, fc := range r.(*listener.Listener).GetFilterChains() {
					for _, f := range fc.GetFilters() {
						if f.GetName() != wellknown.HTTPConnectionManager {
							continue
						}
						var m hcm.HttpConnectionManager
						if err := f.GetTypedConfig().UnmarshalTo(&m); err != nil {
							t.Fatal(err)
						}
						managers++
						if len(m.GetAccessLog()) == 1 && m.GetAccessLog()[0].GetName() == stdoutAccessLog {
							logged++
						}
					}
				}
			}
			if managers == 0 {
				t.Fatalf("%s: no HTTP connection manager to check", key)
			}
			if want := map[bool]int{false: 0, true: managers}[on]; logged != want {
				t.Errorf("%s with AccessLog %v: %d of %d HTTP connection managers log, want %d", key, on, logged, managers, want)
			}
		}
	}
}
