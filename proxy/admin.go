package proxy

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weftmesh/weft/proxy/dataplane"
	"github.com/weftmesh/weft/proxy/identity"
)

// adminHandler serves the admin port: /ready, /metrics, /config_dump (the
// configuration the proxy applied, as JSON), /certs (the workload's
// certificate chain and trust bundle, and a gateway's served certificates,
// as JSON, never a private key) and
// /debug/pprof/ (Go's profiles, for `go tool pprof`). The port is meant for
// loopback only: it shows configuration and profiles.
func (p *Proxy) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		if err := p.readiness(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /config_dump", func(w http.ResponseWriter, _ *http.Request) {
		dp := p.dataplane.Load()
		if dp == nil {
			http.Error(w, "no configuration yet", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		body, err := dp.ConfigDump()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(body)
	})
	mux.HandleFunc("GET /certs", func(w http.ResponseWriter, _ *http.Request) {
		id := p.identity.Load()
		if id == nil {
			http.Error(w, "no certificate yet", http.StatusServiceUnavailable)
			return
		}
		now := time.Now()
		certs, err := id.Certs(now)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if dp := p.dataplane.Load(); dp != nil {
			certs.Served = servedCerts(dp.ServedCertificates(), now)
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(certs)
	})
	return mux
}

// servedCerts describes the certificates a gateway serves, for /certs.
func servedCerts(served []dataplane.ServedCertificate, now time.Time) []identity.ServedCert {
	out := make([]identity.ServedCert, 0, len(served))
	for _, sc := range served {
		c := identity.ServedCert{Name: sc.Name}
		for _, cert := range sc.Chain {
			c.Chain = append(c.Chain, identity.DescribeCert(cert, now))
		}
		out = append(out, c)
	}
	return out
}
