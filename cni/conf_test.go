package cni

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/weftmesh/weft/injector"
	"github.com/weftmesh/weft/proxy/capture"
)

func TestParseConf(t *testing.T) {
	tests := []struct {
		name    string
		stdin   string
		wantErr string
		prev    bool
	}{
		{name: "chained", prev: true, stdin: `{"cniVersion": "1.0.0", "name": "k8s", "type": "weft-cni", "kubeconfig": "/k",
			"prevResult": {"cniVersion": "1.0.0", "ips": [{"address": "198.18.0.2/24"}]}}`},
		{name: "no prevResult (DEL, STATUS)", stdin: `{"cniVersion": "1.0.0", "name": "k8s", "type": "weft-cni", "kubeconfig": "/k"}`},
		{name: "no kubeconfig", stdin: `{"cniVersion": "1.0.0", "name": "k8s", "type": "weft-cni"}`, wantErr: "kubeconfig is required"},
		{name: "not JSON", stdin: `kubeconfig: /k`, wantErr: "weft-cni configuration: invalid character"},
		{name: "bad prevResult", stdin: `{"cniVersion": "1.0.0", "name": "k8s", "type": "weft-cni", "kubeconfig": "/k", "prevResult": {"ips": "x"}}`,
			wantErr: "prevResult"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf, err := parseConf([]byte(tt.stdin))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseConf: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if conf.Kubeconfig != "/k" || (conf.PrevResult != nil) != tt.prev {
				t.Errorf("parseConf: kubeconfig %q, prevResult %v; want /k and prevResult %t", conf.Kubeconfig, conf.PrevResult, tt.prev)
			}
		})
	}
}

func TestPodRef(t *testing.T) {
	tests := []struct {
		args            string
		namespace, name string
		ok              bool
		wantErr         bool
	}{
		{args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc", namespace: "shop", name: "web-0", ok: true},
		{args: "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0", namespace: "shop", name: "web-0", ok: true},
		{args: ""},
		{args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop", namespace: "shop"},
		{args: "IgnoreUnknown=1;SOMETHING=else"},
		{args: "SOMETHING=else", wantErr: true}, // unknown key without IgnoreUnknown
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			namespace, name, ok, err := podRef(tt.args)
			if (err != nil) != tt.wantErr || namespace != tt.namespace || name != tt.name || ok != tt.ok {
				t.Errorf("podRef(%q) = %q, %q, %t, %v; want %q, %q, %t, error %t", tt.args, namespace, name, ok, err, tt.namespace, tt.name, tt.ok, tt.wantErr)
			}
		})
	}
}

// The annotations of a pod become the rules weft-cni installs, the same
// exclusions the weft-init container's flags carry.
func TestCaptureConfigFollowsAnnotations(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		change      func(*capture.Config)
		wantErr     string
	}{
		{name: "none", change: func(*capture.Config) {}},
		{
			name: "all three",
			annotations: map[string]string{
				injector.AnnotationExcludeInboundPorts:  "9100, 15020,9100",
				injector.AnnotationExcludeOutboundPorts: "5432,6379",
				injector.AnnotationExcludeOutboundCIDRs: "192.0.2.0/24,2001:db8::1/32",
			},
			change: func(c *capture.Config) {
				c.ExcludeInboundPorts = []uint16{15020, 9100}
				c.ExcludeOutboundPorts = []uint16{5432, 6379}
				c.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32")}
			},
		},
		{name: "bad port", annotations: map[string]string{injector.AnnotationExcludeInboundPorts: "70000"},
			wantErr: `annotation weft.dev/exclude-inbound-ports: "70000": "70000" is not a port (1-65535)`},
		{name: "bad CIDR", annotations: map[string]string{injector.AnnotationExcludeOutboundCIDRs: "10.0.0.0/33"},
			wantErr: `annotation weft.dev/exclude-outbound-cidrs: "10.0.0.0/33": "10.0.0.0/33" is not a CIDR`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := captureConfig(tt.annotations)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !injector.IsAnnotationError(err) {
					t.Fatalf("captureConfig: %v, want the AnnotationError %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := capture.Default()
			want.ExcludeInboundPorts = []uint16{capture.StatusPort}
			tt.change(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("captureConfig = %+v, want %+v", got, want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("captureConfig gave an invalid capture.Config: %v", err)
			}
		})
	}
}
