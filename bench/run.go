package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Workload keys.
const (
	WorkloadKnee    = "knee"
	WorkloadH2C     = "h2c"
	WorkloadGRPC    = "grpc"
	WorkloadNewConn = "newconn"
	WorkloadBulk    = "bulk"
	WorkloadIdle    = "idle"
)

// WorkloadHTTP1 is the key of the HTTP/1.1 constant-rate run over conns
// connections.
func WorkloadHTTP1(conns int) string { return fmt.Sprintf("http1-%dc", conns) }

func itoa(n int) string { return strconv.Itoa(n) }

// Report is the JSON file of a run.
type Report struct {
	Started time.Time `json:"started"`
	Machine Machine   `json:"machine"`
	Config  struct {
		Setups      []string `json:"setups"`
		Repetitions int      `json:"repetitions"`
		Duration    string   `json:"duration"`
		Rate        int      `json:"rate"`
		Connections []int    `json:"connections"`
		KneeRates   []int    `json:"knee_rates"`
		AppProtocol string   `json:"app_protocol"`
	} `json:"config"`
	Samples []Sample `json:"samples"`
	Summary Summary  `json:"summary"`
}

// warmUp is how long a load client runs, unmeasured, before a measurement:
// long enough to open all its connections.
const warmUp = 300 * time.Millisecond

// runner holds one run's pieces.
type runner struct {
	cfg    Config
	topo   *topology
	pki    *pki
	setups []*setup
	report Report
}

// Run runs every workload through every set-up, Repetitions times,
// interleaved, then prints the table and the goals to cfg.Out and writes the
// raw results to cfg.ResultsDir. Every process it started has ended when it
// returns.
func Run(ctx context.Context, cfg Config) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if cfg.pinned() {
		if err := pinSelf(0); err != nil {
			return err
		}
		runtime.GOMAXPROCS(1)
	}
	dir, err := os.MkdirTemp("", "weft-bench-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil || cfg.KeepDir {
			fmt.Fprintf(cfg.Out, "\nConfigurations and logs kept in %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	r := &runner{cfg: cfg}
	r.report.Started = time.Now().UTC()
	r.report.Machine = describeMachine(ctx, cfg)
	c := &r.report.Config
	c.Setups, c.Repetitions, c.Duration, c.Rate = cfg.Setups, cfg.Repetitions, cfg.Duration.String(), cfg.Rate
	c.Connections, c.KneeRates, c.AppProtocol = cfg.Connections, cfg.KneeRates, cfg.AppProtocol
	for _, l := range r.report.Machine.lines() {
		fmt.Fprintln(cfg.Out, l)
	}
	if cfg.runs(SetupWeft) {
		fmt.Fprintf(cfg.Out, "weft: appProtocol %s (tcp: the L4 path; http: the L7 proxy)\n", cfg.AppProtocol)
	}

	if r.topo, err = newTopology(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(r.topo.logDir(), 0o700); err != nil {
		return err
	}
	if r.pki, err = newPKI(dir, r.topo.ips()); err != nil {
		return err
	}
	serverTLS, err := r.pki.serverTLS()
	if err != nil {
		return err
	}
	app := newBackend(r.topo.at(hostApp, appHTTP1).String(), r.topo.at(hostApp, appH2C).String(),
		r.topo.at(hostApp, appGRPC).String(), r.topo.at(hostApp, appMTLS).String(), serverTLS)
	if err := app.Start(ctx); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, app.Close()) }()

	var procs []*process
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].Stop()
		}
	}()
	for _, name := range cfg.Setups {
		s, started, err := r.start(ctx, name)
		procs = append(procs, started...)
		if err != nil {
			return fmt.Errorf("starting the %s set-up: %w", name, err)
		}
		if err := check(ctx, s); err != nil {
			return fmt.Errorf("the %s set-up does not answer: %w", name, err)
		}
		r.setups = append(r.setups, s)
	}
	fmt.Fprintf(cfg.Out, "set-ups up on 127.%d.%d.0/24: %s\n", r.topo.b, r.topo.c, strings.Join(cfg.Setups, ", "))

	r.idle(ctx)
	if err := r.manyServices(ctx); err != nil {
		return err
	}
	for rep := 1; rep <= cfg.Repetitions; rep++ {
		if err := r.repetition(ctx, rep); err != nil {
			return err
		}
	}
	return r.finish()
}

func (r *runner) start(ctx context.Context, name string) (*setup, []*process, error) {
	t := r.topo
	switch name {
	case SetupWeft:
		return startWeft(ctx, t, r.pki, r.cfg)
	case SetupNginx:
		return startPeer(ctx, t, r.pki, r.cfg, SetupNginx, hostNginxClient, hostNginxServer)
	case SetupHAProxy:
		return startPeer(ctx, t, r.pki, r.cfg, SetupHAProxy, hostHAProxyClient, hostHAProxyServer)
	default:
		return &setup{
			name:  SetupDirect,
			http1: t.at(hostApp, appHTTP1).String(),
			h2c:   t.at(hostApp, appH2C).String(),
			grpc:  t.at(hostApp, appGRPC).String(),
			mtls:  t.at(hostApp, appMTLS).String(),
		}, nil, nil
	}
}

// check sends one request through the set-up.
func check(ctx context.Context, s *setup) error {
	client := newLoadClient(1, false)
	defer client.Close()
	res := httpLoad(ctx, client, "http://"+s.http1+"/", 10, 200*time.Millisecond)
	if res.failures > 0 || res.requests == 0 {
		return fmt.Errorf("%d of %d requests failed: %v", res.failures, res.requests, res.errors)
	}
	return nil
}

func (r *runner) add(s Sample) {
	r.report.Samples = append(r.report.Samples, s)
	var parts []string
	for _, k := range []string{MetricP50, MetricP99, MetricKnee, MetricConnRate, MetricBulk, MetricIdleSmall, MetricIdlePrivate, MetricIdleMany} {
		if v, ok := s.Values[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%.3f", k, v))
		}
	}
	for _, rate := range r.cfg.KneeRates {
		if v, ok := s.Values[fmt.Sprintf("step_%d_p99_ms", rate)]; ok {
			parts = append(parts, fmt.Sprintf("p99@%d=%.3f", rate, v))
		}
	}
	line := fmt.Sprintf("rep %d %-9s %-8s %s", s.Rep, s.Workload, s.Setup, strings.Join(parts, " "))
	if s.Requests > 0 {
		line += fmt.Sprintf(" requests=%d failed=%d", s.Requests, s.Failures)
	}
	if len(s.ErrorText) > 0 {
		line += fmt.Sprintf(" errors=%q", s.ErrorText)
	}
	fmt.Fprintln(r.cfg.Out, line)
}

// idle records each proxy set-up's client-side RSS before any load, and
// its private part (RssAnon: heap, stacks; not the mapped binary).
func (r *runner) idle(_ context.Context) {
	for _, s := range r.setups {
		if s.client == nil {
			continue
		}
		rss, err := memMB(s.client.Pid(), "VmRSS")
		if err != nil {
			continue
		}
		values := map[string]float64{MetricIdleSmall: rss}
		if anon, err := memMB(s.client.Pid(), "RssAnon"); err == nil {
			values[MetricIdlePrivate] = anon
		}
		r.add(Sample{Workload: WorkloadIdle, Setup: s.name, Rep: 1, Values: values})
	}
}

// manyServices measures the RSS of one sidecar whose configuration has
// ManyServices services, each with an outbound listener and a cluster.
func (r *runner) manyServices(ctx context.Context) error {
	if r.cfg.ManyServices == 0 || !r.cfg.runs(SetupWeft) {
		return nil
	}
	client, server, err := meshSides(r.topo, hostManyClient, hostManyServer, "many-")
	if err != nil {
		return err
	}
	yaml := ManyServicesYAML(namespace, r.cfg.AppProtocol, r.cfg.ManyServices, manyBasePort, client, server)
	cp, err := startControlPlane(ctx, r.topo, r.pki, r.cfg, "many", hostManyCP, yaml)
	if err != nil {
		return fmt.Errorf("control plane with %d services: %w", r.cfg.ManyServices, err)
	}
	defer cp.Stop()
	proxy, err := startSidecar(ctx, r.topo, r.pki, r.cfg, hostManyCP, client)
	if err != nil {
		return fmt.Errorf("sidecar with %d services: %w", r.cfg.ManyServices, err)
	}
	defer proxy.Stop()
	// The last listener answers once the whole configuration is in force.
	last := r.topo.at(hostManyClient, manyBasePort+uint16(r.cfg.ManyServices-1)).String() //nolint:gosec // validated ≤ 20000
	if err := proxy.WaitTCP(ctx, last); err != nil {
		return err
	}
	time.Sleep(time.Second)
	rss, err := memMB(proxy.Pid(), "VmRSS")
	if err != nil {
		return err
	}
	r.add(Sample{Workload: WorkloadIdle, Setup: SetupWeft, Rep: 1, Values: map[string]float64{MetricIdleMany: rss}})
	return nil
}

// measure runs load through s and turns what it saw, with the proxies' CPU
// time over the run and their peak RSS, into a sample.
func (r *runner) measure(s *setup, workload string, rep int, load func() (*loadResult, error)) (Sample, error) {
	before := make([]float64, 0, 2)
	for _, p := range s.proxies() {
		c, err := cpuSeconds(p.Pid())
		if err != nil {
			return Sample{}, fmt.Errorf("%s: %w", p.Name(), err)
		}
		before = append(before, c)
	}
	res, err := load()
	if err != nil {
		return Sample{}, fmt.Errorf("%s through %s: %w", workload, s.name, err)
	}
	sample := Sample{Workload: workload, Setup: s.name, Rep: rep, Values: res.quantiles(),
		Requests: res.requests, Failures: res.failures, ErrorText: res.errors}
	cpuKeys := []string{MetricCPUClient, MetricCPUServer}
	hwmKeys := []string{MetricHWMClient, MetricHWMServer}
	for i, p := range s.proxies() {
		c, err := cpuSeconds(p.Pid())
		if err != nil {
			return Sample{}, fmt.Errorf("%s: %w", p.Name(), err)
		}
		if res.requests > 0 {
			sample.Values[cpuKeys[i]] = (c - before[i]) / (float64(res.requests) / 1000)
		}
		if hwm, err := memMB(p.Pid(), "VmHWM"); err == nil {
			sample.Values[hwmKeys[i]] = hwm
		}
	}
	return sample, nil
}

func (r *runner) repetition(ctx context.Context, rep int) error {
	cfg := r.cfg
	p99At1k := map[string]float64{}
	for _, conns := range cfg.Connections {
		wl := WorkloadHTTP1(conns)
		for _, s := range r.setups {
			url := "http://" + s.http1 + "/"
			client := newLoadClient(conns, false)
			httpLoad(ctx, client, url, cfg.Rate, warmUp) // opens every connection
			sample, err := r.measure(s, wl, rep, func() (*loadResult, error) {
				return httpLoad(ctx, client, url, cfg.Rate, cfg.Duration), nil
			})
			client.Close()
			if err != nil {
				return err
			}
			r.add(sample)
			if conns == cfg.KneeConnections {
				p99At1k[s.name] = sample.Values[MetricP99]
			}
		}
	}
	for _, s := range r.setups {
		if s.h2c == "" {
			continue
		}
		url := "http://" + s.h2c + "/"
		client := newLoadClient(1, true)
		httpLoad(ctx, client, url, cfg.Rate, warmUp)
		sample, err := r.measure(s, WorkloadH2C, rep, func() (*loadResult, error) {
			return httpLoad(ctx, client, url, cfg.Rate, cfg.Duration), nil
		})
		client.Close()
		if err != nil {
			return err
		}
		r.add(sample)
	}
	for _, s := range r.setups {
		if s.grpc == "" {
			continue
		}
		sample, err := r.measure(s, WorkloadGRPC, rep, func() (*loadResult, error) {
			return grpcLoad(ctx, s.grpc, cfg.Rate, cfg.Duration)
		})
		if err != nil {
			return err
		}
		r.add(sample)
	}
	for _, s := range r.setups {
		var conns int
		sample, err := r.measure(s, WorkloadNewConn, rep, func() (*loadResult, error) {
			var res *loadResult
			conns, res = newConnections(ctx, s.mtls, r.pki.clientTLS(), cfg.NewConnWorkers, cfg.OpenDuration)
			return res, nil
		})
		if err != nil {
			return err
		}
		// Only the server side handshakes here.
		v := map[string]float64{MetricConnRate: float64(conns) / cfg.OpenDuration.Seconds()}
		if c, ok := sample.Values[MetricCPUServer]; ok {
			v[MetricConnCPU] = c // s per 1,000 connections = ms per connection
		}
		sample.Values = v
		r.add(sample)
	}
	for _, s := range r.setups {
		mbps, err := bulk(ctx, "http://"+s.http1, cfg.OpenDuration)
		if err != nil {
			return fmt.Errorf("bulk through %s: %w", s.name, err)
		}
		r.add(Sample{Workload: WorkloadBulk, Setup: s.name, Rep: rep, Values: map[string]float64{MetricBulk: mbps}})
	}
	if len(cfg.KneeRates) > 0 {
		for _, s := range r.setups {
			r.add(r.knee(ctx, s, rep, p99At1k[s.name]))
		}
	}
	return ctx.Err()
}

// knee steps through KneeRates and returns the highest rate whose p99
// stays under twice base (the p99 at Rate, same repetition) with no failed
// request; 0 when none does. One step over the line may be noise: the
// search stops at the first failed request or at the second step in a row
// over the line.
func (r *runner) knee(ctx context.Context, s *setup, rep int, base float64) Sample {
	url := "http://" + s.http1 + "/"
	client := newLoadClient(r.cfg.KneeConnections, false)
	defer client.Close()
	httpLoad(ctx, client, url, r.cfg.Rate, warmUp)
	sample := Sample{Workload: WorkloadKnee, Setup: s.name, Rep: rep, Values: map[string]float64{}}
	knee, over := 0, 0
	for _, rate := range r.cfg.KneeRates {
		res := httpLoad(ctx, client, url, rate, r.cfg.KneeStepDuration)
		p99 := res.quantiles()[MetricP99]
		// Each step is kept in the raw results, to show how a set-up bends.
		sample.Values[fmt.Sprintf("step_%d_p99_ms", rate)] = p99
		sample.Values[fmt.Sprintf("step_%d_failed", rate)] = float64(res.failures)
		sample.Requests += res.requests
		sample.Failures += res.failures
		for _, e := range res.errors {
			if len(sample.ErrorText) < 5 {
				sample.ErrorText = append(sample.ErrorText, e)
			}
		}
		switch {
		case res.failures > 0 || base == 0:
			over = 2
		case p99 >= 2*base:
			over++
		default:
			over, knee = 0, rate
		}
		if over >= 2 {
			break
		}
	}
	sample.Values[MetricKnee] = float64(knee)
	return sample
}

// Sections returns the table's layout for cfg.
func Sections(cfg Config) []Section {
	var secs []Section
	for _, c := range cfg.Connections {
		secs = append(secs, Section{WorkloadHTTP1(c), fmt.Sprintf("HTTP/1.1 1 KB, %d rps, %d conns", cfg.Rate, c), LatencyRows()})
	}
	secs = append(secs,
		Section{WorkloadKnee, fmt.Sprintf("knee (p99 < 2× at %d rps, %d conns)", cfg.Rate, cfg.KneeConnections),
			[]Row{{MetricKnee, "highest rate", "rps", 1, 0}}},
		Section{WorkloadH2C, fmt.Sprintf("HTTP/2 (h2c) 1 KB, %d rps, 1 conn", cfg.Rate), LatencyRows()},
		Section{WorkloadGRPC, fmt.Sprintf("gRPC unary, %d rps, 1 conn", cfg.Rate), LatencyRows()},
		Section{WorkloadNewConn, fmt.Sprintf("new mTLS connections, %d workers", cfg.NewConnWorkers), []Row{
			{MetricConnRate, "connections/s", "/s", 1, 0},
			{MetricConnCPU, "CPU server-side proxy /conn", "ms", 1, 3},
		}},
		Section{WorkloadBulk, "bulk, one TCP connection", []Row{{MetricBulk, "throughput", "MB/s", 1, 0}}},
		Section{WorkloadIdle, "idle sidecar", []Row{
			{MetricIdleSmall, "RSS, small config", "MB", 1, 1},
			{MetricIdlePrivate, "private RSS (RssAnon), small config", "MB", 1, 1},
			{MetricIdleMany, fmt.Sprintf("RSS, %d services", cfg.ManyServices), "MB", 1, 1},
		}},
	)
	return secs
}

func (r *runner) finish() error {
	cfg := r.cfg
	sum := Summarize(r.report.Samples)
	Derive(sum)
	r.report.Summary = sum
	fmt.Fprintf(cfg.Out, "\nMedians of %d repetitions; (x×d) is the ratio to direct, (x×n) to nginx.\n\n", cfg.Repetitions)
	WriteTable(cfg.Out, Sections(cfg), cfg.Setups, sum)
	latency := make([]string, 0, len(cfg.Connections))
	for _, c := range cfg.Connections {
		latency = append(latency, WorkloadHTTP1(c))
	}
	for _, s := range r.report.Samples {
		if s.Failures > 0 && s.Workload != WorkloadKnee { // the knee stops at failures
			fmt.Fprintf(cfg.Out, "\nWARNING: %s through %s, repetition %d: %d of %d requests failed: %q\n",
				s.Workload, s.Setup, s.Rep, s.Failures, s.Requests, s.ErrorText)
		}
	}
	fmt.Fprintln(cfg.Out, "\nGoals:")
	WriteGoals(cfg.Out, Goals(sum, latency, WorkloadKnee, WorkloadIdle))
	if cfg.ResultsDir == "" {
		return nil
	}
	if err := os.MkdirAll(cfg.ResultsDir, 0o750); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r.report, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(cfg.ResultsDir, "bench-"+r.report.Started.Format("20060102-150405")+".json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(cfg.Out, "\nRaw results: %s\n", path)
	return nil
}
