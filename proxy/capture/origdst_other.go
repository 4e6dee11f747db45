//go:build !linux

package capture

import (
	"errors"
	"net"
	"net/netip"
)

// OriginalDst returns where a redirected connection was going; capture
// needs Linux's netfilter, so elsewhere it always fails.
func OriginalDst(net.Conn) (netip.AddrPort, error) {
	return netip.AddrPort{}, errors.New("no original destination: capture needs Linux")
}
