package integration

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// wireTap records every frame crossing one interface, read with an
// AF_PACKET socket: what an attacker on the link between two pods sees.
type wireTap struct {
	fd int

	mu     sync.Mutex
	frames bytes.Buffer
	done   chan struct{}
}

// tapInterface opens a tap on the interface named ifname, from within
// enter (which runs its function in the interface's network namespace);
// the tap stops when t ends.
func tapInterface(t *testing.T, enter func(func() error) error, ifname string) *wireTap {
	t.Helper()
	w := &wireTap{fd: -1, done: make(chan struct{})}
	err := enter(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		proto := htons(unix.ETH_P_ALL)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
			_ = unix.Close(fd)
			return err
		}
		w.fd = fd
		return nil
	})
	if err != nil {
		t.Fatalf("tap %s: %v", ifname, err)
	}
	go w.read()
	t.Cleanup(w.close)
	return w
}

func (w *wireTap) read() {
	defer close(w.done)
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(w.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		w.mu.Lock()
		w.frames.Write(buf[:n])
		w.mu.Unlock()
	}
}

func (w *wireTap) close() {
	// Shutting the socket down ends the blocked Recvfrom.
	_ = unix.Shutdown(w.fd, unix.SHUT_RDWR)
	_ = unix.Close(w.fd)
}

// reset forgets what was seen so far.
func (w *wireTap) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.frames.Reset()
}

// seen reports whether b crossed the wire since the last reset.
func (w *wireTap) seen(b []byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Contains(w.frames.Bytes(), b)
}

// tlsHandshakes reports whether a TLS 1.2/1.3 handshake record header (a
// ClientHello's 0x16 0x03 0x01) crossed the wire since the last reset.
func (w *wireTap) tlsHandshakes() bool { return w.seen([]byte{0x16, 0x03, 0x01}) }

func htons(v uint16) uint16 { return v<<8 | v>>8 }
