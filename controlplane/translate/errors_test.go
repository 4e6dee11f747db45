package translate

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/model"
)

func TestProxyRejectsImpossibleInput(t *testing.T) {
	backend := model.NamespacedName{Namespace: "shop", Name: "backend"}
	for _, tc := range []struct {
		name   string
		edit   func(m *model.Mesh, w *model.Workload)
		errHas string
	}{
		{
			name:   "no trust domain",
			edit:   func(m *model.Mesh, _ *model.Workload) { m.TrustDomain = spiffeid.TrustDomain{} },
			errHas: "no trust domain",
		},
		{
			name:   "no service account",
			edit:   func(_ *model.Mesh, w *model.Workload) { w.ServiceAccount = "" },
			errHas: "identity",
		},
		{
			name:   "service account SPIFFE forbids",
			edit:   func(_ *model.Mesh, w *model.Workload) { w.ServiceAccount = "front end" },
			errHas: "identity",
		},
		{
			name:   "ports without address",
			edit:   func(_ *model.Mesh, w *model.Workload) { w.Address = netip.Addr{} },
			errHas: "no address",
		},
		{
			name:   "outbound without local address",
			edit:   func(_ *model.Mesh, w *model.Workload) { w.Ports = nil; w.LocalAddress = netip.Addr{} },
			errHas: "no local address",
		},
		{
			name:   "port zero",
			edit:   func(_ *model.Mesh, w *model.Workload) { w.Ports[0].Port = 0 },
			errHas: "port 0: port must be within 1-65535",
		},
		{
			name:   "port too large",
			edit:   func(_ *model.Mesh, w *model.Workload) { w.Ports[0].Port = 65536 },
			errHas: "port 65536: port must be within 1-65535",
		},
		{
			name:   "target port too large",
			edit:   func(_ *model.Mesh, w *model.Workload) { w.Ports[0].TargetPort = 70000 },
			errHas: "target port 70000",
		},
		{
			name:   "outbound port zero",
			edit:   func(_ *model.Mesh, w *model.Workload) { w.Outbound[0].Port = 0 },
			errHas: "outbound shop/backend port 0",
		},
		{
			name:   "outbound local port too large",
			edit:   func(_ *model.Mesh, w *model.Workload) { w.Outbound[0].LocalPort = 99999 },
			errHas: "local port 99999",
		},
		{
			name:   "outbound service without namespace",
			edit:   func(_ *model.Mesh, w *model.Workload) { w.Outbound[0].Service.Namespace = "" },
			errHas: "needs a name and a namespace",
		},
		{
			name: "port listed twice",
			edit: func(_ *model.Mesh, w *model.Workload) {
				w.Ports = append(w.Ports, model.WorkloadPort{Port: 8080, TargetPort: 4000})
			},
			errHas: `two listener resources named "inbound|8080"`,
		},
		{
			name: "outbound listed twice",
			edit: func(_ *model.Mesh, w *model.Workload) {
				w.Outbound = append(w.Outbound, model.Outbound{Service: backend, Port: 80, LocalPort: 8090})
			},
			errHas: `two listener resources named "outbound|backend.shop|80"`,
		},
		{
			name: "two outbound listeners on one local port",
			edit: func(_ *model.Mesh, w *model.Workload) {
				w.Outbound = append(w.Outbound, model.Outbound{Service: backend, Port: 9090, LocalPort: 8081})
			},
			errHas: `listeners "outbound|backend.shop|80" and "outbound|backend.shop|9090" both bind 127.0.0.1:8081`,
		},
		{
			name: "inbound and outbound on one address",
			edit: func(_ *model.Mesh, w *model.Workload) {
				w.Address = w.LocalAddress
				w.Outbound[0].LocalPort = 8080
			},
			errHas: "both bind 127.0.0.1:8080",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := shopMesh()
			w := m.Workload(model.NamespacedName{Namespace: "shop", Name: "frontend"})
			tc.edit(m, w)
			res, err := Proxy(m, w)
			if err == nil {
				t.Fatalf("Proxy succeeded with %d types, want an error containing %q", len(res), tc.errHas)
			}
			if !strings.Contains(err.Error(), tc.errHas) || !strings.Contains(err.Error(), "workload shop/frontend") {
				t.Errorf("error %q, want it to name the workload and contain %q", err, tc.errHas)
			}
		})
	}
}

func TestProxyNil(t *testing.T) {
	m := shopMesh()
	if _, err := Proxy(nil, &m.Workloads[0]); err == nil {
		t.Error("Proxy accepted a nil mesh")
	}
	if _, err := Proxy(m, nil); err == nil {
		t.Error("Proxy accepted a nil workload")
	}
}

// A workload need not be listed in the mesh to be translated, and IPv6
// addresses are bound as they are.
func TestProxyUnlistedIPv6Workload(t *testing.T) {
	m := shopMesh()
	w := &model.Workload{
		Name: "v6", Namespace: "shop", ServiceAccount: "v6",
		Address: netip.MustParseAddr("2001:db8::1"), LocalAddress: netip.MustParseAddr("::1"),
		Ports: []model.WorkloadPort{{Port: 8080}},
	}
	res, err := Proxy(m, w)
	if err != nil {
		t.Fatal(err)
	}
	if got := render(t, res); !strings.Contains(string(got), "address: 2001:db8::1") || !strings.Contains(string(got), "address: ::1") {
		t.Errorf("rendered resources lack the IPv6 addresses:\n%s", got)
	}
}
