package bench

import (
	"strings"
	"testing"
)

func testSummary() Summary {
	return Summary{
		"http1-4c": {
			MetricP50:      {SetupDirect: 0.1, SetupWeft: 0.3, SetupNginx: 0.4},
			MetricP99:      {SetupDirect: 1, SetupWeft: 3, SetupNginx: 2},
			MetricCPUTotal: {SetupWeft: 0.1, SetupNginx: 0.1},
		},
		WorkloadKnee: {MetricKnee: {SetupDirect: 8000, SetupWeft: 3000, SetupNginx: 4000}},
		WorkloadIdle: {MetricIdleSmall: {SetupWeft: 12, SetupNginx: 10}},
	}
}

func TestCell(t *testing.T) {
	sum := testSummary()
	Derive(sum)
	p50 := Row{MetricP50, "p50", "ms", 1, 3}
	tests := []struct {
		name  string
		row   Row
		setup string
		want  string
	}{
		{"both ratios", p50, SetupWeft, "0.300 ms (3.00×d, 0.75×n)"},
		{"no ratio to itself", p50, SetupNginx, "0.400 ms (4.00×d)"},
		{"reference", p50, SetupDirect, "0.100 ms (0.25×n)"},
		{"not measured", p50, SetupHAProxy, "-"},
		{"scaled", Row{MetricCPUTotal, "cpu", "ms", 1000, 1}, SetupWeft, "100.0 ms (1.00×n)"},
		{"differences have no ratio", Row{MetricAddedP50, "added", "ms", 1, 3}, SetupWeft, "0.200 ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Cell(sum, "http1-4c", tt.row, tt.setup); got != tt.want {
				t.Errorf("Cell = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWriteTable(t *testing.T) {
	sum := testSummary()
	Derive(sum)
	var b strings.Builder
	setups := []string{SetupDirect, SetupWeft, SetupNginx, SetupHAProxy}
	WriteTable(&b, []Section{
		{"http1-4c", "HTTP/1.1", LatencyRows()},
		{WorkloadKnee, "knee", []Row{{MetricKnee, "highest rate", "rps", 1, 0}}},
		{"absent", "never run", LatencyRows()},
	}, setups, sum)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := []string{
		"| workload | figure | direct | weft | nginx | haproxy |",
		"|---|---|---|---|---|---|",
		"| HTTP/1.1 | p50 | 0.100 ms (0.25×n) | 0.300 ms (3.00×d, 0.75×n) | 0.400 ms (4.00×d) | - |",
		"|  | p99 | 1.000 ms (0.50×n) | 3.000 ms (3.00×d, 1.50×n) | 2.000 ms (2.00×d) | - |",
		"|  | added p50 (− direct) | 0.000 ms | 0.200 ms | 0.300 ms | - |",
		"|  | added p99 (− direct) | 0.000 ms | 2.000 ms | 1.000 ms | - |",
		"|  | CPU both proxies /1k req | - | 100.0 ms (1.00×n) | 100.0 ms | - |",
		"| knee | highest rate | 8000 rps (2.00×n) | 3000 rps (0.38×d, 0.75×n) | 4000 rps (0.50×d) | - |",
	}
	if len(lines) != len(want) {
		t.Fatalf("table has %d lines, want %d:\n%s", len(lines), len(want), b.String())
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], want[i])
		}
	}
}

func TestGoals(t *testing.T) {
	sum := testSummary()
	Derive(sum)
	goals := Goals(sum, []string{"http1-4c"}, WorkloadKnee, WorkloadIdle)
	want := map[string]struct{ known, holds bool }{
		"added p50 ≤ nginx's, http1-4c":      {true, true},  // 0.2 ≤ 0.3
		"added p99 ≤ nginx's, http1-4c":      {true, false}, // 2 > 1
		"CPU /1k req ≤ 1.2× nginx, http1-4c": {true, true},
		"knee ≥ 0.8× nginx":                  {true, false}, // 3000 < 3200
		"idle RSS, small config < 20 MB":     {true, true},
	}
	if len(goals) != len(want) {
		t.Fatalf("%d goals, want %d", len(goals), len(want))
	}
	for _, g := range goals {
		w, ok := want[g.Name]
		if !ok {
			t.Errorf("unexpected goal %q", g.Name)
			continue
		}
		if g.Known != w.known || g.Holds != w.holds {
			t.Errorf("%s: known %v holds %v, want %v %v", g.Name, g.Known, g.Holds, w.known, w.holds)
		}
	}
	var b strings.Builder
	WriteGoals(&b, goals)
	if !strings.Contains(b.String(), "knee ≥ 0.8× nginx: weft 3000.0 rps, limit 3200.0 rps: MISSED") {
		t.Errorf("goals text:\n%s", b.String())
	}
	zero := Goals(Summary{WorkloadKnee: {MetricKnee: {SetupWeft: 0, SetupNginx: 0}}}, nil, WorkloadKnee, WorkloadIdle)
	if zero[0].Known {
		t.Errorf("a knee of 0 for nginx is no reference, got %+v", zero[0])
	}
	unknown := Goals(Summary{}, []string{"http1-4c"}, WorkloadKnee, WorkloadIdle)
	for _, g := range unknown {
		if g.Known || g.Holds {
			t.Errorf("%s: with nothing measured, known %v holds %v", g.Name, g.Known, g.Holds)
		}
	}
	b.Reset()
	WriteGoals(&b, unknown[:1])
	if got := b.String(); got != "- added p50 ≤ nginx's, http1-4c: not measured\n" {
		t.Errorf("unknown goal written as %q", got)
	}
}
