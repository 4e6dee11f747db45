package identity_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftmesh/weft/proxy/identity"
)

// TestManagerRenewalMetricsAndCerts follows two renewals of a 2s
// certificate through the metrics and Certs.
func TestManagerRenewalMetricsAndCerts(t *testing.T) {
	c := newTestCA(t, map[string][2]string{"cart-token": {"shop", "cart"}})
	lis := listen(t)
	c.serve(t, lis, nil)
	cfg := c.config(t, lis.Addr().String(), "shop", "cart", "cart-token")
	cfg.TTL = 2 * time.Second
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	received := time.Now()
	m := startManager(t, cfg)

	first, err := m.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	leaf := first.Certificates[0]
	if got := gauge(t, reg, "weft_proxy_svid_expiry_timestamp_seconds"); got != float64(leaf.NotAfter.Unix()) {
		t.Errorf("expiry gauge = %v, want NotAfter %d", got, leaf.NotAfter.Unix())
	}
	if got := gauge(t, reg, "weft_certificate_expiry_timestamp_seconds"); got != float64(leaf.NotAfter.Unix()) {
		t.Errorf("weft_certificate_expiry_timestamp_seconds = %v, want NotAfter %d", got, leaf.NotAfter.Unix())
	}
	for _, result := range []string{"success", "failure"} {
		if got, ok := sample(t, reg, "weft_proxy_svid_renewals_total", result); !ok || got != 0 {
			t.Errorf("renewals{result=%q} = %v (present %v) before any renewal, want a 0 sample", result, got, ok)
		}
	}

	certs, err := m.Certs(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if certs.Source != identity.SourceCA || certs.SPIFFEID != m.ID().String() || certs.TrustDomain != "cluster.test" {
		t.Errorf("Certs = %q %q %q, want weft-ca, %s, cluster.test", certs.Source, certs.SPIFFEID, certs.TrustDomain, m.ID())
	}
	if len(certs.Chain) != 1 || certs.Chain[0].Serial != leaf.SerialNumber.Text(16) ||
		!slices.Equal(certs.Chain[0].URISANs, []string{m.ID().String()}) || certs.Chain[0].ExpiresInSeconds > 2 {
		t.Errorf("Certs chain = %+v, want the leaf %x of %s expiring within 2s", certs.Chain, leaf.SerialNumber, m.ID())
	}
	if len(certs.Roots) != 1 || certs.Roots[0].Serial != c.auth.Bundle()[0].SerialNumber.Text(16) {
		t.Errorf("Certs roots = %+v, want the CA's root", certs.Roots)
	}
	// The renewal is due between 40% and 55% of the 2s lifetime counted
	// from receipt, not from the backdated NotBefore (a minute earlier).
	lifetime := leaf.NotAfter.Sub(received)
	earliest := received.Add(time.Duration(0.40*float64(lifetime)) - 100*time.Millisecond)
	latest := time.Now().Add(time.Duration(0.55 * float64(lifetime)))
	if certs.RenewAt == nil || certs.RenewAt.Before(earliest) || certs.RenewAt.After(latest) {
		t.Errorf("renew_at = %v, want between %v and %v", certs.RenewAt, earliest, latest)
	}

	waitUntil(t, "two renewals", func() bool {
		return counter(t, reg, "weft_proxy_svid_renewals_total", "success") >= 2
	})
	cur, _ := m.GetX509SVID()
	if got := gauge(t, reg, "weft_proxy_svid_expiry_timestamp_seconds"); got != float64(cur.Certificates[0].NotAfter.Unix()) || !cur.Certificates[0].NotAfter.After(leaf.NotAfter) {
		t.Errorf("expiry gauge = %v after renewals, want the current NotAfter %d, later than the first", got, cur.Certificates[0].NotAfter.Unix())
	}
}

// TestManagerRenewalFailuresAreLoud stops the CA: failed renewals are
// counted and logged at warn level, and at error level once the
// certificate has expired.
func TestManagerRenewalFailuresAreLoud(t *testing.T) {
	c := newTestCA(t, map[string][2]string{"cart-token": {"shop", "cart"}})
	lis := listen(t)
	stop := c.serve(t, lis, nil)
	cfg := c.config(t, lis.Addr().String(), "shop", "cart", "cart-token")
	cfg.TTL = 2 * time.Second
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	logs := &recorder{}
	cfg.Logger = slog.New(logs.handler(t))
	m := startManager(t, cfg)
	stop()

	waitUntil(t, "a failed renewal to be counted and logged at warn", func() bool {
		return counter(t, reg, "weft_proxy_svid_renewals_total", "failure") >= 1 &&
			logs.has(slog.LevelWarn, "certificate renewal failed")
	})
	waitUntil(t, "an error once the certificate expired", func() bool {
		return logs.has(slog.LevelError, "certificate renewal failing and the current certificate has expired")
	})
	if got := counter(t, reg, "weft_proxy_svid_renewals_total", "success"); got != 0 {
		t.Errorf("renewals{success} = %v with the CA down, want 0", got)
	}
	if _, err := m.GetX509SVID(); err != nil {
		t.Errorf("GetX509SVID: %v, want the expired SVID still served until a new one comes", err)
	}
}

// recorder keeps the level and message of every log record.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) handler(t *testing.T) slog.Handler {
	return recordingHandler{Handler: slog.NewTextHandler(t.Output(), nil), r: r}
}

func (r *recorder) has(level slog.Level, msg string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.records, func(rec slog.Record) bool { return rec.Level == level && rec.Message == msg })
}

type recordingHandler struct {
	slog.Handler
	r *recorder
}

func (h recordingHandler) Handle(ctx context.Context, rec slog.Record) error {
	h.r.mu.Lock()
	h.r.records = append(h.r.records, rec)
	h.r.mu.Unlock()
	return h.Handler.Handle(ctx, rec)
}

func (h recordingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return recordingHandler{Handler: h.Handler.WithAttrs(attrs), r: h.r}
}

func (h recordingHandler) WithGroup(name string) slog.Handler {
	return recordingHandler{Handler: h.Handler.WithGroup(name), r: h.r}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// sample returns the value of family name's sample (with label result when
// not empty), and whether there is one.
func sample(t *testing.T, reg *prometheus.Registry, name, result string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if result != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != result) {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	v, _ := sample(t, reg, name, "")
	return v
}

func counter(t *testing.T, reg *prometheus.Registry, name, result string) float64 {
	t.Helper()
	v, _ := sample(t, reg, name, result)
	return v
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }
func b64Of(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
