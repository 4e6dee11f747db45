package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// ServeConfig is "weft-e2e-app serve".
type ServeConfig struct {
	HTTPAddr    string // the HTTP server's listen address, host:port (host may be empty)
	TCPEchoAddr string // the TCP echo server's listen address; empty for none
	Name        string // the hostname reported; empty for the pod's (os.Hostname)
}

// Validate names the flag that is wrong.
func (c ServeConfig) Validate() error {
	var errs []error
	if err := checkAddr(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("--http %q: %w", c.HTTPAddr, err))
	}
	if c.TCPEchoAddr != "" {
		if err := checkAddr(c.TCPEchoAddr); err != nil {
			errs = append(errs, fmt.Errorf("--tcp-echo %q: %w", c.TCPEchoAddr, err))
		} else if c.TCPEchoAddr == c.HTTPAddr {
			errs = append(errs, fmt.Errorf("--tcp-echo %q: the HTTP server's address", c.TCPEchoAddr))
		}
	}
	return errors.Join(errs...)
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port or :port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("want a port of 1-65535")
	}
	return nil
}

// portFlag sets an address to ":<port>".
func portFlag(addr *string) func(string) error {
	return func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("port %q: want 1-65535 (0: none)", s)
		}
		if n == 0 {
			*addr = ""
		} else {
			*addr = ":" + s
		}
		return nil
	}
}

func parseServe(args []string, stderr io.Writer) (ServeConfig, error) {
	cfg := ServeConfig{HTTPAddr: ":8080"}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "listen address of the HTTP server")
	fs.Func("http-port", "port of the HTTP server: --http :<port>", portFlag(&cfg.HTTPAddr))
	fs.StringVar(&cfg.TCPEchoAddr, "tcp-echo", cfg.TCPEchoAddr, "listen address of the TCP echo server (empty: none)")
	fs.Func("tcp-echo-port", "port of the TCP echo server: --tcp-echo :<port> (0: none)", portFlag(&cfg.TCPEchoAddr))
	fs.StringVar(&cfg.Name, "name", cfg.Name, "hostname to report (default: the pod's hostname)")
	if err := parseFlags(fs, args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, usageError{err: fmt.Errorf("serve: unexpected arguments %q", fs.Args())}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageError{err: err}
	}
	if cfg.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return cfg, fmt.Errorf("hostname: %w", err)
		}
		cfg.Name = h
	}
	return cfg, nil
}

// Report is what the HTTP server answers to every request but /healthz:
// who answered and what arrived.
type Report struct {
	Hostname string              `json:"hostname"`
	Method   string              `json:"method"`
	Host     string              `json:"host"`
	Path     string              `json:"path"`
	Query    string              `json:"query,omitempty"`
	Proto    string              `json:"proto"`
	Peer     string              `json:"peer"` // the TCP peer, host:port
	TLS      bool                `json:"tls"`
	Headers  map[string][]string `json:"headers"`
}

// HostnameHeader carries the answering hostname on every response, so a
// client can count backends without reading bodies.
const HostnameHeader = "X-Weft-E2e-Hostname"

// newHandler is the HTTP server of a pod named hostname.
func newHandler(hostname string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set(HostnameHeader, hostname)
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /relay", relay)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Read the body, so that a client sending one sees its request
		// completed rather than reset.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		rep := Report{
			Hostname: hostname,
			Method:   r.Method,
			Host:     r.Host,
			Path:     r.URL.Path,
			Query:    r.URL.RawQuery,
			Proto:    r.Proto,
			Peer:     r.RemoteAddr,
			TLS:      r.TLS != nil,
			Headers:  r.Header,
		}
		body, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(HostnameHeader, hostname)
		status := http.StatusOK
		if s := r.URL.Query().Get("status"); s != "" {
			// ?status=503: a scenario's failing backend (retries, outlier
			// detection).
			if n, err := strconv.Atoi(s); err == nil && n >= 200 && n <= 599 {
				status = n
			}
		}
		w.WriteHeader(status)
		_, _ = w.Write(append(body, '\n'))
	})
	return mux
}

// relayClient is the client of /relay: a new connection per request, so
// that every relayed request goes through the sidecar's current config.
var relayClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
}

// relay answers GET /relay?url=URL with what GET URL answered from this
// pod (status and body), or 502 and the error: a scenario asks a running
// meshed pod to call another while the control plane is away.
func relay(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("url")
	if target == "" {
		http.Error(w, "relay: want ?url=", http.StatusBadRequest)
		return
	}
	// Relaying to any URL is this test app's purpose (never deployed
	// outside the e2e cluster).
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, target, nil) //nolint:gosec // see above
	if err != nil {
		http.Error(w, "relay: "+err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := relayClient.Do(req) //nolint:gosec // see above
	if err != nil {
		http.Error(w, "relay: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 1<<20))
}

// serve runs the HTTP server, and the TCP echo server if configured, until
// ctx is done; then it drains them for up to five seconds.
func serve(ctx context.Context, log *slog.Logger, cfg ServeConfig) error {
	var lc net.ListenConfig
	httpLn, err := lc.Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	srv := &http.Server{
		Handler:           newHandler(cfg.Name),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	var echoLn net.Listener
	if cfg.TCPEchoAddr != "" {
		if echoLn, err = lc.Listen(ctx, "tcp", cfg.TCPEchoAddr); err != nil {
			return errors.Join(fmt.Errorf("tcp echo listener: %w", err), httpLn.Close())
		}
	}
	log.Info("serving", "hostname", cfg.Name, "http", httpLn.Addr().String(), "tcpEcho", cfg.TCPEchoAddr)

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() {
		if err := srv.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("http server: %w", err)
		}
	})
	echo := &echoServer{}
	if echoLn != nil {
		wg.Go(func() {
			if err := echo.Serve(echoLn); err != nil {
				errs <- fmt.Errorf("tcp echo server: %w", err)
			}
		})
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	shutdownErr := srv.Shutdown(shutdownCtx)
	echo.Close()
	wg.Wait()
	log.Info("stopped")
	return errors.Join(runErr, shutdownErr)
}

// echoServer writes back what each connection sends until the client
// half-closes, then half-closes its side too.
type echoServer struct {
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Serve accepts connections on ln until Close; it returns nil then.
func (s *echoServer) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ln.Close()
	}
	s.ln = ln
	s.conns = map[net.Conn]struct{}{}
	s.mu.Unlock()
	defer s.wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			return err //nolint:wrapcheck // the caller names the server
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				_ = c.Close()
			}()
			if _, err := io.Copy(c, c); err != nil {
				return
			}
			if cw, ok := c.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
		})
	}
}

// Close stops Serve and closes every open connection.
func (s *echoServer) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.ln != nil {
		_ = s.ln.Close()
	}
	for c := range s.conns {
		_ = c.Close()
	}
}
