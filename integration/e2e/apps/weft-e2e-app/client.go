package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// ClientConfig is "weft-e2e-app get" and "weft-e2e-app load".
type ClientConfig struct {
	URL         string
	Timeout     time.Duration // per request
	Headers     http.Header   // added to every request
	Requests    int           // load: how many
	Concurrency int           // load: how many at once
	KeepAlive   bool          // reuse connections (default: one per request, so L4 balancing shows too)
}

// Validate names the flag that is wrong.
func (c ClientConfig) Validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("URL %q: want http://host[:port]/path", c.URL))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %v: want a positive duration", c.Timeout))
	}
	if c.Requests < 1 {
		errs = append(errs, fmt.Errorf("-n %d: want at least 1", c.Requests))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("-c %d: want at least 1", c.Concurrency))
	}
	return errors.Join(errs...)
}

// headerFlag is a repeatable -H 'Name: value'.
type headerFlag struct{ h http.Header }

func (f headerFlag) String() string { return fmt.Sprint(f.h) }

func (f headerFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q: want 'Name: value'", s)
	}
	f.h.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	return nil
}

func parseClient(cmd string, args []string, stderr io.Writer) (ClientConfig, error) {
	cfg := ClientConfig{Timeout: 10 * time.Second, Headers: http.Header{}, Requests: 1, Concurrency: 1}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "timeout of each request")
	fs.Var(headerFlag{cfg.Headers}, "H", "request header 'Name: value' (repeatable)")
	fs.BoolVar(&cfg.KeepAlive, "keepalive", cfg.KeepAlive, "reuse connections between requests")
	if cmd == "load" {
		cfg.Requests, cfg.Concurrency = 100, 4
		fs.IntVar(&cfg.Requests, "n", cfg.Requests, "number of requests")
		fs.IntVar(&cfg.Concurrency, "c", cfg.Concurrency, "requests in flight at once")
	}
	// Flags may follow the URL ("load URL -n 100"): parse, take the URL,
	// parse the rest.
	if err := parseFlags(fs, args); err != nil {
		return cfg, err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return cfg, usageError{err: fmt.Errorf("%s: no URL", cmd)}
	}
	cfg.URL = rest[0]
	if err := parseFlags(fs, rest[1:]); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, usageError{err: fmt.Errorf("%s: unexpected arguments %q", cmd, fs.Args())}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageError{err: err}
	}
	return cfg, nil
}

func (c ClientConfig) client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = !c.KeepAlive
	tr.Proxy = nil // the mesh, not an environment's proxy, is under test
	return &http.Client{Transport: tr, Timeout: c.Timeout}
}

// fetch makes one GET and returns the response's status, body and the
// answering hostname (HostnameHeader, else the JSON report's).
func fetch(ctx context.Context, client *http.Client, cfg ClientConfig) (status int, body []byte, hostname string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.URL, nil)
	if err != nil {
		return 0, nil, "", fmt.Errorf("request: %w", err)
	}
	for name, values := range cfg.Headers {
		for _, v := range values {
			req.Header.Add(name, v)
		}
	}
	if host := cfg.Headers.Get("Host"); host != "" {
		req.Host = host
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, "", err //nolint:wrapcheck // *url.Error names the method and URL
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, nil, "", fmt.Errorf("read response of %s: %w", cfg.URL, err)
	}
	hostname = resp.Header.Get(HostnameHeader)
	if hostname == "" {
		var rep Report
		if json.Unmarshal(body, &rep) == nil {
			hostname = rep.Hostname
		}
	}
	return resp.StatusCode, body, hostname, nil
}

// get makes one request and writes its body to stdout; a status other
// than 2xx is an error (after the body is written).
func get(ctx context.Context, cfg ClientConfig, stdout io.Writer) error {
	status, body, _, err := fetch(ctx, cfg.client(), cfg)
	if err != nil {
		return err
	}
	if _, err := stdout.Write(body); err != nil {
		return fmt.Errorf("write body: %w", err)
	}
	if status < 200 || status > 299 {
		return fmt.Errorf("%s: status %d", cfg.URL, status)
	}
	return nil
}

// LoadResult is what "load" prints: how many requests each backend
// answered with a 2xx, and what went wrong with the others.
type LoadResult struct {
	Requests int            `json:"requests"`
	OK       int            `json:"ok"`
	Backends map[string]int `json:"backends"`           // hostname -> 2xx answers
	Statuses map[string]int `json:"statuses,omitempty"` // non-2xx status -> count
	Errors   map[string]int `json:"errors,omitempty"`   // transport error -> count
}

// load makes cfg.Requests requests, cfg.Concurrency at a time, and writes
// a LoadResult as JSON to stdout. It fails only when nothing answered:
// a scenario decides what share of failures, and which statuses (a 403
// from a policy, say), it expects.
func load(ctx context.Context, cfg ClientConfig, stdout io.Writer) error {
	res := runLoad(ctx, cfg)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	if res.OK == 0 && len(res.Statuses) == 0 {
		return fmt.Errorf("%s: none of %d requests was answered", cfg.URL, res.Requests)
	}
	return nil
}

func runLoad(ctx context.Context, cfg ClientConfig) LoadResult {
	client := cfg.client()
	defer client.CloseIdleConnections()
	res := LoadResult{Requests: cfg.Requests, Backends: map[string]int{}, Statuses: map[string]int{}, Errors: map[string]int{}}
	var mu sync.Mutex
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range min(cfg.Concurrency, cfg.Requests) {
		wg.Go(func() {
			for range jobs {
				status, _, hostname, err := fetch(ctx, client, cfg)
				mu.Lock()
				switch {
				case err != nil:
					res.Errors[errorKind(err)]++
				case status < 200 || status > 299:
					res.Statuses[fmt.Sprint(status)]++
				default:
					res.OK++
					if hostname == "" {
						hostname = "(unknown)"
					}
					res.Backends[hostname]++
				}
				mu.Unlock()
			}
		})
	}
	for range cfg.Requests {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	return res
}

// errorKind is an error without the parts that differ between requests
// (the URL's repetition, ports), so that equal failures count together.
func errorKind(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return err.Error()
}
