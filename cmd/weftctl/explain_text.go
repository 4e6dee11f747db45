package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/weftmesh/weft/proxy/explain"
)

// writeExplainText prints a report for people: one line per step.
func writeExplainText(w io.Writer, rep *explain.Report) error {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "  %-11s %s\n", label, fmt.Sprintf(format, args...))
	}
	q := rep.Request
	fmt.Fprintf(&b, "%s %s  (authority %s, connecting to %s)\n", q.Method, q.Path, q.Authority, q.Destination)
	src := rep.Source
	fmt.Fprintf(&b, "source %s%s\n", src.Proxy, ident(src.ID))
	if src.Listener != "" {
		via := ""
		if src.Via != "" {
			via = ", through " + src.Via
		}
		line("listener", "%s on %s%s, chain %s (%s)", src.Listener, src.Address, via, src.Chain, src.Protocol)
	}
	if src.Authz != nil {
		line("authz", "%s", src.Authz.Summary)
	}
	if src.Route != "" {
		line("route", "%s › %s › %s", src.RouteConfig, src.VirtualHost, src.Route)
	}
	for _, c := range src.Clusters {
		weight := ""
		if c.Weight > 0 {
			weight = fmt.Sprintf(" weight %d/%d", c.Weight, c.TotalWeight)
		}
		props := []string{c.Type}
		if c.LBPolicy != "" {
			props = append(props, c.LBPolicy)
		}
		if c.MTLS {
			props = append(props, "mTLS")
		}
		if c.HTTP2 {
			props = append(props, "HTTP/2")
		}
		line("cluster", "%s%s (%s)", c.Name, weight, strings.Join(props, ", "))
		if c.Path != "" || c.Host != "" {
			line("", "forwarded as %s %s", orKeep(c.Host, q.Authority), orKeep(c.Path, q.Path))
		}
		var eps []string
		for _, e := range c.Endpoints {
			eps = append(eps, e.Address)
		}
		if len(eps) > 0 {
			line("endpoints", "%s", strings.Join(eps, ", "))
		}
		if c.Picked != "" {
			line("picks", "%s: %s", c.Picked, c.Pick)
		} else {
			line("picks", "%s", c.Pick)
		}
	}
	if d := rep.Destination; d != nil {
		fmt.Fprintf(&b, "destination %s%s\n", d.Proxy, ident(d.ID))
		line("listener", "%s, chain %s, port %d (%s, %s) for endpoint %s of %s", d.Listener, d.Chain, d.Port, d.Transport, d.Protocol, d.Endpoint, d.Cluster)
		if d.Authz != nil {
			line("authz", "%s", d.Authz.Summary)
		}
		if d.Route != "" {
			line("route", "%s", d.Route)
		}
		if d.Upstream != "" {
			line("upstream", "%s → %s", d.UpstreamCluster, d.Upstream)
		}
	}
	fmt.Fprintf(&b, "outcome: %s\n", rep.Outcome.Summary)
	_, err := io.WriteString(w, b.String())
	return err
}

func ident(id string) string {
	if id == "" {
		return " (identity unknown)"
	}
	return " (" + id + ")"
}

func orKeep(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
