package controlplane

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weftmesh/weft/controlplane/translate"
)

// monitorHandler serves the monitoring port: /metrics, /ready (200 once the
// first configuration has been pushed), /debug/proxies (what each
// connected proxy acknowledged or refused) and /debug/policies (the
// policies and routes applied only in part, and why: translate.Check).
func (c *ControlPlane) monitorHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(c.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		if !c.ready.Load() {
			http.Error(w, "no configuration loaded yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /debug/proxies", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(c.xds.Status())
	})
	mux.HandleFunc("GET /debug/policies", func(w http.ResponseWriter, _ *http.Request) {
		problems := []translate.Problem{}
		if p := c.problems.Load(); p != nil && *p != nil {
			problems = *p
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(problems)
	})
	return mux
}
