package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// The behaviour of the rules, with real sockets: a "pod" namespace with
// the rules and a test proxy on 15001/15006 that reports the original
// destination, joined by a veth to a "peer" namespace.

const helperEnv = "WEFT_CAPTURE_HELPER_DIAL"

// TestHelperProcess is not a test: it is the child process that dials as
// another UID (see dialAs).
func TestHelperProcess(*testing.T) {
	addr := os.Getenv(helperEnv)
	if addr == "" {
		return
	}
	fmt.Println(ask(addr))
	os.Exit(0)
}

// serve answers each connection on ln with "<name> <original destination>"
// (or "<name> none" where OriginalDst fails) and closes it.
func serve(t *testing.T, ln net.Listener, name string) {
	t.Helper()
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			orig := "none"
			if dst, err := OriginalDst(c); err == nil {
				orig = dst.String()
			}
			fmt.Fprintf(c, "%s %s\n", name, orig)
			c.Close()
		}
	}()
}

// ask dials addr and returns the line the server sent, or the error.
func ask(addr string) string {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "error: " + err.Error()
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.TrimSpace(line)
}

// askIn dials addr from ns as this process (root).
func askIn(t *testing.T, ns netns.NsHandle, addr string) string {
	t.Helper()
	var answer string
	inNS(t, ns, func() error { answer = ask(addr); return nil })
	return answer
}

// helperBinary is a copy of the test binary that any UID may run.
func helperBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "weft-capture-helper-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // other UIDs must run the copy
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(dir, "capture.test")
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// askAs dials addr from ns in a child process running as uid: the child
// is started from a thread in ns, so it is born there.
func askAs(t *testing.T, bin string, ns netns.NsHandle, uid uint32, addr string) string {
	t.Helper()
	var answer string
	inNS(t, ns, func() error {
		cmd := exec.Command(bin, "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), helperEnv+"="+addr)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.Output()
		if err != nil {
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return fmt.Errorf("helper as UID %d: %w: %s", uid, err, exit.Stderr)
			}
			return fmt.Errorf("helper as UID %d: %w", uid, err)
		}
		answer = strings.TrimSpace(string(out))
		return nil
	})
	return answer
}

func TestCaptureBehaviour(t *testing.T) {
	skipUnlessRoot(t)
	pod, peer := newNS(t), newNS(t)
	vethPair(t, pod, peer,
		[]string{"198.18.0.1/24", "198.18.1.1/24", "2001:db8::1/64", "2001:db8:1::1/64"},
		[]string{"198.18.0.2/24", "198.18.1.2/24", "2001:db8::2/64", "2001:db8:1::2/64"})
	cfg := Default()
	cfg.ExcludeInboundPorts = []uint16{9100}
	cfg.ExcludeOutboundPorts = []uint16{5432}
	cfg.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("198.18.1.0/24"), netip.MustParsePrefix("2001:db8:1::/64")}
	inNS(t, pod, func() error { return Install(cfg) })

	for _, s := range []struct {
		ns   netns.NsHandle
		port int
		name string
	}{
		{pod, OutboundPort, "proxy-out"},
		{pod, InboundPort, "proxy-in"},
		{pod, StatusPort, "status"},
		{pod, 8080, "app"},
		{pod, 9100, "app-9100"},
		{peer, 80, "peer"},
		{peer, 5432, "peer-5432"},
	} {
		serve(t, listen(t, s.ns, "tcp", fmt.Sprintf(":%d", s.port)), s.name)
	}
	bin := helperBinary(t)

	for _, tc := range []struct {
		name string
		from netns.NsHandle
		uid  uint32 // 0: this process, root
		addr string
		want string // the answer, or its start
	}{
		{"outbound IPv4 is captured with its original destination", pod, 0, "198.18.0.2:80", "proxy-out 198.18.0.2:80"},
		{"outbound IPv6 is captured with its original destination", pod, 0, "[2001:db8::2]:80", "proxy-out [2001:db8::2]:80"},
		{"UID 1337 is not captured", pod, ProxyUID, "198.18.0.2:80", "peer "},
		{"UID 1337 is not captured, IPv6", pod, ProxyUID, "[2001:db8::2]:80", "peer "},
		{"another UID is captured", pod, 1000, "198.18.0.2:80", "proxy-out 198.18.0.2:80"},
		{"excluded outbound port", pod, 0, "198.18.0.2:5432", "peer-5432 "},
		{"excluded IPv4 network", pod, 0, "198.18.1.2:80", "peer "},
		{"excluded IPv6 network", pod, 0, "[2001:db8:1::2]:80", "peer "},
		{"inbound IPv4 is captured with its original destination", peer, 0, "198.18.0.1:8080", "proxy-in 198.18.0.1:8080"},
		{"inbound IPv6 is captured with its original destination", peer, 0, "[2001:db8::1]:8080", "proxy-in [2001:db8::1]:8080"},
		{"excluded inbound port", peer, 0, "198.18.0.1:9100", "app-9100 "},
		{"the status port is never captured inbound", peer, 0, "198.18.0.1:15020", "status "},
		{"loopback is not captured", pod, 0, "127.0.0.1:8080", "app "},
		{"loopback is not captured, IPv6", pod, 0, "[::1]:8080", "app "},
		{"the probe reaches the status port", pod, ProxyUID, "127.0.0.1:15007", "status 127.0.0.1:15007"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			if tc.uid == 0 {
				got = askIn(t, tc.from, tc.addr)
			} else {
				got = askAs(t, bin, tc.from, tc.uid, tc.addr)
			}
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("dial %s: answer %q, want %q", tc.addr, got, tc.want)
			}
		})
	}

	inNS(t, pod, Cleanup)
	t.Run("after Cleanup the probe is refused", func(t *testing.T) {
		got := askAs(t, bin, pod, ProxyUID, "127.0.0.1:15007")
		if !strings.Contains(got, "connection refused") {
			t.Errorf("probe after Cleanup: %q, want connection refused", got)
		}
	})
	t.Run("after Cleanup outbound goes straight to the peer", func(t *testing.T) {
		if got := askIn(t, pod, "198.18.0.2:80"); !strings.HasPrefix(got, "peer ") {
			t.Errorf("dial after Cleanup: %q, want the peer", got)
		}
	})
}

func TestOriginalDstErrors(t *testing.T) {
	skipUnlessRoot(t)
	ns := newNS(t) // no rules: conntrack never sees the connection
	ln := listen(t, ns, "tcp", "127.0.0.1:0")
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- err
			return
		}
		defer c.Close()
		_, err = OriginalDst(c)
		accepted <- err
	}()
	inNS(t, ns, func() error {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		return c.Close()
	})
	err := <-accepted
	want := "connection was not redirected (conntrack has no entry)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("OriginalDst of a connection that was not redirected: %v, want %q", err, want)
	}
}

func TestOriginalDstNotTCP(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	_, err := OriginalDst(a)
	if err == nil || !strings.Contains(err.Error(), "is not a TCP connection") {
		t.Errorf("OriginalDst(pipe): %v, want it to say it is not a TCP connection", err)
	}
}
