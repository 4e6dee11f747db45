package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// soOriginalDst is SO_ORIGINAL_DST (SOL_IP) and IP6T_SO_ORIGINAL_DST
// (SOL_IPV6): both are 80 in linux/netfilter_ipv4.h and
// linux/netfilter_ipv6/ip6_tables.h.
const soOriginalDst = 80

// OriginalDst returns where a redirected connection was going before the
// capture rules sent it to the proxy: the address netfilter's conntrack
// recorded for it. c must be (or wrap, through a NetConn method, as
// *tls.Conn does) a *net.TCPConn accepted from a listener the rules
// redirect to. Where conntrack tracks connections (any namespace with the
// rules), one that was not redirected gives its own local address; where
// it does not, an error.
func OriginalDst(c net.Conn) (netip.AddrPort, error) {
	tcp, err := tcpConn(c)
	if err != nil {
		return netip.AddrPort{}, err
	}
	local, ok := tcp.LocalAddr().(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("no original destination: local address %v is not TCP", tcp.LocalAddr())
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("no original destination: %w", err)
	}
	v4 := local.IP.To4() != nil
	var (
		dst    netip.AddrPort
		sysErr error
	)
	ctlErr := raw.Control(func(fd uintptr) {
		if v4 {
			dst, sysErr = originalDst4(int(fd))
		} else {
			dst, sysErr = originalDst6(int(fd))
		}
	})
	if ctlErr != nil {
		return netip.AddrPort{}, fmt.Errorf("no original destination: %w", ctlErr)
	}
	if sysErr != nil {
		if errors.Is(sysErr, unix.ENOENT) {
			return netip.AddrPort{}, fmt.Errorf("no original destination: connection was not redirected (conntrack has no entry): %w", sysErr)
		}
		return netip.AddrPort{}, fmt.Errorf("no original destination: getsockopt SO_ORIGINAL_DST: %w", sysErr)
	}
	return dst, nil
}

// tcpConn finds the *net.TCPConn under c, unwrapping NetConn methods.
func tcpConn(c net.Conn) (*net.TCPConn, error) {
	for range 16 {
		switch v := c.(type) {
		case *net.TCPConn:
			return v, nil
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil, fmt.Errorf("no original destination: %T is not a TCP connection", c)
		}
	}
	return nil, errors.New("no original destination: too many wrapped connections")
}

// originalDst4 reads a struct sockaddr_in. x/sys has no getsockopt for
// it; an ip_mreq-sized buffer (20 bytes) holds its 16.
func originalDst4(fd int) (netip.AddrPort, error) {
	mreq, err := unix.GetsockoptIPv6Mreq(fd, unix.SOL_IP, soOriginalDst)
	if err != nil {
		return netip.AddrPort{}, err
	}
	sa := mreq.Multiaddr // family (2 bytes), port (2, big-endian), address (4)
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(sa[4:8])), binary.BigEndian.Uint16(sa[2:4])), nil
}

// originalDst6 reads a struct sockaddr_in6, through the one getsockopt of
// x/sys whose buffer starts with one.
func originalDst6(fd int) (netip.AddrPort, error) {
	info, err := unix.GetsockoptIPv6MTUInfo(fd, unix.SOL_IPV6, soOriginalDst)
	if err != nil {
		return netip.AddrPort{}, err
	}
	var port [2]byte // as it lies in memory: network byte order
	binary.NativeEndian.PutUint16(port[:], info.Addr.Port)
	return netip.AddrPortFrom(netip.AddrFrom16(info.Addr.Addr).Unmap(), binary.BigEndian.Uint16(port[:])), nil
}
