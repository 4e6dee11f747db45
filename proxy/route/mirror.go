package route

import (
	"math/rand/v2"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

// MirrorPolicy is one of a route's request_mirror_policies: a copy of
// each sampled request goes to Cluster, and its response is discarded.
type MirrorPolicy struct {
	Cluster string
	// Numerator out of Denominator requests are mirrored
	// (runtime_fraction's default_value); 100 out of 100 when unset.
	Numerator, Denominator uint64
}

// Sampled reports whether this request is mirrored.
func (m MirrorPolicy) Sampled() bool {
	if m.Numerator >= m.Denominator {
		return true
	}
	return rand.Uint64N(m.Denominator) < m.Numerator //nolint:gosec // sampling, not security
}

// compileMirrors checks request_mirror_policies: a cluster and an
// optional runtime_fraction whose default_value is the share mirrored
// (its runtime_key is accepted and ignored: the proxy has no runtime).
func compileMirrors(p *problems, path string, policies []*routev3.RouteAction_RequestMirrorPolicy) []MirrorPolicy {
	var out []MirrorPolicy
	for i, mp := range policies {
		at := index(path, i)
		p.OnlyFields(at, mp, "cluster", "runtime_fraction")
		m := MirrorPolicy{Cluster: mp.GetCluster(), Numerator: 100, Denominator: 100}
		if m.Cluster == "" {
			p.Addf(field(at, "cluster"), "empty")
		}
		if rf := mp.GetRuntimeFraction(); rf != nil {
			rpath := field(at, "runtime_fraction")
			p.OnlyFields(rpath, rf, "default_value", "runtime_key")
			dv := rf.GetDefaultValue()
			m.Numerator = uint64(dv.GetNumerator())
			switch dv.GetDenominator() {
			case typev3.FractionalPercent_HUNDRED:
				m.Denominator = 100
			case typev3.FractionalPercent_TEN_THOUSAND:
				m.Denominator = 10_000
			case typev3.FractionalPercent_MILLION:
				m.Denominator = 1_000_000
			default:
				p.Addf(field(rpath, "default_value.denominator"), "unsupported %s", dv.GetDenominator())
			}
		}
		out = append(out, m)
	}
	return out
}
