package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/weftmesh/weft/childproc"
)

// Run runs the demo and writes its report to cfg.Out. It returns nil only
// when every check held: all requests succeeded, from the frontend and
// from outside through the gateway, each sidecar verified the other's
// SPIFFE ID, the backend's sidecar verified the gateway's, the gateway set
// the edge headers in place of the client's forged ones, and plaintext to
// the backend's mesh port was refused.
// Every process it started has ended when it returns.
func Run(ctx context.Context, cfg Config) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "weft-demo-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil || cfg.KeepDir {
			fmt.Fprintf(cfg.Out, "\nConfiguration and logs kept in %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	l, err := newLayout(dir)
	if err != nil {
		return err
	}
	if err := l.write(); err != nil {
		return err
	}

	started := time.Now()
	var procs []*childproc.Process
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].Stop()
		}
	}()

	cp, err := childproc.Start(ctx, "weft-controlplane", l.logDir(), filepath.Join(cfg.BinDir, "weft-controlplane"),
		"--config-dir", l.configDir(),
		"--state-dir", l.stateDir(),
		"--xds-address", l.xdsAddr().String(),
		"--monitor-address", l.monitorAddr().String(),
		"--cert-ttl", "1h",
	)
	if err != nil {
		return err
	}
	procs = append(procs, cp)
	if err := cp.WaitHTTP(ctx, "http://"+l.monitorAddr().String()+"/ready"); err != nil {
		return err
	}

	backendApp, err := startEchoServer(ctx, backendName, l.backendApp().String())
	if err != nil {
		return err
	}
	defer backendApp.close()
	backendHTTP, err := startHTTPApp(ctx, backendName, l.backendHTTPApp().String())
	if err != nil {
		return err
	}
	defer backendHTTP.close()

	// The proxies: two sidecars, and the ingress gateway (weft-proxy in
	// gateway mode, docs/gateway.md).
	sidecars := []struct {
		name, sa, process string
		admin             string
		extra             []string
	}{
		{frontendName, frontendSA, frontendName + "-sidecar", l.adminAddr(l.frontend).String(), nil},
		{backendName, backendSA, backendName + "-sidecar", l.adminAddr(l.backend).String(), nil},
		{gatewayName, gatewaySA, gatewayName, l.adminAddr(l.gateway).String(), []string{"--mode=gateway"}},
	}
	var proxies []*childproc.Process
	for _, s := range sidecars {
		args := append(slices.Clone(s.extra),
			"--name", s.name,
			"--namespace", demoNamespace,
			"--service-account", s.sa,
			"--control-plane", l.xdsAddr().String(),
			"--ca-root-file", l.rootCert(),
			"--token-file", l.tokenFile(s.name),
			"--admin-address", s.admin,
			"--status-address", "", // the kubelet's port; several proxies share this host
		)
		p, err := childproc.Start(ctx, s.process, l.logDir(), filepath.Join(cfg.BinDir, "weft-proxy"), args...)
		if err != nil {
			return err
		}
		procs = append(procs, p)
		proxies = append(proxies, p)
	}
	for i, s := range sidecars {
		if err := proxies[i].WaitHTTP(ctx, "http://"+s.admin+"/ready"); err != nil {
			return err
		}
	}
	meshUp := time.Since(started)

	traffic := runTraffic(ctx, cfg, l.frontendOutbound().String(), backendName)
	edge := runGatewayTraffic(ctx, l, cfg.GatewayRequests)
	plaintextErr := probePlaintext(ctx, l.backendMesh().String())

	frontendMetrics, err := scrape(ctx, "http://"+sidecars[0].admin+"/metrics")
	if err != nil {
		return err
	}
	backendMetrics, err := scrape(ctx, "http://"+sidecars[1].admin+"/metrics")
	if err != nil {
		return err
	}
	r := report{
		layout:         l,
		meshUp:         meshUp,
		traffic:        traffic,
		edge:           edge,
		outboundPeers:  peerCounts(frontendMetrics, "outbound", ""),
		inboundPeers:   peerCounts(backendMetrics, "inbound", inboundListener(meshPort)),
		gatewayPeers:   peerCounts(backendMetrics, "inbound", inboundListener(httpMeshPort)),
		handshakeFails: total(backendMetrics, metricHandshakeErrs),
		plaintextErr:   plaintextErr,
	}
	checks := r.write(cfg.Out)
	if len(checks) > 0 {
		return errors.Join(checks...)
	}
	return nil
}

// inboundListener is the name of a sidecar's inbound listener for a
// workload port (docs/xds.md).
func inboundListener(port int) string { return fmt.Sprintf("inbound|%d", port) }
