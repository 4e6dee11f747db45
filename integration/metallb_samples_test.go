package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	sigsjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"
)

// The MetalLB samples are applied by users as they are, to a cluster this
// repository cannot reach, so they are checked here against the MetalLB
// CRD fields they use (decoded strictly: a misspelt field fails), and
// against the documentation ranges that samples may name.

type metallbObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec metallbSpec `json:"spec"`
}

// metallbSpec is the union of the fields of IPAddressPool, L2Advertisement,
// BGPAdvertisement (metallb.io/v1beta1) and BGPPeer (v1beta2) that the
// samples may use.
type metallbSpec struct {
	Addresses         []string `json:"addresses,omitempty"`
	AutoAssign        *bool    `json:"autoAssign,omitempty"`
	AvoidBuggyIPs     bool     `json:"avoidBuggyIPs,omitempty"`
	IPAddressPools    []string `json:"ipAddressPools,omitempty"`
	Interfaces        []string `json:"interfaces,omitempty"`
	AggregationLength *int32   `json:"aggregationLength,omitempty"`
	Peers             []string `json:"peers,omitempty"`
	MyASN             uint32   `json:"myASN,omitempty"`
	PeerASN           uint32   `json:"peerASN,omitempty"`
	PeerAddress       string   `json:"peerAddress,omitempty"`
	PeerPort          uint16   `json:"peerPort,omitempty"`
}

var sampleRanges = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.18.0.0/15")}

func inSampleRanges(a netip.Addr) bool {
	return slices.ContainsFunc(sampleRanges, func(p netip.Prefix) bool { return p.Contains(a) })
}

// readMetalLB decodes every document of a sample file strictly.
func readMetalLB(t *testing.T, path string) []metallbObject {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var objs []metallbObject
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: document %d: %v", path, i, err)
		}
		y, err := yaml.Marshal(&n)
		if err != nil {
			t.Fatal(err)
		}
		j, err := sigsyaml.YAMLToJSON(y)
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, i, err)
		}
		var o metallbObject
		strict, err := sigsjson.UnmarshalStrict(j, &o)
		if err = errors.Join(append(strict, err)...); err != nil {
			t.Fatalf("%s: document %d does not decode as MetalLB would: %v", path, i, err)
		}
		objs = append(objs, o)
	}
	return objs
}

// checkPoolAddress checks one IPAddressPool entry: a CIDR or a range
// "first-last", inside the documentation ranges.
func checkPoolAddress(s string) error {
	if first, last, ok := strings.Cut(s, "-"); ok {
		a, err := netip.ParseAddr(strings.TrimSpace(first))
		if err != nil {
			return fmt.Errorf("range %q: %w", s, err)
		}
		b, err := netip.ParseAddr(strings.TrimSpace(last))
		if err != nil {
			return fmt.Errorf("range %q: %w", s, err)
		}
		if b.Less(a) {
			return fmt.Errorf("range %q ends before it starts", s)
		}
		if !inSampleRanges(a) || !inSampleRanges(b) {
			return fmt.Errorf("range %q is outside 192.0.2.0/24 and 198.18.0.0/15", s)
		}
		return nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("%q is neither a CIDR nor a range: %w", s, err)
	}
	if p.Masked() != p {
		return fmt.Errorf("CIDR %q has host bits set", s)
	}
	if !slices.ContainsFunc(sampleRanges, func(r netip.Prefix) bool { return r.Bits() <= p.Bits() && r.Contains(p.Addr()) }) {
		return fmt.Errorf("CIDR %q is outside 192.0.2.0/24 and 198.18.0.0/15", s)
	}
	return nil
}

func TestMetalLBSamples(t *testing.T) {
	tests := []struct {
		file  string
		kinds []string // apiVersion kind, in file order
	}{
		{"l2.yaml", []string{"metallb.io/v1beta1 IPAddressPool", "metallb.io/v1beta1 L2Advertisement"}},
		{"bgp.yaml", []string{"metallb.io/v1beta1 IPAddressPool", "metallb.io/v1beta2 BGPPeer", "metallb.io/v1beta1 BGPAdvertisement"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			objs := readMetalLB(t, "../install/samples/metallb/"+tt.file)
			var kinds []string
			pools := map[string]bool{}
			for _, o := range objs {
				kinds = append(kinds, o.APIVersion+" "+o.Kind)
				if o.Metadata.Name == "" || o.Metadata.Namespace != "metallb-system" {
					t.Errorf("%s %q: MetalLB reads its objects by name from metallb-system, got namespace %q",
						o.Kind, o.Metadata.Name, o.Metadata.Namespace)
				}
				if o.Kind == "IPAddressPool" {
					pools[o.Metadata.Name] = true
				}
			}
			if !slices.Equal(kinds, tt.kinds) {
				t.Fatalf("documents are %v, want %v (docs/gateway.md describes these)", kinds, tt.kinds)
			}
			for _, o := range objs {
				switch o.Kind {
				case "IPAddressPool":
					if len(o.Spec.Addresses) == 0 {
						t.Errorf("IPAddressPool %s has no addresses", o.Metadata.Name)
					}
					for _, a := range o.Spec.Addresses {
						if err := checkPoolAddress(a); err != nil {
							t.Errorf("IPAddressPool %s: %v", o.Metadata.Name, err)
						}
					}
				case "L2Advertisement", "BGPAdvertisement":
					if len(o.Spec.IPAddressPools) == 0 {
						t.Errorf("%s %s names no pool: it would announce every pool", o.Kind, o.Metadata.Name)
					}
					for _, p := range o.Spec.IPAddressPools {
						if !pools[p] {
							t.Errorf("%s %s names pool %q, which the file does not define", o.Kind, o.Metadata.Name, p)
						}
					}
				case "BGPPeer":
					for _, asn := range []uint32{o.Spec.MyASN, o.Spec.PeerASN} {
						if asn < 64512 || asn > 65534 {
							t.Errorf("BGPPeer %s: AS %d is not a private AS number (64512-65534)", o.Metadata.Name, asn)
						}
					}
					a, err := netip.ParseAddr(o.Spec.PeerAddress)
					if err != nil || !inSampleRanges(a) {
						t.Errorf("BGPPeer %s: peerAddress %q must be an address of 192.0.2.0/24 or 198.18.0.0/15", o.Metadata.Name, o.Spec.PeerAddress)
					}
				}
			}
		})
	}
}

func TestCheckPoolAddress(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"192.0.2.240-192.0.2.250", ""},
		{"198.18.100.0/28", ""},
		{"10.0.0.1-10.0.0.9", "outside"},
		{"192.0.2.0/16", "host bits"},
		{"192.0.0.0/16", "outside"},
		{"192.0.2.250-192.0.2.240", "ends before"},
		{"192.0.2.x", "neither a CIDR"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			err := checkPoolAddress(tt.in)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkPoolAddress(%q) = %v, want %q", tt.in, err, tt.wantErr)
			}
		})
	}
}
