//go:build linux

package capture

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/vishvananda/netns"
)

// procNetTCP is a /proc/net/tcp of a pod, as a little-endian kernel prints
// it: the app listening on 8080, a peer 192.0.2.2 connected to it, the
// proxy (192.0.2.1) connected to it, and a connection closing.
const procNetTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 23456 1 0000000000000000 100 0 0 10 0
   1: 010200C0:1F90 020200C0:D431 01 00000000:00000000 02:000AF5C2 00000000     0        0 34567 2 0000000000000000 20 4 30 10 -1
   2: 010200C0:1F90 010200C0:9C40 01 00000000:00000000 00:00000000 00000000  1337        0 0 1 0000000000000000 20 4 30 10 -1
   3: 010200C0:1F90 020200C0:D432 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
`

// procNetTCP6 is a /proc/net/tcp6: a peer 2001:db8::2 connected to
// [2001:db8::1]:8080, and an IPv4 peer through a dual-stack socket.
const procNetTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: B80D0120000000000000000001000000:1F90 B80D0120000000000000000002000000:C350 01 00000000:00000000 00:00000000 00000000     0        0 45678 1 0000000000000000 20 4 30 10 -1
   1: 0000000000000000FFFF0000010200C0:1F90 0000000000000000FFFF0000020200C0:C351 01 00000000:00000000 00:00000000 00000000     0        0 45679 1 0000000000000000 20 4 30 10 -1
`

func TestParseProcNetTCPReadsEstablishedConnections(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, tt := range []struct {
		name, table string
		want        []tcpSocket
	}{
		{"tcp", procNetTCP, []tcpSocket{
			{Local: ap("192.0.2.1:8080"), Remote: ap("192.0.2.2:54321"), Inode: 34567},
			{Local: ap("192.0.2.1:8080"), Remote: ap("192.0.2.1:40000"), Inode: 0},
		}},
		{"tcp6", procNetTCP6, []tcpSocket{
			{Local: ap("[2001:db8::1]:8080"), Remote: ap("[2001:db8::2]:50000"), Inode: 45678},
			{Local: ap("[::ffff:192.0.2.1]:8080"), Remote: ap("[::ffff:192.0.2.2]:50001"), Inode: 45679},
		}},
		{"empty", "", nil},
		{"header only", strings.SplitAfter(procNetTCP, "\n")[0], nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcNetTCP(strings.NewReader(tt.table), binary.LittleEndian)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("parsed %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("socket %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseProcNetTCPSkipsMalformedLines(t *testing.T) {
	good := "   1: 010200C0:1F90 020200C0:D431 01 00000000:00000000 02:000AF5C2 00000000     0        0 34567 2"
	for _, tt := range []struct{ name, line string }{
		{"too few fields", "   1: 010200C0:1F90 020200C0:D431 01"},
		{"local not hex", "   1: 0102ZZC0:1F90 020200C0:D431 01 00000000:00000000 02:000AF5C2 00000000     0        0 34567 2"},
		{"remote without port", "   1: 010200C0:1F90 020200C0 01 00000000:00000000 02:000AF5C2 00000000     0        0 34567 2"},
		{"port not hex", "   1: 010200C0:1FXX 020200C0:D431 01 00000000:00000000 02:000AF5C2 00000000     0        0 34567 2"},
		{"port too long", "   1: 010200C0:1F9000 020200C0:D431 01 00000000:00000000 02:000AF5C2 00000000     0        0 34567 2"},
		{"address of 6 bytes", "   1: 010200C00000:1F90 020200C0:D431 01 00000000:00000000 02:000AF5C2 00000000     0        0 34567 2"},
		{"odd hex digits", "   1: 010200C:1F90 020200C0:D431 01 00000000:00000000 02:000AF5C2 00000000     0        0 34567 2"},
		{"inode not a number", "   1: 010200C0:1F90 020200C0:D431 01 00000000:00000000 02:000AF5C2 00000000     0        0 -1 2"},
		{"binary garbage", "\x00\xff\xfe 1: \x01\x02 : : 01 a b c d e f"},
		{"blank", "   "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The bad line is skipped; the good ones around it are kept.
			got, err := parseProcNetTCP(strings.NewReader(good+"\n"+tt.line+"\n"+good+"\n"), binary.LittleEndian)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("parsed %v, want only the two good lines", got)
			}
		})
	}
}

func FuzzParseProcNetTCP(f *testing.F) {
	f.Add(procNetTCP)
	f.Add(procNetTCP6)
	f.Fuzz(func(t *testing.T, table string) {
		got, err := parseProcNetTCP(strings.NewReader(table), binary.LittleEndian)
		if err != nil {
			return // only a line longer than bufio's limit
		}
		for _, s := range got {
			if !s.Local.IsValid() || !s.Remote.IsValid() {
				t.Fatalf("invalid address parsed from %q: %v", table, s)
			}
		}
	})
}

func TestBypassScannerOnFixtures(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the fixtures are as a little-endian kernel prints them")
	}
	dir := t.TempDir()
	for name, text := range map[string]string{"tcp": procNetTCP, "tcp6": procNetTCP6} {
		if err := os.WriteFile(dir+"/"+name, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The pod's addresses, whatever this machine's are: the fixtures'
	// connections from 192.0.2.1 are the proxy's, the three others peers'.
	podAddrs := func() (map[netip.Addr]bool, error) {
		return map[netip.Addr]bool{netip.MustParseAddr("192.0.2.1"): true, netip.MustParseAddr("2001:db8::1"): true}, nil
	}
	reg := prometheus.NewRegistry()
	for _, tt := range []struct {
		name    string
		ports   []uint16
		exclude []uint16
		want    float64
	}{
		{"port not captured", []uint16{9090}, nil, 0},
		{"port excluded", []uint16{8080}, []uint16{8080}, 0},
		{"captured", []uint16{8080}, nil, 3},
		{"captured among others", []uint16{9090, 8080, 15006}, []uint16{9100}, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewBypassScanner(BypassConfig{
				Ports:        func() []uint16 { return tt.ports },
				ExcludePorts: tt.exclude,
				ProcNet:      dir,
				Registerer:   reg,
			})
			s.localAddrs = podAddrs
			s.Counter().Reset()
			for range 3 {
				if err := s.Scan(); err != nil {
					t.Fatal(err)
				}
			}
			if got := testutil.ToFloat64(s.Counter().WithLabelValues("8080")); got != tt.want {
				t.Errorf("bypassed{port=8080} = %v after three scans, want %v (each connection counted once)", got, tt.want)
			}
		})
	}
	if n, err := testutil.GatherAndCount(reg, "weft_proxy_capture_bypassed_connections_total"); err != nil || n != 1 {
		t.Errorf("registry has %d series of the counter (%v), want the one of port 8080", n, err)
	}
}

// app listens in ns and accepts everything, holding connections open
// until the test ends.
func app(t *testing.T, ns netns.NsHandle, addr string) <-chan net.Conn {
	t.Helper()
	ln := listen(t, ns, "tcp", addr)
	accepted := make(chan net.Conn, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		close(accepted)
		for c := range accepted {
			_ = c.Close()
		}
	})
	return accepted
}

// dial connects from ns (from local, when set) and waits until the app
// has the connection.
func dial(t *testing.T, ns netns.NsHandle, local, remote string, accepted <-chan net.Conn) (client, server net.Conn) {
	t.Helper()
	inNS(t, ns, func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		if local != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
		}
		var err error
		client, err = d.Dial("tcp", remote)
		return err
	})
	select {
	case server = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatalf("the app never accepted the connection to %s", remote)
	}
	t.Cleanup(func() {
		_ = client.Close()
		_ = server.Close()
	})
	return client, server
}

func TestBypassScannerCountsDirectConnectionsToTheApp(t *testing.T) {
	skipUnlessRoot(t)
	pod, peer := newNS(t), newNS(t)
	vethPair(t, pod, peer, []string{"192.0.2.1/24", "2001:db8::1/64"}, []string{"192.0.2.2/24", "2001:db8::2/64"})

	app8080 := app(t, pod, ":8080")
	app9090 := app(t, pod, ":9090")
	app9100 := app(t, pod, ":9100")
	s := NewBypassScanner(BypassConfig{
		Ports:        func() []uint16 { return []uint16{8080, 9100} },
		ExcludePorts: []uint16{9100},
	})
	bypassed := func(port string) float64 { return testutil.ToFloat64(s.Counter().WithLabelValues(port)) }
	// The scanner reads the namespace of the thread it runs on.
	scan := func(t *testing.T, times int) {
		t.Helper()
		for range times {
			inNS(t, pod, s.Scan)
		}
	}

	var first, firstServer net.Conn
	steps := []struct {
		name string
		act  func(t *testing.T)
		want float64 // bypassed{port=8080} afterwards
	}{
		{"nothing yet", func(*testing.T) {}, 0},
		{"a peer connects directly: counted once", func(t *testing.T) {
			first, firstServer = dial(t, peer, "", "192.0.2.1:8080", app8080)
		}, 1},
		{"still open: not counted again", func(*testing.T) {}, 1},
		{"from the pod's own address, as the proxy forwards: not counted", func(t *testing.T) {
			dial(t, pod, "192.0.2.1", "192.0.2.1:8080", app8080)
			dial(t, pod, "2001:db8::1", "[2001:db8::1]:8080", app8080)
			dial(t, pod, "", "127.0.0.1:8080", app8080)
		}, 1},
		{"a port the proxy does not capture: not counted", func(t *testing.T) {
			dial(t, peer, "", "192.0.2.1:9090", app9090)
		}, 1},
		{"an excluded port: not counted", func(t *testing.T) {
			dial(t, peer, "", "192.0.2.1:9100", app9100)
		}, 1},
		{"a peer over IPv6: counted", func(t *testing.T) {
			dial(t, peer, "", "[2001:db8::1]:8080", app8080)
		}, 2},
		{"the first one closes and is forgotten; the peer comes again: counted", func(t *testing.T) {
			_ = first.Close()
			_ = firstServer.Close()
			inNS(t, pod, s.Scan)
			if seen := s.seenRemotes(); slices.Contains(seen, first.LocalAddr().String()) {
				t.Fatalf("after the close, the scanner still remembers %s: %v", first.LocalAddr(), seen)
			}
			dial(t, peer, "", "192.0.2.1:8080", app8080)
		}, 3},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.act(t)
			scan(t, 2)
			if got := bypassed("8080"); got != step.want {
				t.Fatalf("bypassed{port=8080} = %v, want %v", got, step.want)
			}
		})
	}
	for _, port := range []string{"9090", "9100"} {
		if got := bypassed(port); got != 0 {
			t.Errorf("bypassed{port=%s} = %v, want 0", port, got)
		}
	}
}

// seenRemotes are the peers of the connections the scanner remembers.
func (s *BypassScanner) seenRemotes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var remotes []string
	for k := range s.seen {
		remotes = append(remotes, k.remote.String())
	}
	return remotes
}
