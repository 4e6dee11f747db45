package translate

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
)

// conflictMesh holds PeerAuthentications that get in each other's way.
// Namespace c: w-1 (app=w, tier=a) serves 8080 and 9000, w-2 (app=w)
// serves 8080. Namespace empty has no workloads.
func conflictMesh() *model.Mesh {
	local := netip.MustParseAddr("127.0.0.1")
	m := &model.Mesh{
		TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local"),
		Workloads: []model.Workload{
			{
				Name: "w-1", Namespace: "c", ServiceAccount: "w", Labels: map[string]string{"app": "w", "tier": "a"},
				Address: netip.MustParseAddr("192.0.2.80"), LocalAddress: local,
				Ports: []model.WorkloadPort{{Port: 8080}, {Port: 9000}},
			},
			{
				Name: "w-2", Namespace: "c", ServiceAccount: "w", Labels: map[string]string{"app": "w"},
				Address: netip.MustParseAddr("192.0.2.81"), LocalAddress: local,
				Ports: []model.WorkloadPort{{Port: 8080}},
			},
		},
		Policies: model.Policies{PeerAuthentications: []v1alpha1.PeerAuthentication{
			peerAuth("c", "a-default", nil, v1alpha1.MTLSStrict),
			peerAuth("c", "b-default", nil, v1alpha1.MTLSDisable),
			peerAuth(v1alpha1.RootNamespace, "mesh-a", nil, v1alpha1.MTLSPermissive),
			peerAuth(v1alpha1.RootNamespace, "mesh-b", nil, v1alpha1.MTLSStrict),
			peerAuth("c", "sel-a", map[string]string{"app": "w"}, v1alpha1.MTLSStrict,
				v1alpha1.PortMutualTLS{Port: 9000, Mode: v1alpha1.MTLSDisable}),
			peerAuth("c", "sel-b", map[string]string{"tier": "a"}, v1alpha1.MTLSPermissive,
				v1alpha1.PortMutualTLS{Port: 9000, Mode: v1alpha1.MTLSStrict},
				v1alpha1.PortMutualTLS{Port: 7777, Mode: v1alpha1.MTLSDisable}),
			peerAuth("c", "unset-x", map[string]string{"app": "w"}, v1alpha1.MTLSUnset),
			peerAuth("c", "nobody", map[string]string{"app": "none"}, v1alpha1.MTLSStrict,
				v1alpha1.PortMutualTLS{Port: 1234, Mode: v1alpha1.MTLSDisable}),
			peerAuth("c", "ports-without-selector", nil, "",
				v1alpha1.PortMutualTLS{Port: 8080, Mode: v1alpha1.MTLSDisable}),
			peerAuth("empty", "x", nil, v1alpha1.MTLSStrict),
			peerAuth("empty", "y", nil, v1alpha1.MTLSStrict),
		}},
	}
	m.Sort()
	return m
}

func TestCheckPolicies(t *testing.T) {
	for _, tc := range []struct {
		name string
		mesh func() *model.Mesh
		want []string // Problem.String() and reason, sorted as Check sorts
	}{
		{
			name: "conflicts and port levels",
			mesh: conflictMesh,
			want: []string{
				"Conflicted: PeerAuthentication c/b-default: conflicts with c/a-default, which comes first by name and decides the namespace's default mode; this policy is ignored there",
				"NotApplicable: PeerAuthentication c/ports-without-selector: portLevelMtls needs a selector; it is ignored",
				"Conflicted: PeerAuthentication c/sel-b: conflicts with c/sel-a, which comes first by name and decides the mode of port 9000 of the workloads both select; this policy is ignored there",
				"Conflicted: PeerAuthentication c/sel-b: conflicts with c/sel-a, which comes first by name and decides the mode of the workloads both select; this policy is ignored there",
				"NotApplicable: PeerAuthentication c/sel-b: portLevelMtls port 7777: none of the 1 workloads the policy selects serves that port",
				"Conflicted: PeerAuthentication empty/y: conflicts with empty/x, which comes first by name and decides the namespace's default mode; this policy is ignored there",
				"Conflicted: PeerAuthentication weft-system/mesh-b: conflicts with weft-system/mesh-a, which comes first by name and decides the mesh-wide default mode; this policy is ignored there",
			},
		},
		{
			name: "policy mesh",
			mesh: policyMesh,
			want: []string{
				"NotApplicable: AuthorizationPolicy sec/api-allow: rules[0] on TCP port 9000: to[0].methods, to[0].paths cannot be evaluated; the rule is left out there (it matches nothing)",
				"NotApplicable: AuthorizationPolicy sec/api-allow: rules[2] on TCP port 9000: to[1].hosts cannot be evaluated; the to entries that name them are left out there (they match nothing)",
				"NotApplicable: AuthorizationPolicy sec/api-allow: rules[3] on TCP port 9000: to[0].notMethods, to[0].notPaths cannot be evaluated; the rule is left out there (it matches nothing)",
				"NotApplicable: AuthorizationPolicy sec/api-allow: rules[4] on TCP port 9000: when cannot be evaluated; the rule is left out there (it matches nothing)",
				// rules[1] names port 8080 only: nothing is lost on 9000.
				"NotApplicable: AuthorizationPolicy sec/api-deny: rules[0] on TCP port 9000: to[0].paths cannot be evaluated; they are ignored there, so the rule denies more",
				"NotApplicable: AuthorizationPolicy sec/db-allow: rules[1] on TCP port 5432: to[0].methods cannot be evaluated; the rule is left out there (it matches nothing)",
				"MixedMTLSModes: PeerAuthentication sec/pool-off: service sec/pool port 80: workload sec/pool-2 runs DISABLE on port 8080 and other endpoints do not; mesh clients keep mTLS and leave it out",
			},
		},
		{
			name: "no policies",
			mesh: shopMesh,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range Check(tc.mesh()) {
				if p.Kind == kindPeerAuthentication || p.Kind == kindAuthorizationPolicy {
					got = append(got, p.Reason+": "+p.String())
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Check reports\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestCheckReportsInvalidRules: a rule the translator cannot map makes
// Proxy fail for the workloads it covers, and Check says why.
func TestCheckReportsInvalidRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		ap   v1alpha1.AuthorizationPolicy
		want string
	}{
		{
			name: "malformed CIDR",
			ap: authzPolicy("sec", "bad", nil, v1alpha1.ActionAllow,
				v1alpha1.AuthorizationRule{From: []v1alpha1.Source{{IPBlocks: []string{"10.0.0.0/33"}}}}),
			want: `rules[0]: from[0]: ipBlocks: "10.0.0.0/33" is not an IP or a CIDR`,
		},
		{
			name: "path without a form",
			ap: authzPolicy("sec", "bad", nil, v1alpha1.ActionDeny,
				v1alpha1.AuthorizationRule{To: []v1alpha1.Operation{{Paths: []v1alpha1.PathMatch{{IgnoreCase: true}}}}}),
			want: "rules[0]: to[0]: paths: [0]: set exactly one of exact, prefix and suffix",
		},
		{
			name: "unknown action",
			ap:   authzPolicy("sec", "bad", nil, "LOG"),
			want: `authorization policy sec/bad: unknown action "LOG"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mesh := func() *model.Mesh {
				m := policyMesh()
				m.Policies.AuthorizationPolicies = append(m.Policies.AuthorizationPolicies, tc.ap)
				m.Sort()
				return m
			}
			var got []string
			for _, p := range Check(mesh()) {
				if p.Name == "bad" && p.Reason == "Invalid" {
					got = append(got, p.Message)
				}
			}
			if len(got) != 1 || !strings.HasPrefix(got[0], tc.want) {
				t.Errorf("Check reports %q as Invalid, want %q", got, tc.want)
			}
			m := mesh()
			if _, err := Proxy(m, m.Workload(model.NamespacedName{Namespace: "sec", Name: "api-1"})); err == nil || !strings.Contains(err.Error(), "sec/bad") {
				t.Errorf("Proxy error %v, want one naming sec/bad", err)
			}
		})
	}
}
