package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// loadResult is what one constant-rate run saw.
type loadResult struct {
	latencies []time.Duration // sorted, successful requests only
	requests  int
	failures  int
	errors    []string // a few distinct messages
}

func (r *loadResult) fail(msg string) {
	r.failures++
	if len(r.errors) < 5 && !slices.Contains(r.errors, msg) {
		r.errors = append(r.errors, msg)
	}
}

// quantiles returns p50, p90, p99 and p99.9 in milliseconds.
func (r *loadResult) quantiles() map[string]float64 {
	ms := func(q float64) float64 { return float64(Quantile(r.latencies, q)) / float64(time.Millisecond) }
	return map[string]float64{
		MetricP50:  ms(0.50),
		MetricP90:  ms(0.90),
		MetricP99:  ms(0.99),
		MetricP999: ms(0.999),
	}
}

// loadClient spreads requests round-robin over a fixed number of
// connections, each its own transport limited to one connection, so that
// "64 connections" means 64 connections in use whatever the latency (a
// shared transport would reuse the few idle ones at a low rate, and open new
// ones, each a handshake through the mesh, exactly when a spike piles
// requests up). Warm it up before measuring, and Close it after.
type loadClient struct {
	transports []*http.Transport
	next       atomic.Uint64
}

// newLoadClient returns a client of conns connections; h2c speaks HTTP/2
// with prior knowledge instead of HTTP/1.1.
func newLoadClient(conns int, h2c bool) *loadClient {
	c := &loadClient{}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	for range conns {
		tr := &http.Transport{
			DialContext:         dialer.DialContext,
			MaxIdleConnsPerHost: 1,
			MaxConnsPerHost:     1,
			DisableCompression:  true,
		}
		if h2c {
			tr.Protocols = new(http.Protocols)
			tr.Protocols.SetUnencryptedHTTP2(true)
		}
		c.transports = append(c.transports, tr)
	}
	return c
}

// RoundTrip sends req over the next connection.
func (c *loadClient) RoundTrip(req *http.Request) (*http.Response, error) {
	return c.transports[c.next.Add(1)%uint64(len(c.transports))].RoundTrip(req)
}

// Close closes the connections.
func (c *loadClient) Close() {
	for _, tr := range c.transports {
		tr.CloseIdleConnections()
	}
}

// httpLoad sends GETs to url at a constant rate for d (open loop: requests
// are sent on schedule whether or not earlier ones have been answered)
// through client, with vegeta in this process.
func httpLoad(ctx context.Context, client *loadClient, url string, rate int, d time.Duration) *loadResult {
	atk := vegeta.NewAttacker(
		vegeta.Client(&http.Client{Transport: client, Timeout: 10 * time.Second}),
		vegeta.Workers(uint64(len(client.transports))),
	)
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url})
	pacer := vegeta.ConstantPacer{Freq: rate, Per: time.Second}
	r := &loadResult{latencies: make([]time.Duration, 0, int(float64(rate)*d.Seconds())+16)}
	for res := range atk.Attack(targeter, pacer, d, "bench") {
		r.requests++
		switch {
		case res.Error != "":
			r.fail(res.Error)
		case res.Code != http.StatusOK:
			r.fail(fmt.Sprintf("status %d", res.Code))
		case res.BytesIn != responseSize:
			r.fail(fmt.Sprintf("%d bytes instead of %d", res.BytesIn, responseSize))
		default:
			r.latencies = append(r.latencies, res.Latency)
		}
	}
	slices.Sort(r.latencies)
	return r
}

// grpcLoad calls grpc.health.v1.Health/Check at addr at a constant rate for
// d over one HTTP/2 connection, open loop.
func grpcLoad(ctx context.Context, addr string, rate int, d time.Duration) (*loadResult, error) {
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	client := healthpb.NewHealthClient(conn)
	check := func() error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		resp, err := client.Check(cctx, &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			err = fmt.Errorf("status %s", resp.GetStatus())
		}
		return err
	}
	if err := check(); err != nil {
		return nil, fmt.Errorf("gRPC to %s: %w", addr, err)
	}
	r := &loadResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d || ctx.Err() != nil {
			break
		}
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		}
		wg.Go(func() {
			began := time.Now()
			err := check()
			took := time.Since(began)
			mu.Lock()
			defer mu.Unlock()
			r.requests++
			if err != nil {
				r.fail(err.Error())
				return
			}
			r.latencies = append(r.latencies, took)
		})
	}
	wg.Wait()
	slices.Sort(r.latencies)
	return r, nil
}

// newConnections opens mTLS connections to addr from workers goroutines for
// d, each carrying one HTTP/1.1 request and closed after the response:
// a full handshake every time (no session resumption). It returns the
// connections completed and the failures.
func newConnections(ctx context.Context, addr string, cfg *tls.Config, workers int, d time.Duration) (int, *loadResult) {
	var done atomic.Int64
	r := &loadResult{}
	var mu sync.Mutex
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if err := oneConnection(ctx, addr, cfg); err != nil {
					mu.Lock()
					r.requests++
					r.fail(err.Error())
					mu.Unlock()
					continue
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	r.requests += int(done.Load())
	return int(done.Load()), r
}

var request = []byte("GET / HTTP/1.1\r\nHost: " + serverName + "\r\nConnection: close\r\n\r\n")

func oneConnection(ctx context.Context, addr string, cfg *tls.Config) error {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(request); err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		return err
	}
	if n < responseSize {
		return fmt.Errorf("short response: %d bytes", n)
	}
	return nil
}

// bulk reads /bulk at url over one connection for d and returns MB/s
// (10^6 bytes).
func bulk(ctx context.Context, url string, d time.Duration) (float64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tr := &http.Transport{MaxConnsPerHost: 1, DisableCompression: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/bulk", nil)
	if err != nil {
		return 0, err
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("bulk: %s", resp.Status)
	}
	buf := make([]byte, 256<<10)
	var n int64
	start := time.Now()
	for time.Since(start) < d {
		m, err := resp.Body.Read(buf)
		n += int64(m)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return 0, err
		}
	}
	return float64(n) / 1e6 / time.Since(start).Seconds(), nil
}
