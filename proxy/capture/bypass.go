package capture

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultBypassInterval is how often a BypassScanner looks by default.
const DefaultBypassInterval = 5 * time.Second

// BypassConfig configures a BypassScanner.
type BypassConfig struct {
	// Ports returns the captured inbound ports (the destination ports of
	// virtualInbound's chains); it is called on every scan. Nil watches
	// nothing.
	Ports func() []uint16
	// ExcludePorts are inbound ports the rules do not capture: a direct
	// connection to them is expected. The proxy's own ports are never
	// watched either.
	ExcludePorts []uint16
	// Interval between scans; zero means DefaultBypassInterval.
	Interval time.Duration
	// Registerer receives the counter; nil keeps it unregistered.
	Registerer prometheus.Registerer
	// Logger; nil discards.
	Logger *slog.Logger
	// ProcNet is the directory holding tcp and tcp6; empty means
	// /proc/thread-self/net, the network namespace of the scanning thread
	// (the same one net.InterfaceAddrs asks; in a pod every thread of the
	// proxy is in the pod's namespace).
	ProcNet string
}

// BypassScanner counts connections that reached the app without passing
// through the proxy, in weft_proxy_capture_bypassed_connections_total{port}:
// established TCP connections to a captured inbound port whose peer is not
// an address of this network namespace. Through the rules, the app only
// ever sees the proxy, which connects from the pod's own address.
type BypassScanner struct {
	cfg      BypassConfig
	log      *slog.Logger
	bypassed *prometheus.CounterVec
	// localAddrs lists the namespace's addresses (tests replace it).
	localAddrs func() (map[netip.Addr]bool, error)

	mu sync.Mutex
	// seen are the connections already counted, forgotten once closed.
	// The addresses identify one: the inode does not, as a connection not
	// yet accepted by the app has none.
	seen map[connKey]struct{}
}

// NewBypassScanner returns a scanner that does nothing until Run or Scan.
func NewBypassScanner(cfg BypassConfig) *BypassScanner {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bypassed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weft_proxy_capture_bypassed_connections_total",
		Help: "Connections to a captured inbound port of the app that did not pass through the proxy (seen in /proc/net/tcp*: established, from a peer outside the pod), by port.",
	}, []string{"port"})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(bypassed); err != nil {
			if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
				if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
					bypassed = existing
				}
			}
		}
	}
	return &BypassScanner{cfg: cfg, log: log, bypassed: bypassed, localAddrs: localAddrs, seen: map[connKey]struct{}{}}
}

// Counter is weft_proxy_capture_bypassed_connections_total.
func (s *BypassScanner) Counter() *prometheus.CounterVec { return s.bypassed }

// Run scans at once and then every Interval until ctx ends, and returns nil
// then. A failed scan is logged and the next one tried.
func (s *BypassScanner) Run(ctx context.Context) error {
	interval := s.cfg.Interval
	if interval <= 0 {
		interval = DefaultBypassInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	failing := false
	for {
		err := s.Scan()
		switch {
		case err != nil && !failing:
			s.log.Warn("capture bypass scan failed", "error", err)
		case err == nil && failing:
			s.log.Info("capture bypass scan recovered")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// Scan looks once, in the network namespace of the calling thread, and
// counts the bypassing connections it has not counted before.
func (s *BypassScanner) Scan() error {
	var ports []uint16
	if s.cfg.Ports != nil {
		ports = s.cfg.Ports()
	}
	watched := map[uint16]bool{}
	for _, p := range ports {
		if !slices.Contains(s.cfg.ExcludePorts, p) && !slices.Contains(ProxyPorts, p) {
			watched[p] = true
		}
	}
	dir := s.cfg.ProcNet
	if dir == "" {
		dir = "/proc/thread-self/net"
	}
	var sockets []tcpSocket
	for _, name := range []string{"tcp", "tcp6"} {
		found, err := readProcNetTCP(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		sockets = append(sockets, found...)
	}
	local, err := s.localAddrs()
	if err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	open := make(map[connKey]struct{}, len(s.seen))
	for _, sk := range sockets {
		if !watched[sk.Local.Port()] || isLocal(sk.Remote.Addr(), local) {
			continue
		}
		key := connKey{sk.Local, sk.Remote}
		open[key] = struct{}{}
		if _, counted := s.seen[key]; counted {
			continue
		}
		s.bypassed.WithLabelValues(strconv.Itoa(int(sk.Local.Port()))).Inc()
		s.log.Debug("connection bypassed the proxy", "local", sk.Local.String(), "remote", sk.Remote.String())
	}
	s.seen = open
	return nil
}

// localAddrs are the addresses of the calling thread's network namespace.
func localAddrs() (map[netip.Addr]bool, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing the pod's addresses: %w", err)
	}
	local := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				local[ip.Unmap()] = true
			}
		}
	}
	return local, nil
}

func isLocal(ip netip.Addr, local map[netip.Addr]bool) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || local[ip]
}

// tcpSocket is an established connection of /proc/net/tcp*.
type tcpSocket struct {
	Local, Remote netip.AddrPort
	// Inode is the socket's, zero until the app has accepted it.
	Inode uint64
}

// connKey identifies a connection while it is open.
type connKey struct{ local, remote netip.AddrPort }

// readProcNetTCP reads a /proc/net/tcp or tcp6 file; a missing one (no
// IPv6) holds nothing.
func readProcNetTCP(path string) ([]tcpSocket, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading sockets: %w", err)
	}
	defer f.Close()
	sockets, err := parseProcNetTCP(f, binary.NativeEndian)
	if err != nil {
		return nil, fmt.Errorf("reading sockets from %s: %w", path, err)
	}
	return sockets, nil
}

// tcpEstablished is TCP_ESTABLISHED in the st column.
const tcpEstablished = "01"

// parseProcNetTCP returns the established connections of a /proc/net/tcp
// or tcp6 table, whose addresses the kernel prints as 32-bit words in the
// host's byte order (order). The header and malformed lines are skipped:
// the table is the kernel's, and a line it may add one day must not stop
// the scan.
func parseProcNetTCP(r io.Reader, order binary.ByteOrder) ([]tcpSocket, error) {
	var sockets []tcpSocket
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != tcpEstablished {
			continue
		}
		local, err := parseHexAddrPort(fields[1], order)
		if err != nil {
			continue
		}
		remote, err := parseHexAddrPort(fields[2], order)
		if err != nil {
			continue
		}
		inode, err := strconv.ParseUint(fields[9], 10, 64)
		if err != nil {
			continue
		}
		sockets = append(sockets, tcpSocket{Local: local, Remote: remote, Inode: inode})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return sockets, nil
}

// parseHexAddrPort reads "0100007F:1F90" (IPv4) or 32 hex digits and a port
// (IPv6): the address as 32-bit words in order, the port in hex.
func parseHexAddrPort(s string, order binary.ByteOrder) (netip.AddrPort, error) {
	host, port, ok := strings.Cut(s, ":")
	if !ok || len(port) != 4 {
		return netip.AddrPort{}, fmt.Errorf("address %q is not HEX:PORT", s)
	}
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port of %q: %w", s, err)
	}
	raw, err := hex.DecodeString(host)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q is neither 8 nor 32 hex digits", s)
	}
	// The kernel prints each 32-bit word of the address as a number read
	// in the host's byte order: the digits are that number, big-endian;
	// put it back into memory the way the host had it.
	ip := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		order.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(addr, uint16(p)), nil
}
