package capture

import (
	"errors"
	"fmt"
	"net/netip"
)

// Ports and identities the rules know (DESIGN.md).
const (
	// ProxyUID is the UID the proxy runs as; its traffic is never captured.
	ProxyUID = 1337
	// OutboundPort receives the pod's captured outbound TCP (virtualOutbound).
	OutboundPort = 15001
	// InboundPort receives the pod's captured inbound TCP (virtualInbound).
	InboundPort = 15006
	// ProbePort is where nothing listens: the probe rule redirects the
	// proxy's own dials to 127.0.0.1:ProbePort to StatusPort, which is
	// how the proxy sees that the rules are installed (Probe).
	ProbePort = 15007
	// StatusPort is the proxy's status port (readiness, metrics, probes).
	StatusPort = 15020
	// AdminPort is the proxy's admin port (loopback only).
	AdminPort = 15000
	// Table is the nftables table (family inet) that holds every rule.
	Table = "weft"
)

// ProxyPorts are never captured inbound: the proxy's own.
var ProxyPorts = []uint16{AdminPort, OutboundPort, InboundPort, ProbePort, StatusPort}

// Config says what to capture. The zero value of each field but ProxyUID
// excludes nothing; use Default for the standard ports and UID.
type Config struct {
	// ProxyUID is the UID whose traffic is never captured.
	ProxyUID uint32
	// OutboundPort and InboundPort are where captured traffic goes.
	OutboundPort uint16
	InboundPort  uint16
	// ExcludeInboundPorts are local ports whose inbound TCP is not captured
	// (ProxyPorts never are).
	ExcludeInboundPorts []uint16
	// ExcludeOutboundPorts are destination ports whose outbound TCP is not
	// captured.
	ExcludeOutboundPorts []uint16
	// ExcludeOutboundCIDRs are destination networks (IPv4 or IPv6) whose
	// outbound TCP is not captured.
	ExcludeOutboundCIDRs []netip.Prefix
}

// Default captures everything but the proxy's own traffic, to the standard
// ports.
func Default() Config {
	return Config{ProxyUID: ProxyUID, OutboundPort: OutboundPort, InboundPort: InboundPort}
}

// Validate says, naming the field, what would make the rules wrong. A CIDR
// with host bits set (10.0.0.1/8) is accepted and means its network.
func (c Config) Validate() error {
	var errs []error
	if c.ProxyUID == 0 {
		errs = append(errs, errors.New("ProxyUID: 0 would let every root process bypass capture"))
	}
	if c.OutboundPort == 0 {
		errs = append(errs, errors.New("OutboundPort: must not be 0"))
	}
	if c.InboundPort == 0 {
		errs = append(errs, errors.New("InboundPort: must not be 0"))
	}
	if c.OutboundPort != 0 && c.OutboundPort == c.InboundPort {
		errs = append(errs, fmt.Errorf("InboundPort: %d is also OutboundPort", c.InboundPort))
	}
	for _, p := range c.ExcludeInboundPorts {
		if p == 0 {
			errs = append(errs, errors.New("ExcludeInboundPorts: port 0 is not a port"))
		}
	}
	for _, p := range c.ExcludeOutboundPorts {
		if p == 0 {
			errs = append(errs, errors.New("ExcludeOutboundPorts: port 0 is not a port"))
		}
	}
	for _, p := range c.ExcludeOutboundCIDRs {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("ExcludeOutboundCIDRs: %q is not a network", p))
		}
	}
	return errors.Join(errs...)
}
