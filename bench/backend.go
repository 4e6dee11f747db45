package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// responseSize is the body of every latency request.
const responseSize = 1024

// bulkSize is the Content-Length the bulk endpoint announces; the client
// stops reading long before.
const bulkSize = 1 << 40

// backend is the app every set-up ends at: HTTP/1.1, h2c, gRPC (the
// health service's unary Check) and, for the direct set-up's connection
// run, HTTP/1.1 over mTLS.
type backend struct {
	http1, h2c, grpc, mtls string // listen addresses
	tls                    *tls.Config

	wg      sync.WaitGroup
	servers []*http.Server
	grpcSrv *grpc.Server
}

func newBackend(http1, h2c, grpcAddr, mtls string, tlsConfig *tls.Config) *backend {
	return &backend{http1: http1, h2c: h2c, grpc: grpcAddr, mtls: mtls, tls: tlsConfig}
}

func handler() http.Handler {
	body := make([]byte, responseSize)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	chunk := make([]byte, 256<<10)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/bulk", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(bulkSize))
		for sent := 0; sent < bulkSize; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	return mux
}

// Start listens on every address and serves until Close.
func (b *backend) Start(ctx context.Context) error {
	var lc net.ListenConfig
	listen := func(addr string) (net.Listener, error) { return lc.Listen(ctx, "tcp", addr) }
	h := handler()

	serve := func(l net.Listener, s *http.Server) {
		b.servers = append(b.servers, s)
		b.wg.Go(func() { _ = s.Serve(l) })
	}
	l1, err := listen(b.http1)
	if err != nil {
		return err
	}
	serve(l1, &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second})

	l2, err := listen(b.h2c)
	if err != nil {
		return errors.Join(err, b.Close())
	}
	s2 := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, Protocols: new(http.Protocols)}
	s2.Protocols.SetHTTP1(true)
	s2.Protocols.SetUnencryptedHTTP2(true)
	serve(l2, s2)

	l3, err := listen(b.mtls)
	if err != nil {
		return errors.Join(err, b.Close())
	}
	s3 := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
	serve(tls.NewListener(l3, b.tls), s3)

	l4, err := listen(b.grpc)
	if err != nil {
		return errors.Join(err, b.Close())
	}
	b.grpcSrv = grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(b.grpcSrv, hs)
	b.wg.Go(func() { _ = b.grpcSrv.Serve(l4) })
	return nil
}

// Close stops every server and waits for them.
func (b *backend) Close() error {
	var errs []error
	for _, s := range b.servers {
		errs = append(errs, s.Close())
	}
	if b.grpcSrv != nil {
		b.grpcSrv.Stop()
	}
	b.wg.Wait()
	return errors.Join(errs...)
}
