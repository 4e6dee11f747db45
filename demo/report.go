package demo

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// report is what one run found, and the checks it must pass.
type report struct {
	layout         *layout
	meshUp         time.Duration
	traffic        trafficResult
	edge           gatewayResult
	outboundPeers  map[string]float64 // frontend sidecar: peer_id -> connections
	inboundPeers   map[string]float64 // backend sidecar, TCP port: peer_id -> connections
	gatewayPeers   map[string]float64 // backend sidecar, HTTP port: peer_id -> connections
	handshakeFails float64
	plaintextErr   error
}

func identity(sa string) string {
	return "spiffe://" + trustDomain + "/ns/" + demoNamespace + "/sa/" + sa
}

// write prints the report and returns the checks that failed.
func (r report) write(w io.Writer) []error {
	var failed []error
	check := func(ok bool, err error) string {
		if ok {
			return "ok"
		}
		failed = append(failed, err)
		return "FAILED"
	}
	l := r.layout
	t := r.traffic
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }

	p("Weft demo: a control plane, two workloads with sidecars and an ingress gateway, as processes on loopback")
	p("")
	p("  control plane  %-22s xDS + CA over TLS, trust domain %s", l.xdsAddr(), trustDomain)
	p("  frontend-1     %-22s sidecar, identity %s", l.frontend, identity(frontendSA))
	p("  backend-1      %-22s sidecar, identity %s", l.backend, identity(backendSA))
	p("  %-14s %-22s gateway %s/%s (HTTPS %d for %s, HTTP %d), identity %s", gatewayName, l.gateway,
		demoNamespace, gatewayObject, gatewayHTTPSPort, gatewayHost, gatewayHTTPPort, identity(gatewaySA))
	p("  mesh ready in  %s (certificates issued, configuration pushed and applied)", r.meshUp.Round(time.Millisecond))
	p("")
	p("Traffic: frontend -> frontend sidecar -> mTLS -> backend sidecar -> backend")
	status := check(t.sent > 0 && t.succeeded == t.sent,
		fmt.Errorf("%d of %d requests failed; first error: %w", t.sent-t.succeeded, t.sent, t.firstErr))
	p("  requests       %d sent, %d succeeded  [%s]", t.sent, t.succeeded, status)
	rt := sortedCopy(t.roundTrips)
	p("  round trip     p50 %s  p90 %s  p99 %s  max %s   (%d x 1 KiB on %d kept-alive connections)",
		ms(percentile(rt, 50)), ms(percentile(rt, 90)), ms(percentile(rt, 99)), ms(percentile(rt, 100)), len(rt), t.connections)
	if su := sortedCopy(t.setups); len(su) > 0 {
		p("  new connection p50 %s  p90 %s  p99 %s  max %s   (connect, mTLS handshake and first round trip; %d connections)",
			ms(percentile(su, 50)), ms(percentile(su, 90)), ms(percentile(su, 99)), ms(percentile(su, 100)), len(su))
	}
	p("")
	p("Traffic from outside: client %s -> gateway (HTTPS, SNI %s) -> mTLS -> backend sidecar -> backend", l.client, gatewayHost)
	e := r.edge
	status = check(e.sent > 0 && e.succeeded == e.sent && e.plainOK,
		fmt.Errorf("through the gateway, %d of %d HTTPS requests failed (HTTP listener ok: %v); first error: %w",
			e.sent-e.succeeded, e.sent, e.plainOK, e.firstErr))
	p("  requests       %d sent over HTTPS, %d succeeded (%s); 1 over HTTP: %s  [%s]",
		e.sent, e.succeeded, protoCounts(e.protos), okText(e.plainOK), status)
	p("  edge headers   each request forged X-Forwarded-For %s, x-forwarded-client-cert and %s;", forgedForwardedFor, forgedWeftHeader)
	p("                 the backend saw X-Forwarded-For %s only, X-Forwarded-Proto https/http, a new X-Request-Id,", l.client)
	p("                 no x-forwarded-client-cert and no x-weft-* header (checked on every answer above)")
	p("")
	p("mTLS hops, as each sidecar verified its peer (from its /metrics)")
	wantBackend, wantFrontend := identity(backendSA), identity(frontendSA)
	status = check(onlyPeer(r.outboundPeers, wantBackend),
		fmt.Errorf("frontend sidecar should have verified only %s, saw %v", wantBackend, r.outboundPeers))
	p("  frontend sidecar -> backend:  %s  [%s]", peers(r.outboundPeers), status)
	status = check(onlyPeer(r.inboundPeers, wantFrontend),
		fmt.Errorf("backend sidecar should have verified only %s, saw %v", wantFrontend, r.inboundPeers))
	p("  backend sidecar <- frontend:  %s  [%s]", peers(r.inboundPeers), status)
	wantGateway := identity(gatewaySA)
	status = check(onlyPeer(r.gatewayPeers, wantGateway),
		fmt.Errorf("backend sidecar should have verified only the gateway's %s on its HTTP port, saw %v", wantGateway, r.gatewayPeers))
	p("  backend sidecar <- gateway:   %s  [%s]", peers(r.gatewayPeers), status)
	p("")
	switch {
	case r.plaintextErr != nil:
		status = check(false, fmt.Errorf("plaintext to the backend's mesh port was not refused: %w", r.plaintextErr))
	case r.handshakeFails < 1:
		status = check(false, errors.New("the backend sidecar counted no failed handshake for the plaintext probe"))
	default:
		status = check(true, nil)
	}
	p("Plaintext to the backend's mesh port %s: refused, closed without a byte of answer;", l.backendMesh())
	p("  the backend sidecar counted %v failed TLS handshake(s)  [%s]", r.handshakeFails, status)
	p("")
	if len(failed) == 0 {
		p("PASS: every check held.")
	} else {
		p("FAIL: %d check(s) did not hold:", len(failed))
		for _, err := range failed {
			p("  - %v", err)
		}
	}
	return failed
}

func onlyPeer(counts map[string]float64, want string) bool {
	return len(counts) == 1 && counts[want] > 0
}

func peers(counts map[string]float64) string {
	if len(counts) == 0 {
		return "no verified peer"
	}
	var s string
	for _, id := range slices.Sorted(maps.Keys(counts)) {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%s (%v connections)", id, counts[id])
	}
	return s
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func protoCounts(protos map[string]int) string {
	if len(protos) == 0 {
		return "no answer"
	}
	var s string
	for _, p := range slices.Sorted(maps.Keys(protos)) {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%d over %s", protos[p], p)
	}
	return s
}

func okText(ok bool) string {
	if ok {
		return "ok"
	}
	return "failed"
}
