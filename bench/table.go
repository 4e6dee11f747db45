package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Row is one figure of a section of the table.
type Row struct {
	Metric string  // key in Sample.Values
	Label  string  // what the row shows
	Unit   string  // printed after the value
	Scale  float64 // value × Scale is printed
	Digits int     // decimals printed
}

// Section is one workload's block of rows.
type Section struct {
	Workload string
	Title    string
	Rows     []Row
}

// Metric keys.
const (
	MetricP50       = "p50_ms"
	MetricP90       = "p90_ms"
	MetricP99       = "p99_ms"
	MetricP999      = "p999_ms"
	MetricAddedP50  = "added_p50_ms"
	MetricAddedP99  = "added_p99_ms"
	MetricCPUClient = "cpu_client_s_per_1k"
	MetricCPUServer = "cpu_server_s_per_1k"
	MetricCPUTotal  = "cpu_total_s_per_1k"
	MetricHWMClient = "hwm_client_mb"
	MetricHWMServer = "hwm_server_mb"
	MetricKnee      = "knee_rps"
	MetricConnRate  = "conns_per_s"
	MetricConnCPU   = "cpu_server_ms_per_conn"
	MetricBulk      = "mb_per_s"
	MetricIdleSmall = "idle_rss_small_mb"
	// MetricIdlePrivate is the idle RSS less its file-backed pages (the
	// binary's and shared libraries' pages in the page cache, shared with
	// every process mapping them): what one more sidecar costs.
	MetricIdlePrivate = "idle_private_small_mb"
	MetricIdleMany    = "idle_rss_many_mb"
)

// LatencyRows are the rows of a constant-rate workload.
func LatencyRows() []Row {
	return []Row{
		{MetricP50, "p50", "ms", 1, 3},
		{MetricP90, "p90", "ms", 1, 3},
		{MetricP99, "p99", "ms", 1, 3},
		{MetricP999, "p99.9", "ms", 1, 3},
		{MetricAddedP50, "added p50 (− direct)", "ms", 1, 3},
		{MetricAddedP99, "added p99 (− direct)", "ms", 1, 3},
		{MetricCPUClient, "CPU client-side proxy /1k req", "ms", 1000, 1},
		{MetricCPUServer, "CPU server-side proxy /1k req", "ms", 1000, 1},
		{MetricCPUTotal, "CPU both proxies /1k req", "ms", 1000, 1},
		{MetricHWMClient, "peak RSS client-side proxy", "MB", 1, 1},
		{MetricHWMServer, "peak RSS server-side proxy", "MB", 1, 1},
	}
}

// Derive adds the figures computed from others: the latency added to
// direct's and the CPU of both proxies together.
func Derive(sum Summary) {
	for _, metrics := range sum {
		for _, pair := range [][2]string{{MetricP50, MetricAddedP50}, {MetricP99, MetricAddedP99}} {
			by, ok := metrics[pair[0]]
			if !ok {
				continue
			}
			base, ok := by[SetupDirect]
			if !ok {
				continue
			}
			added := map[string]float64{}
			for s, v := range by {
				added[s] = v - base
			}
			metrics[pair[1]] = added
		}
		if c, ok := metrics[MetricCPUClient]; ok {
			total := map[string]float64{}
			for s, v := range c {
				if w, ok := metrics[MetricCPUServer][s]; ok {
					total[s] = v + w
				}
			}
			metrics[MetricCPUTotal] = total
		}
	}
}

// WriteTable writes the sections as one Markdown table: a column per
// set-up, each cell the median and its ratios to direct (d) and to nginx
// (n). Rows no set-up measured are left out.
func WriteTable(w io.Writer, sections []Section, setups []string, sum Summary) {
	var b strings.Builder
	b.WriteString("| workload | figure |")
	for _, s := range setups {
		b.WriteString(" " + s + " |")
	}
	b.WriteString("\n|---|---|")
	for range setups {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, sec := range sections {
		first := true
		for _, r := range sec.Rows {
			if !measured(sum, sec.Workload, r.Metric, setups) {
				continue
			}
			title := ""
			if first {
				title, first = sec.Title, false
			}
			fmt.Fprintf(&b, "| %s | %s |", title, r.Label)
			for _, s := range setups {
				b.WriteString(" " + Cell(sum, sec.Workload, r, s) + " |")
			}
			b.WriteString("\n")
		}
	}
	_, _ = io.WriteString(w, b.String())
}

func measured(sum Summary, workload, metric string, setups []string) bool {
	for _, s := range setups {
		if !math.IsNaN(sum.Get(workload, metric, s)) {
			return true
		}
	}
	return false
}

// Cell formats one median with its ratios to direct and nginx, "-" when the
// set-up was not measured. Ratios are left out of a reference's own cell
// and of differences (added latency), whose ratios mean nothing.
func Cell(sum Summary, workload string, r Row, setup string) string {
	v := sum.Get(workload, r.Metric, setup)
	if math.IsNaN(v) {
		return "-"
	}
	text := fmt.Sprintf("%.*f %s", r.Digits, v*r.Scale, r.Unit)
	if r.Metric == MetricAddedP50 || r.Metric == MetricAddedP99 {
		return text
	}
	var ratios []string
	for _, ref := range []struct{ setup, tag string }{{SetupDirect, "d"}, {SetupNginx, "n"}} {
		if ref.setup == setup {
			continue
		}
		if x := Ratio(v, sum.Get(workload, r.Metric, ref.setup)); !math.IsNaN(x) {
			ratios = append(ratios, fmt.Sprintf("%.2f×%s", x, ref.tag))
		}
	}
	if len(ratios) > 0 {
		text += " (" + strings.Join(ratios, ", ") + ")"
	}
	return text
}

// Goal is one of issue 5's targets, checked against the medians.
type Goal struct {
	Name   string
	Weft   float64
	Limit  float64
	Unit   string
	Holds  bool
	Known  bool // false when a figure it needs was not measured
	Detail string
}

// Goals checks Weft's targets: added latency at the constant rate no worse
// than nginx's at p50 and p99, CPU per 1,000 requests at most 1.2× nginx's,
// knee at least 0.8× nginx's, idle RSS with a small configuration under
// 20 MB.
func Goals(sum Summary, latencyWorkloads []string, kneeWorkload, idleWorkload string) []Goal {
	var goals []Goal
	atMost := func(name, workload, metric string, factor float64, unit string) {
		w, n := sum.Get(workload, metric, SetupWeft), sum.Get(workload, metric, SetupNginx)
		g := Goal{Name: name, Weft: w, Limit: n * factor, Unit: unit}
		g.Known = !math.IsNaN(w) && !math.IsNaN(n)
		g.Holds = g.Known && w <= n*factor
		goals = append(goals, g)
	}
	for _, wl := range latencyWorkloads {
		atMost("added p50 ≤ nginx's, "+wl, wl, MetricAddedP50, 1, "ms")
		atMost("added p99 ≤ nginx's, "+wl, wl, MetricAddedP99, 1, "ms")
		atMost("CPU /1k req ≤ 1.2× nginx, "+wl, wl, MetricCPUTotal, 1.2, "s")
	}
	w, n := sum.Get(kneeWorkload, MetricKnee, SetupWeft), sum.Get(kneeWorkload, MetricKnee, SetupNginx)
	g := Goal{Name: "knee ≥ 0.8× nginx", Weft: w, Limit: 0.8 * n, Unit: "rps"}
	// A knee of 0 is below the first rate tried: not a figure to compare.
	g.Known = !math.IsNaN(w) && !math.IsNaN(n) && n > 0
	g.Holds = g.Known && w >= 0.8*n
	goals = append(goals, g)
	idle := sum.Get(idleWorkload, MetricIdleSmall, SetupWeft)
	goals = append(goals, Goal{Name: "idle RSS, small config < 20 MB", Weft: idle, Limit: 20, Unit: "MB",
		Known: !math.IsNaN(idle), Holds: idle < 20})
	return goals
}

// WriteGoals writes one line per goal.
func WriteGoals(w io.Writer, goals []Goal) {
	for _, g := range goals {
		if !g.Known {
			fmt.Fprintf(w, "- %s: not measured\n", g.Name)
			continue
		}
		verdict := "MISSED"
		if g.Holds {
			verdict = "met"
		}
		scale, digits, unit := 1.0, 3, g.Unit
		switch unit {
		case "s":
			scale, digits, unit = 1000, 1, "ms"
		case "rps", "MB":
			digits = 1
		}
		fmt.Fprintf(w, "- %s: weft %.*f %s, limit %.*f %s: %s\n", g.Name,
			digits, g.Weft*scale, unit, digits, g.Limit*scale, unit, verdict)
	}
}
