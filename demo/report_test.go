package demo

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weftmesh/weft/controlplane/configdir"
	"github.com/weftmesh/weft/controlplane/model"
)

func goodReport() report {
	return report{
		layout: &layout{
			controlPlane: netip.MustParseAddr("127.1.1.1"),
			frontend:     netip.MustParseAddr("127.1.1.2"),
			backend:      netip.MustParseAddr("127.1.1.3"),
			gateway:      netip.MustParseAddr("127.1.1.4"),
			client:       netip.MustParseAddr("127.1.1.5"),
		},
		meshUp: 120 * time.Millisecond,
		traffic: trafficResult{
			sent: 3, succeeded: 3, connections: 1,
			roundTrips: []time.Duration{time.Millisecond, 2 * time.Millisecond},
			setups:     []time.Duration{3 * time.Millisecond},
		},
		edge:           gatewayResult{sent: 4, succeeded: 4, protos: map[string]int{"HTTP/2.0": 4}, plainOK: true},
		gatewayPeers:   map[string]float64{identity(gatewaySA): 1},
		outboundPeers:  map[string]float64{identity(backendSA): 2},
		inboundPeers:   map[string]float64{identity(frontendSA): 2},
		handshakeFails: 1,
	}
}

func TestReportChecks(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*report)
		wantErr string // empty: every check holds
	}{
		{"all good", func(*report) {}, ""},
		{"a request failed", func(r *report) {
			r.traffic.succeeded = 2
			r.traffic.firstErr = errors.New("connection reset")
		}, "1 of 3 requests failed; first error: connection reset"},
		{"no traffic at all", func(r *report) { r.traffic = trafficResult{} }, "requests failed"},
		{"frontend verified the wrong server", func(r *report) {
			r.outboundPeers = map[string]float64{"spiffe://cluster.local/ns/demo/sa/impostor": 2}
		}, "frontend sidecar should have verified only spiffe://cluster.local/ns/demo/sa/backend"},
		{"backend saw an unverified peer too", func(r *report) {
			r.inboundPeers[""] = 1
		}, "backend sidecar should have verified only spiffe://cluster.local/ns/demo/sa/frontend"},
		{"a request through the gateway failed", func(r *report) {
			r.edge.succeeded = 3
			r.edge.firstErr = errors.New(`the backend saw X-Forwarded-For "198.18.0.66, 127.1.1.5"`)
		}, "through the gateway, 1 of 4 HTTPS requests failed (HTTP listener ok: true); first error: the backend saw X-Forwarded-For"},
		{"the gateway's HTTP listener failed", func(r *report) {
			r.edge.plainOK = false
			r.edge.firstErr = errors.New("over the HTTP listener: the gateway answered 404 Not Found")
		}, "HTTP listener ok: false"},
		{"nothing went through the gateway", func(r *report) { r.edge = gatewayResult{} }, "HTTPS requests failed"},
		{"the backend did not see the gateway's identity", func(r *report) {
			r.gatewayPeers = map[string]float64{identity(frontendSA): 1}
		}, "backend sidecar should have verified only the gateway's spiffe://cluster.local/ns/demo/sa/edge-weft"},
		{"plaintext answered", func(r *report) {
			r.plaintextErr = errors.New("the mesh port answered plaintext with 5 bytes")
		}, "plaintext to the backend's mesh port was not refused"},
		{"refusal not counted", func(r *report) { r.handshakeFails = 0 }, "counted no failed handshake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := goodReport()
			tt.mutate(&r)
			var out bytes.Buffer
			failed := r.write(&out)
			if tt.wantErr == "" {
				if len(failed) > 0 {
					t.Fatalf("checks failed: %v\n%s", failed, out.String())
				}
				if !strings.Contains(out.String(), "PASS: every check held.") {
					t.Errorf("report lacks the PASS line:\n%s", out.String())
				}
				return
			}
			if len(failed) != 1 || !strings.Contains(failed[0].Error(), tt.wantErr) {
				t.Fatalf("failed checks %v, want one containing %q", failed, tt.wantErr)
			}
			if !strings.Contains(out.String(), "FAIL: 1 check(s) did not hold") {
				t.Errorf("report does not say it failed:\n%s", out.String())
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	var samples []time.Duration
	for i := 1; i <= 100; i++ {
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {90, 90 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}} {
		if got := percentile(samples, tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of nothing = %v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := Default()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--bin-dir is required") {
		t.Fatalf("Validate() = %v, want the missing --bin-dir named", err)
	}
	cfg.BinDir, cfg.Out, cfg.Connections = "bin", &bytes.Buffer{}, 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--connections") {
		t.Fatalf("Validate() = %v, want --connections named", err)
	}
}

func TestRunFailsClearlyWithoutBinaries(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // the failed run keeps its directory
	cfg := Default()
	cfg.BinDir = t.TempDir()
	var out bytes.Buffer
	cfg.Out = &out
	err := Run(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "starting weft-controlplane") {
		t.Fatalf("Run() = %v, want an error about starting weft-controlplane", err)
	}
}

func TestCheckSeen(t *testing.T) {
	const client = "127.1.1.5"
	good := seen{Backend: backendName, Path: "/orders/1", ForwardedFor: client, ForwardedProto: "https", RequestID: "r-1"}
	tests := []struct {
		name    string
		mutate  func(*seen)
		wantErr string // empty: the gateway did its job
	}{
		{"as the gateway should", func(*seen) {}, ""},
		{"another backend", func(s *seen) { s.Backend = "frontend-1" }, `answered by "frontend-1"`},
		{"forged X-Forwarded-For kept", func(s *seen) { s.ForwardedFor = forgedForwardedFor + ", " + client },
			`X-Forwarded-For "198.18.0.66, 127.1.1.5", want only the client's address 127.1.1.5`},
		{"no X-Forwarded-For", func(s *seen) { s.ForwardedFor = "" }, "want only the client's address"},
		{"wrong X-Forwarded-Proto", func(s *seen) { s.ForwardedProto = "http" }, `X-Forwarded-Proto "http", want https`},
		{"no request ID", func(s *seen) { s.RequestID = "" }, "no X-Request-Id"},
		{"forged client cert passed", func(s *seen) { s.ClientCert = forgedClientCert }, "forged x-forwarded-client-cert reached the backend"},
		{"mesh header passed", func(s *seen) { s.WeftHeaders = 1 }, "x-weft-* header(s) reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			tt.mutate(&s)
			err := checkSeen(s, "/orders/1", client, "https")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("checkSeen() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("checkSeen() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestGatewayConfigLoads: the objects the demo writes are what standalone
// mode accepts, and the gateway's certificate is the one the client trusts.
func TestGatewayConfigLoads(t *testing.T) {
	l, err := newLayout(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.write(); err != nil {
		t.Fatal(err)
	}
	mesh, err := configdir.Load(l.configDir(), spiffeid.RequireTrustDomainFromString(trustDomain))
	if err != nil {
		t.Fatalf("the demo's configuration does not load:\n%v", err)
	}
	gw := mesh.Ingress.Gateway(model.NamespacedName{Namespace: demoNamespace, Name: gatewayObject})
	if gw == nil || len(gw.Spec.Listeners) != 2 {
		t.Fatalf("Gateway %s/%s = %v, want one with two listeners", demoNamespace, gatewayObject, gw)
	}
	w := mesh.Workload(model.NamespacedName{Namespace: demoNamespace, Name: gatewayName})
	if w == nil || w.Gateway == nil || w.Gateway.Name != gatewayObject || w.Address != l.gateway {
		t.Fatalf("gateway workload = %+v, want one serving %s at %s", w, gatewayObject, l.gateway)
	}
	secret := mesh.Ingress.Secret(model.NamespacedName{Namespace: demoNamespace, Name: gatewayCertRef})
	if secret == nil || !bytes.Equal(secret.Cert, l.gatewayCert) {
		t.Fatalf("Secret %s = %v, want the certificate the client trusts", gatewayCertRef, secret)
	}
	pair, err := tls.X509KeyPair(secret.Cert, secret.PrivateKey)
	if err != nil {
		t.Fatalf("the Secret's certificate and key: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(l.gatewayCert)
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: gatewayHost}); err != nil {
		t.Errorf("the client would not trust the gateway's certificate for %s: %v", gatewayHost, err)
	}
	if len(mesh.Policies.HTTPRoutes) != 1 {
		t.Errorf("HTTPRoutes = %d, want the one to the backend", len(mesh.Policies.HTTPRoutes))
	}
}
