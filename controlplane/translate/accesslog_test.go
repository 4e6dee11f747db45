package translate

import (
	"testing"

	accesslog "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"

	"github.com/weftmesh/weft/controlplane/model"
)

// webMeshLogged is webMesh with the control plane's --access-log on.
func webMeshLogged() *model.Mesh { return logged(webMesh)() }

// captureMeshLogged is captureMesh with the control plane's --access-log
// on: its Pods' TCP chains (service ports, pod IPs, passthrough) log.
func captureMeshLogged() *model.Mesh { return logged(captureMesh)() }

// logged is mesh with the control plane's --access-log on.
func logged(mesh func() *model.Mesh) func() *model.Mesh {
	return func() *model.Mesh {
		m := mesh()
		m.AccessLog = true
		return m
	}
}

// filterLogs counts the HTTP connection managers and tcp_proxies of res's
// listeners and, of each kind, those that log to stdout.
type filterLogs struct {
	managers, managersLogged int
	proxies, proxiesLogged   int
}

func countFilterLogs(t *testing.T, res Resources) filterLogs {
	t.Helper()
	stdout := func(logs []*accesslog.AccessLog) bool {
		return len(logs) == 1 && logs[0].GetName() == stdoutAccessLog
	}
	var c filterLogs
	for _, r := range res[resource.ListenerType] {
		for _, fc := range r.(*listener.Listener).GetFilterChains() {
			for _, f := range fc.GetFilters() {
				switch f.GetName() {
				case wellknown.HTTPConnectionManager:
					c.managers++
					if stdout(unpack[*hcm.HttpConnectionManager](t, f.GetTypedConfig()).GetAccessLog()) {
						c.managersLogged++
					}
				case wellknown.TCPProxy:
					c.proxies++
					if stdout(unpack[*tcpproxy.TcpProxy](t, f.GetTypedConfig()).GetAccessLog()) {
						c.proxiesLogged++
					}
				}
			}
		}
	}
	return c
}

// TestAccessLogSetting: with the mesh's AccessLog every HTTP connection
// manager and every tcp_proxy of every sidecar (standalone or Pod:
// inbound and outbound ports, pod-IP chains, passthrough) logs to
// stdout; without it none does.
func TestAccessLogSetting(t *testing.T) {
	meshes := map[string]func() *model.Mesh{
		"shop": shopMesh, "web": webMesh, "auto": autoMesh, "policy": policyMesh,
		"traffic": trafficMesh, "pod": podMesh, "capture": captureMesh,
	}
	var total filterLogs
	for name, mesh := range meshes {
		for _, w := range mesh().Workloads {
			if w.Proxyless || w.Gateway != nil {
				continue
			}
			for _, on := range []bool{false, true} {
				meshOn := mesh
				if on {
					meshOn = logged(mesh)
				}
				c := countFilterLogs(t, translateIn(t, meshOn, w.Key()))
				want := filterLogs{managers: c.managers, proxies: c.proxies}
				if on {
					want.managersLogged, want.proxiesLogged = c.managers, c.proxies
				}
				if c != want {
					t.Errorf("%s mesh, %s with AccessLog %v: %d of %d HTTP connection managers and %d of %d tcp_proxies log, want %d and %d",
						name, w.Key(), on, c.managersLogged, c.managers, c.proxiesLogged, c.proxies, want.managersLogged, want.proxiesLogged)
				}
				total.managers += c.managers
				total.proxies += c.proxies
			}
		}
	}
	if total.managers == 0 || total.proxies == 0 {
		t.Fatalf("%d HTTP connection managers and %d tcp_proxies checked: the meshes lost their filters", total.managers, total.proxies)
	}
}

// TestGatewayAlwaysLogs: a gateway's HTTP connection managers and its
// TLSRoute and TCPRoute tcp_proxies log whatever the mesh's AccessLog.
func TestGatewayAlwaysLogs(t *testing.T) {
	for _, key := range []model.NamespacedName{publicGateway, edgeGateway} {
		c := countFilterLogs(t, translateGateway(t, key))
		if c.managers == 0 || c.managersLogged != c.managers || c.proxiesLogged != c.proxies {
			t.Errorf("gateway %s: %d of %d HTTP connection managers and %d of %d tcp_proxies log, want all", key,
				c.managersLogged, c.managers, c.proxiesLogged, c.proxies)
		}
	}
	if c := countFilterLogs(t, translateGateway(t, publicGateway)); c.proxies == 0 {
		t.Error("the public gateway has no tcp_proxy to check")
	}
}
