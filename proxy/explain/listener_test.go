package explain

import (
	"net/netip"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestChooseChain: the chain is chosen as Envoy (and the proxy,
// dataplane's destChains) chooses it: destination_port, then the most
// specific prefix_ranges holding the destination address, else the
// chains without prefix_ranges, then the transport protocol, with no
// going back once a step has narrowed the chains.
func TestChooseChain(t *testing.T) {
	match := func(port uint32, transport string, prefixes ...string) *listenerv3.FilterChainMatch {
		m := &listenerv3.FilterChainMatch{TransportProtocol: transport}
		if port != 0 {
			m.DestinationPort = wrapperspb.UInt32(port)
		}
		for _, s := range prefixes {
			p := netip.MustParsePrefix(s)
			m.PrefixRanges = append(m.PrefixRanges, &corev3.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))})
		}
		return m
	}
	l := &listenerv3.Listener{Name: "l", FilterChains: []*listenerv3.FilterChain{
		{Name: "port-80", FilterChainMatch: match(80, "")},
		{Name: "port-80-wide", FilterChainMatch: match(80, "", "10.0.0.0/8")},
		{Name: "port-80-tls", FilterChainMatch: match(80, "tls", "10.1.0.0/16")},
		{Name: "port-80-pods", FilterChainMatch: match(80, "", "192.0.2.99/32", "10.1.2.3/32")},
		{Name: "port-80-v6", FilterChainMatch: match(80, "", "2001:db8::/64")},
		// 10.9.1.2 is a host bit: the range holds 10.9.0.0/16.
		{Name: "any-port-net", FilterChainMatch: match(0, "", "10.9.1.2/16")},
		{Name: "default"},
	}}
	for _, tt := range []struct {
		dest, transport, want string
	}{
		{"10.1.2.3:80", "raw_buffer", "port-80-pods"},
		{"10.2.0.1:80", "raw_buffer", "port-80-wide"},
		{"10.1.9.9:80", "tls", "port-80-tls"},
		// The /16 chain holds the address but wants TLS: no going back
		// to the /8 chain or the port's chain without prefix_ranges.
		{"10.1.9.9:80", "raw_buffer", ""},
		{"192.0.2.1:80", "raw_buffer", "port-80"},
		{"[2001:db8::5]:80", "raw_buffer", "port-80-v6"},
		{"[2001:db8:1::5]:80", "raw_buffer", "port-80"},
		{"10.9.0.1:81", "raw_buffer", "any-port-net"},
		{"192.0.2.1:81", "raw_buffer", "default"},
	} {
		t.Run(tt.dest+" "+tt.transport, func(t *testing.T) {
			i, fc := chooseChain(l, netip.MustParseAddrPort(tt.dest), tt.transport, "http/1.1")
			if got := fc.GetName(); got != tt.want || (fc == nil) != (i < 0) {
				t.Errorf("chain %d %q, want %q", i, got, tt.want)
			}
		})
	}
}
