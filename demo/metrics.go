package demo

import (
	"context"
	"fmt"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric names and labels the demo reads from each sidecar's admin port.
const (
	metricConnections   = "weft_proxy_connections_total"
	metricHandshakeErrs = "weft_proxy_tls_handshake_errors_total"
	labelDirection      = "direction"
	labelListener       = "listener"
	labelPeerID         = "peer_id"
	labelResult         = "result"
)

// scrape fetches and parses a Prometheus text page.
func scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing metrics from %s: %w", url, err)
	}
	return families, nil
}

// peerCounts sums a connection counter by peer_id for one direction (and
// one listener, unless listener is empty), keeping only connections whose
// result is "ok" when the label exists.
func peerCounts(families map[string]*dto.MetricFamily, direction, listener string) map[string]float64 {
	out := map[string]float64{}
	fam := families[metricConnections]
	if fam == nil {
		return out
	}
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels[labelDirection] != direction || (listener != "" && labels[labelListener] != listener) {
			continue
		}
		if r, ok := labels[labelResult]; ok && r != "ok" {
			continue
		}
		out[labels[labelPeerID]] += m.GetCounter().GetValue()
	}
	return out
}

// total sums every series of a counter family.
func total(families map[string]*dto.MetricFamily, name string) float64 {
	var sum float64
	if fam := families[name]; fam != nil {
		for _, m := range fam.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
