package demo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"
)

// payloadSize is the size of each request, newline included.
const payloadSize = 1024

// echoServer is the backend app: for every line it reads it answers the
// same line prefixed with its name.
type echoServer struct {
	name string
	ln   net.Listener
	wg   sync.WaitGroup
}

func startEchoServer(ctx context.Context, name, addr string) (*echoServer, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("backend app: %w", err)
	}
	s := &echoServer{name: name, ln: ln}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *echoServer) serve() {
	defer s.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer conn.Close()
			r := bufio.NewReader(conn)
			for {
				line, err := r.ReadBytes('\n')
				if err != nil {
					return
				}
				if _, err := conn.Write(append([]byte(s.name+" "), line...)); err != nil {
					return
				}
			}
		}()
	}
}

// close stops accepting; connections end when their clients close them.
func (s *echoServer) close() {
	_ = s.ln.Close()
	s.wg.Wait()
}

// trafficResult is what the frontend saw.
type trafficResult struct {
	sent, succeeded int
	connections     int             // kept-alive connections used
	roundTrips      []time.Duration // on established connections
	setups          []time.Duration // connect plus first exchange on a new connection
	firstErr        error
}

// runTraffic has the frontend send requests to addr (its sidecar's
// outbound listener): cfg.Connections connections in parallel, each with
// cfg.RoundTrips exchanges, then cfg.NewConnections one-exchange
// connections in turn.
func runTraffic(ctx context.Context, cfg Config, addr, backendName string) trafficResult {
	var (
		mu  sync.Mutex
		res trafficResult
		wg  sync.WaitGroup
	)
	record := func(ok bool, err error) {
		res.sent++
		if ok {
			res.succeeded++
		} else if res.firstErr == nil {
			res.firstErr = err
		}
	}
	res.connections = cfg.Connections
	for c := range cfg.Connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				mu.Lock()
				for range cfg.RoundTrips {
					record(false, fmt.Errorf("connecting to the frontend sidecar: %w", err))
				}
				mu.Unlock()
				return
			}
			defer conn.Close()
			r := bufio.NewReader(conn)
			for i := range cfg.RoundTrips {
				start := time.Now()
				err := exchange(conn, r, backendName, fmt.Sprintf("conn %d request %d", c, i))
				elapsed := time.Since(start)
				mu.Lock()
				record(err == nil, err)
				if err == nil {
					res.roundTrips = append(res.roundTrips, elapsed)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := range cfg.NewConnections {
		start := time.Now()
		err := oneShot(ctx, addr, backendName, fmt.Sprintf("new connection %d", i))
		elapsed := time.Since(start)
		record(err == nil, err)
		if err == nil {
			res.setups = append(res.setups, elapsed)
		}
	}
	return res
}

func oneShot(ctx context.Context, addr, backendName, label string) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connecting to the frontend sidecar: %w", err)
	}
	defer conn.Close()
	return exchange(conn, bufio.NewReader(conn), backendName, label)
}

// exchange sends one request line and checks the backend's answer.
func exchange(conn net.Conn, r *bufio.Reader, backendName, label string) error {
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	req := request(label)
	if _, err := conn.Write(req); err != nil {
		return fmt.Errorf("sending: %w", err)
	}
	resp, err := r.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("waiting for the backend's answer: %w", err)
	}
	want := append([]byte(backendName+" "), req...)
	if !bytes.Equal(resp, want) {
		return fmt.Errorf("unexpected answer %.60q", resp)
	}
	return nil
}

func request(label string) []byte {
	b := make([]byte, payloadSize)
	n := copy(b, label+" ")
	for i := n; i < len(b)-1; i++ {
		b[i] = "abcdefghijklmnopqrstuvwxyz"[i%26]
	}
	b[len(b)-1] = '\n'
	return b
}

// probePlaintext connects to a mesh port without TLS and sends a request.
// It returns nil when the sidecar refused it: the connection ended without
// a byte of answer.
func probePlaintext(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil //nolint:nilerr // refused at connect: also a refusal
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	if _, err := conn.Write(request("plaintext probe")); err != nil {
		return nil //nolint:nilerr // reset while sending: refused
	}
	buf := make([]byte, 512)
	n, err := io.ReadAtLeast(conn, buf, 1)
	var netErr net.Error
	switch {
	case n > 0:
		return fmt.Errorf("the mesh port answered plaintext with %d bytes: %.60q", n, buf[:n])
	case errors.As(err, &netErr) && netErr.Timeout():
		return errors.New("the mesh port kept a plaintext connection open for 5s instead of refusing it")
	default:
		return nil
	}
}

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func sortedCopy(d []time.Duration) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}
