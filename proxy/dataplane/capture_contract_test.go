package dataplane

import (
	"encoding/json"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"sigs.k8s.io/yaml"
)

// TestCaptureGoldenFilesServeAsPromised reads the translator's capture
// goldens (controlplane/translate/testdata/capture, docs/capture.md
// "Original destination") as this proxy parses them, and checks where a
// redirected connection ends up: which listener virtualOutbound hands an
// original destination to, and which chain of virtualInbound a connection
// to a port takes, by transport and sniffed protocol. TestTranslator-
// GoldenFilesAreAccepted checks that they parse; this checks what they
// mean to the proxy. Only the files are read, no control-plane code.
func TestCaptureGoldenFilesServeAsPromised(t *testing.T) {
	const (
		tls  = "tls"
		raw  = "raw_buffer"
		h1   = "http/1.1"
		none = ""
	)
	type inboundCase struct {
		port      uint16
		transport string // what the TLS inspector reports
		protocol  string // what the HTTP inspector reports
		// want is the chain's tcp_proxy cluster, "http" for an HTTP
		// connection manager, or "" when no chain takes the connection
		// (closed).
		want    string
		wantTLS bool // the chain terminates mTLS
	}
	tests := []struct {
		file string
		// outbound maps original destinations to the listener that must
		// serve them, or to "chain:<cluster>", virtualOutbound's own chain
		// to that cluster.
		outbound map[string]string
		// passthrough is the cluster of virtualOutbound's default chain.
		passthrough string
		inbound     []inboundCase
		// capturedPorts are virtualInbound's destination ports.
		capturedPorts []uint16
	}{
		{
			file: "api-ports",
			outbound: map[string]string{
				"198.18.10.1:80":       "outbound|api.store|80",
				"[2001:db8::a:1]:9000": "outbound|api.store|9000", // the dual-stack Service's other ClusterIP
				"198.18.10.2:5432":     "outbound|db.store|5432",
				"198.18.10.1:81":       "chain:PassthroughCluster", // a ClusterIP on a port the Service does not have
				"192.0.2.10:8080":      "chain:PassthroughCluster", // its own pod IP
			},
			passthrough:   "PassthroughCluster",
			capturedPorts: []uint16{7000, 8080, 9000, 9100},
			inbound: []inboundCase{
				{port: 8080, transport: tls, protocol: h1, want: "http", wantTLS: true}, // PERMISSIVE, HTTP
				{port: 8080, transport: raw, protocol: h1, want: "http"},
				{port: 9000, transport: tls, want: "inbound|9000", wantTLS: true}, // STRICT, TCP
				{port: 9000, transport: raw, want: "inbound|9000", wantTLS: true}, // plaintext fails the handshake
				{port: 7000, transport: raw, protocol: h1, want: "http"},          // DISABLE, sniffed
				{port: 7000, transport: raw, protocol: none, want: "inbound|7000"},
				{port: 9100, transport: tls, protocol: h1, want: "http", wantTLS: true}, // a Service's undeclared target port
				{port: 12345, transport: raw, want: "InboundPassthroughCluster"},        // PERMISSIVE: as is
				{port: 12345, transport: tls, want: "InboundPassthroughCluster"},
			},
		},
		{
			file: "strict-passthrough",
			outbound: map[string]string{
				"198.18.10.3:8443": "outbound|vault.vault|8443",
				"192.0.2.20:8443":  "chain:PassthroughCluster", // its own pod IP
			},
			passthrough:   "PassthroughCluster",
			capturedPorts: []uint16{8443},
			inbound: []inboundCase{
				{port: 8443, transport: tls, want: "inbound|8443", wantTLS: true},
				{port: 12345, transport: tls, want: "InboundPassthroughCluster", wantTLS: true},
				{port: 12345, transport: raw, want: ""}, // STRICT: plaintext to an undeclared port is closed
			},
		},
		{
			file:          "disable-passthrough",
			passthrough:   "PassthroughCluster",
			capturedPorts: []uint16{8443},
			inbound: []inboundCase{
				{port: 8443, want: "inbound|8443"},
				{port: 12345, want: "InboundPassthroughCluster"},
			},
		},
		{
			file: "client-registry-only",
			outbound: map[string]string{
				"198.18.10.3:8443": "outbound|vault.vault|8443",
				"203.0.113.7:443":  "chain:BlackHoleCluster",
				"192.0.2.10:8080":  "chain:outbound|pod||spiffe://cluster.local/ns/store/sa/api-1", // a meshed pod's IP: mTLS
				"192.0.2.20:8443":  "chain:outbound|pod||spiffe://cluster.local/ns/vault/sa/safe-1",
				"192.0.2.10:7000":  "chain:PassthroughCluster", // DISABLE on 7000: plaintext, in the registry
				"192.0.2.10:7001":  "chain:BlackHoleCluster",   // a port no Service targets
				"192.0.2.99:8080":  "chain:BlackHoleCluster",   // a pod port, another address
			},
			passthrough: "BlackHoleCluster",
			inbound:     []inboundCase{{port: 8080, want: "InboundPassthroughCluster"}},
		},
	}
	td := spiffeid.RequireTrustDomainFromString("cluster.local")
	d := New(Config{SVID: &x509svid.SVID{}, Bundle: x509bundle.New(td), TrustDomain: td})
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			ls, cs := readCaptureGolden(t, d, tt.file)
			byName := make(map[string]*listenerConfig, len(ls))
			for _, l := range ls {
				byName[l.name] = l
			}
			vo, vi := byName["virtualOutbound"], byName["virtualInbound"]
			if vo == nil || vi == nil {
				t.Fatalf("listeners %v lack virtualOutbound or virtualInbound", slices.Sorted(maps.Keys(byName)))
			}
			if !vo.useOriginalDst || vo.virtual || vo.direction != "outbound" {
				t.Errorf("virtualOutbound: use_original_dst %v, virtual %v, direction %q; want true, false, outbound", vo.useOriginalDst, vo.virtual, vo.direction)
			}
			if def := vo.destChains(netip.MustParseAddrPort("192.0.2.250:1")); len(def) != 1 || def[0].cluster != tt.passthrough {
				t.Errorf("virtualOutbound's default chain does not go to %s", tt.passthrough)
			}
			for _, name := range []string{"PassthroughCluster", "InboundPassthroughCluster"} {
				if c := cs[name]; c == nil || !c.originalDst {
					t.Errorf("cluster %s is missing or not ORIGINAL_DST", name)
				}
			}
			if cs["BlackHoleCluster"] == nil {
				t.Error("no BlackHoleCluster")
			}

			// virtualOutbound hands a connection to the virtual listener
			// holding its original destination, as admit does, else
			// takes it with the chain its port and address match.
			for dst, want := range tt.outbound {
				got := ""
				for _, l := range ls {
					if l.virtual && slices.Contains(l.addresses, dst) {
						if got != "" {
							t.Errorf("%s: claimed by %s and %s", dst, got, l.name)
						}
						got = l.name
					}
				}
				if chains := vo.destChains(netip.MustParseAddrPort(dst)); got == "" && len(chains) == 1 {
					got = "chain:" + chains[0].cluster
				}
				if got != want {
					t.Errorf("original destination %s: served by %q, want %q", dst, got, want)
				}
			}
			for _, l := range ls {
				if l.virtual && (l.useOriginalDst || l.restoreDst) {
					t.Errorf("virtual listener %s hands connections on", l.name)
				}
			}

			if !vi.restoreDst || vi.direction != "inbound" {
				t.Errorf("virtualInbound: original_dst %v, direction %q; want true, inbound", vi.restoreDst, vi.direction)
			}
			var ports []uint16
			for _, c := range vi.chains {
				if c.destPort != 0 {
					ports = append(ports, c.destPort)
				}
			}
			slices.Sort(ports)
			if got := slices.Compact(ports); !slices.Equal(got, tt.capturedPorts) {
				t.Errorf("virtualInbound destination ports %v, want %v", got, tt.capturedPorts)
			}
			for _, ic := range tt.inbound {
				transport := ic.transport
				if !vi.tlsInspect {
					transport = ""
				}
				protocol := ic.protocol
				if !vi.inspect {
					protocol = ""
				}
				c := chooseChain(groupOf(vi.portChains(ic.port), transport), protocol)
				got := ""
				switch {
				case c == nil:
				case c.http != nil:
					got = "http"
				default:
					got = c.cluster
				}
				if got != ic.want {
					t.Errorf("port %d %s %q: chain to %q, want %q", ic.port, ic.transport, ic.protocol, got, ic.want)
					continue
				}
				if c != nil && (c.tls != nil) != ic.wantTLS {
					t.Errorf("port %d %s %q: terminates mTLS %v, want %v", ic.port, ic.transport, ic.protocol, c.tls != nil, ic.wantTLS)
				}
			}
		})
	}
}

// readCaptureGolden parses the listeners and clusters of one golden file
// of testdata/capture as the proxy does.
func readCaptureGolden(t *testing.T, d *Dataplane, name string) ([]*listenerConfig, map[string]*clusterConfig) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("../../controlplane/translate/testdata/capture", name+".golden.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Listeners []json.RawMessage `json:"listeners"`
		Clusters  []json.RawMessage `json:"clusters"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	ls, err := d.parseListeners(unmarshalAll[*listenerv3.Listener](t, doc.Listeners))
	if err != nil {
		t.Fatalf("listeners refused: %v", err)
	}
	cs, err := d.parseClusters(unmarshalAll[*clusterv3.Cluster](t, doc.Clusters))
	if err != nil {
		t.Fatalf("clusters refused: %v", err)
	}
	return ls, cs
}
