package translate

import (
	"slices"
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspector "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// These tests check the "Peer authentication" section of docs/xds.md.

// wantPermissive checks that l has the PERMISSIVE shape (the TLS
// inspector first; every chain twice, mTLS then plaintext, named as the
// doc says) and returns l as it would be in STRICT mode, so that the
// checks of the STRICT shapes apply to it.
func wantPermissive(t *testing.T, l *listener.Listener) *listener.Listener {
	t.Helper()
	lf := l.GetListenerFilters()
	if len(lf) == 0 || lf[0].GetName() != "envoy.filters.listener.tls_inspector" {
		t.Fatalf("%s: listener filters %v, want the TLS inspector first", l.GetName(), lf)
	}
	unpack[*tlsinspector.TlsInspector](t, lf[0].GetTypedConfig())
	fcs := l.GetFilterChains()
	if len(fcs) == 0 || len(fcs)%2 != 0 {
		t.Fatalf("%s: %d filter chains, want each chain twice", l.GetName(), len(fcs))
	}
	half := len(fcs) / 2
	strict := proto.Clone(l).(*listener.Listener)
	strict.ListenerFilters = strict.GetListenerFilters()[1:]
	if len(strict.ListenerFilters) == 0 {
		strict.ListenerFilters = nil
	}
	strict.FilterChains = strict.GetFilterChains()[:half]
	for i, fc := range fcs[:half] {
		raw := fcs[half+i]
		kind := ""
		if half == 2 {
			kind = []string{"-http", "-tcp"}[i]
		}
		if fc.GetName() != "mtls"+kind || raw.GetName() != "plaintext"+kind {
			t.Errorf("%s: chains %d and %d named %q and %q, want %q and %q", l.GetName(), i, half+i,
				fc.GetName(), raw.GetName(), "mtls"+kind, "plaintext"+kind)
		}
		if got := fc.GetFilterChainMatch().GetTransportProtocol(); got != "tls" || fc.GetTransportSocket() == nil {
			t.Errorf("%s: chain %d matches %q with transport socket %v, want tls with mTLS", l.GetName(), i, got, fc.GetTransportSocket())
		}
		if got := raw.GetFilterChainMatch().GetTransportProtocol(); got != "raw_buffer" || raw.GetTransportSocket() != nil {
			t.Errorf("%s: chain %d matches %q with transport socket %v, want raw_buffer in plaintext", l.GetName(), half+i, got, raw.GetTransportSocket())
		}
		if !slices.Equal(fc.GetFilterChainMatch().GetApplicationProtocols(), raw.GetFilterChainMatch().GetApplicationProtocols()) ||
			len(fc.GetFilters()) != len(raw.GetFilters()) {
			t.Errorf("%s: the plaintext chain %d differs from its mTLS chain in more than transport", l.GetName(), half+i)
		}
		for j := range fc.GetFilters() {
			if j < len(raw.GetFilters()) && !proto.Equal(fc.GetFilters()[j], raw.GetFilters()[j]) {
				t.Errorf("%s: filter %d of chain %d differs between mTLS and plaintext", l.GetName(), j, i)
			}
		}
		s := strict.FilterChains[i]
		s.Name = ""
		s.FilterChainMatch.TransportProtocol = ""
		if len(s.GetFilterChainMatch().GetApplicationProtocols()) == 0 {
			s.FilterChainMatch = nil
		}
	}
	return strict
}

// chainShape is what a test expects of one inbound listener.
type chainShape struct {
	mode    v1alpha1.MTLSMode
	sniffed bool
}

func TestInboundMTLSModes(t *testing.T) {
	for _, tc := range []struct {
		workload string
		port     uint32
		want     chainShape
		why      string
	}{
		{"api-1", 8080, chainShape{mode: v1alpha1.MTLSPermissive}, "selector beats the mesh-wide STRICT"},
		{"api-1", 9000, chainShape{mode: v1alpha1.MTLSDisable}, "port-level DISABLE beats the selector"},
		{"api-1", 7000, chainShape{mode: v1alpha1.MTLSPermissive, sniffed: true}, "sniffed: four chains"},
		{"db-1", 5432, chainShape{mode: v1alpha1.MTLSStrict}, "mesh-wide default"},
		{"old-1", 8080, chainShape{mode: v1alpha1.MTLSDisable}, "namespace default beats the mesh-wide one"},
		{"pool-2", 8080, chainShape{mode: v1alpha1.MTLSDisable}, "selector in a namespace without default"},
	} {
		t.Run(tc.workload+"/"+itoa(tc.port), func(t *testing.T) {
			m := policyMesh()
			key := workloadKey(t, m, tc.workload)
			if got := m.MTLSMode(m.Workload(key), tc.port); got != tc.want.mode {
				t.Fatalf("model says %s, the case expects %s (%s)", got, tc.want.mode, tc.why)
			}
			res := translateIn(t, policyMesh, key)
			l := find[*listener.Listener](t, res[resource.ListenerType], InboundName(tc.port))
			wantChains := 1
			if tc.want.sniffed {
				wantChains = 2
			}
			switch tc.want.mode {
			case v1alpha1.MTLSPermissive:
				l = wantPermissive(t, l)
				fallthrough
			case v1alpha1.MTLSStrict:
				for i, fc := range l.GetFilterChains() {
					if fc.GetName() != "" {
						t.Errorf("STRICT chain %d is named %q", i, fc.GetName())
					}
					dtc := unpack[*tlsv3.DownstreamTlsContext](t, fc.GetTransportSocket().GetTypedConfig())
					if !dtc.GetRequireClientCertificate().GetValue() {
						t.Errorf("chain %d does not require a client certificate", i)
					}
				}
			case v1alpha1.MTLSDisable:
				for i, fc := range l.GetFilterChains() {
					if fc.GetTransportSocket() != nil || fc.GetName() != "" || fc.GetFilterChainMatch().GetTransportProtocol() != "" {
						t.Errorf("DISABLE chain %d: %v, want plaintext without transport match or name", i, fc)
					}
				}
			}
			if n := len(l.GetFilterChains()); n != wantChains {
				t.Fatalf("%d chains in the STRICT shape, want %d", n, wantChains)
			}
			for _, lf := range l.GetListenerFilters() {
				if lf.GetName() == "envoy.filters.listener.tls_inspector" {
					t.Errorf("%s listener carries the TLS inspector", tc.want.mode)
				}
			}
			if tc.want.sniffed {
				lf := l.GetListenerFilters()
				fcs := l.GetFilterChains()
				if len(lf) != 1 || lf[0].GetName() != "envoy.filters.listener.http_inspector" ||
					!slices.Equal(fcs[0].GetFilterChainMatch().GetApplicationProtocols(), sniffedHTTP) || fcs[1].GetFilterChainMatch() != nil {
					t.Errorf("sniffed port: listener filters %v, chain matches %v and %v", lf, fcs[0].GetFilterChainMatch(), fcs[1].GetFilterChainMatch())
				}
			}
		})
	}
}

// TestDefaultModeIsPermissive: a mesh without PeerAuthentications accepts
// plaintext beside mTLS, so that a mesh can be adopted gradually.
func TestDefaultModeIsPermissive(t *testing.T) {
	res := translateCase(t, model.NamespacedName{Namespace: "shop", Name: "backend"})
	for _, r := range res[resource.ListenerType] {
		wantPermissive(t, r.(*listener.Listener))
	}
}

func TestUpstreamFollowsServerMode(t *testing.T) {
	res := translateIn(t, policyMesh, model.NamespacedName{Namespace: "sec", Name: "client"})
	for _, tc := range []struct {
		svc       model.NamespacedName
		plaintext bool
		endpoints []string
		sans      []string
	}{
		{
			// Every endpoint runs DISABLE: plaintext, HTTP/2 (h2c) kept.
			svc: model.NamespacedName{Namespace: "legacy", Name: "old"}, plaintext: true,
			endpoints: []string{"192.0.2.75:8080"},
		},
		{
			svc:       model.NamespacedName{Namespace: "sec", Name: "api"},
			endpoints: []string{"192.0.2.70:8080"},
			sans:      []string{"spiffe://cluster.local/ns/sec/sa/api"},
		},
		{
			// pool-2 runs DISABLE: left out, with its identity.
			svc:       model.NamespacedName{Namespace: "sec", Name: "pool"},
			endpoints: []string{"192.0.2.72:8080"},
			sans:      []string{"spiffe://cluster.local/ns/sec/sa/pool"},
		},
	} {
		t.Run(tc.svc.String(), func(t *testing.T) {
			name := OutboundClusterName(tc.svc, 80)
			c := find[*cluster.Cluster](t, res[resource.ClusterType], name)
			if got := lbAddrs(find[*endpoint.ClusterLoadAssignment](t, res[resource.EndpointType], name)); !slices.Equal(got, tc.endpoints) {
				t.Errorf("endpoints %q, want %q", got, tc.endpoints)
			}
			if tc.plaintext {
				if c.GetTransportSocket() != nil {
					t.Errorf("cluster to DISABLE endpoints has transport socket %v", c.GetTransportSocket())
				}
				wantHTTP2Upstream(t, c, true)
				return
			}
			utc := unpack[*tlsv3.UpstreamTlsContext](t, c.GetTransportSocket().GetTypedConfig())
			var sans []string
			for _, m := range wantCommonTLS(t, utc.GetCommonTlsContext()) {
				sans = append(sans, m.GetMatcher().GetExact())
			}
			if !slices.Equal(sans, tc.sans) {
				t.Errorf("SANs %q, want %q", sans, tc.sans)
			}
		})
	}
}

// TestModeSourceAgreesWithModel pins modeSource, which Check uses to name
// the policy behind a mode, to model.Mesh.MTLSMode.
func TestModeSourceAgreesWithModel(t *testing.T) {
	for name, mesh := range map[string]func() *model.Mesh{"policy": policyMesh, "conflicts": conflictMesh, "shop": shopMesh} {
		t.Run(name, func(t *testing.T) {
			m := mesh()
			for i := range m.Workloads {
				w := &m.Workloads[i]
				for _, port := range []uint32{7000, 8080, 9000, 5432, 1} {
					want := m.MTLSMode(w, port)
					got := v1alpha1.MTLSPermissive
					if pa := modeSource(m, w, port); pa != nil {
						if pa.Spec.MTLS != nil {
							got = pa.Spec.MTLS.Mode
						}
						for _, pl := range pa.Spec.PortLevelMTLS {
							if uint32(pl.Port) == port && pl.Mode != v1alpha1.MTLSUnset {
								got = pl.Mode
							}
						}
					}
					if got != want {
						t.Errorf("%s port %d: modeSource gives %s, the model %s", w.Key(), port, got, want)
					}
				}
			}
		})
	}
}

func workloadKey(t *testing.T, m *model.Mesh, name string) model.NamespacedName {
	t.Helper()
	for _, w := range m.Workloads {
		if w.Name == name {
			return w.Key()
		}
	}
	t.Fatalf("no workload %q", name)
	return model.NamespacedName{}
}
