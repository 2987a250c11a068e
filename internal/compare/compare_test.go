package compare

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wsgilab/internal/bench"
	"wsgilab/internal/stats"

	"wsgilab/internal/testsupport"
)

func td(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join("testdata", n)
	}
	return out
}

func text(t *testing.T, c *Comparison) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := c.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The table layouts are golden files: a change of column, wording or number format shows up
// as a diff to review (go test ./internal/compare -update rewrites them).
func TestCompareGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		a, b   []string
		opt    Options
	}{
		{"compare_throughput.golden", td("throughput_a.json"), td("throughput_b.json"), Options{}},
		{"compare_throughput_pooled_welch.golden", td("throughput_a.json", "throughput_a2.json"), td("throughput_b.json"), Options{Test: stats.Welch}},
		{"compare_bench_timeline.golden", td("bench_prefork.json"), td("bench_event.json"), Options{}},
		{"compare_bench_runs.golden", td("bench_prefork_1.json", "bench_prefork_2.json", "bench_prefork_3.json", "bench_prefork_4.json"),
			td("bench_event_1.json", "bench_event_2.json", "bench_event_3.json", "bench_event_4.json"), Options{}},
		{"compare_bench_runs_unbalanced.golden", td("bench_prefork_1.json"), td("bench_event_1.json", "bench_event_2.json"), Options{}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			c, err := CompareFiles(tc.a, tc.b, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			testsupport.Golden(t, tc.golden, text(t, c))
		})
	}
}

func TestComparePairwiseGolden(t *testing.T) {
	testsupport.Golden(t, "compare_pairwise.golden", text(t, pairwise(t, "testdata/throughput_small.json")))
}

// pairwise is the comparison of every pair of cells of the run in path.
func pairwise(t *testing.T, path string) *Comparison {
	t.Helper()
	in, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ComparePairwise(in.Path, in.Run, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The JSON output is golden too: it is an interface for scripts, documented in doc.go.
func TestCompareJSONGolden(t *testing.T) {
	c, err := CompareFiles(td("throughput_a.json"), td("throughput_b.json"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := c.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	// Compared as decoded JSON with a relative tolerance: the layout and every field are
	// checked, but the last bits of a float may differ where the compiler fuses multiply-adds
	// (arm64), and that is not a change of output.
	if testsupport.Updating() {
		testsupport.Golden(t, "compare_throughput.json.golden", b.Bytes())
	}
	want, err := os.ReadFile("testdata/compare_throughput.json.golden")
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(b.Bytes(), &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if path := jsonDiff(g, w, "$"); path != "" {
		t.Errorf("JSON output differs from testdata/compare_throughput.json.golden at %s; got:\n%s", path, b.Bytes())
	}
	var back Comparison
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.Kind != CompareKind || len(back.Rows) != 6 {
		t.Errorf("JSON does not read back: %v %+v", err, back)
	}
}

// jsonDiff returns the path of the first difference between two decoded JSON values, numbers
// equal within a relative 1e-9, or "" when they match.
func jsonDiff(got, want any, path string) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return path
		}
		for k := range w {
			if d := jsonDiff(g[k], w[k], path+"."+k); d != "" {
				return d
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return path
		}
		for i := range w {
			if d := jsonDiff(g[i], w[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
	case float64:
		g, ok := got.(float64)
		if !ok || math.Abs(g-w) > 1e-9*math.Max(math.Abs(w), 1) {
			return path
		}
	default:
		if got != want {
			return path
		}
	}
	return ""
}

func TestCompareThroughputContent(t *testing.T) {
	c, err := CompareFiles(td("throughput_a.json"), td("throughput_b.json"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Input != "throughput" || c.Test != stats.MannWhitney || c.Alpha != 0.05 || c.Confidence != 0.95 {
		t.Errorf("header = %+v", c)
	}
	r := c.Rows[0]
	// prefork req/s 563 548 571 555 560 vs 589 580 594 585 591: separated, p = 2/252.
	if r.Cell != "prefork-embedded-green" || r.Metric != "req/s" || !r.Comparison.Significant ||
		r.Comparison.Verdict != "+5.1% (p=0.008 n=5+5)" || r.A.Mean != 559.4 {
		t.Errorf("first row = %+v", r)
	}
	if len(c.Notes) != 2 {
		t.Errorf("notes = %q, want one per unmatched cell", c.Notes)
	}
}

func TestComparePooling(t *testing.T) {
	c, err := CompareFiles(td("throughput_a.json", "throughput_a2.json"), td("throughput_b.json"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Rows[0].A.N; n != 8 {
		t.Errorf("pooled A has n=%d, want 5+3", n)
	}
	if !strings.Contains(c.Basis[0], "pooled") {
		t.Errorf("basis %q does not say the samples were pooled", c.Basis)
	}
}

func TestCompareBenchTimeline(t *testing.T) {
	c, err := CompareFiles(td("bench_prefork.json"), td("bench_event.json"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// 8 timeline entries, the last one partial (elapsed 7.38 s): 7 full seconds of req/s,
	// but all 8 seconds carry latency percentiles.
	if c.Rows[0].A.N != 7 || c.Rows[1].A.N != 8 {
		t.Errorf("n = %d req/s, %d p50; want 7 and 8", c.Rows[0].A.N, c.Rows[1].A.N)
	}
	if c.Rows[0].A.Min != 549 {
		t.Errorf("the partial last second leaked into req/s: min = %v", c.Rows[0].A.Min)
	}
}

func TestPerSecondFillsGapsAndDropsPartialSecond(t *testing.T) {
	b := &bench.Result{Elapsed: 3500 * time.Millisecond, Timeline: []bench.Second{
		{Second: 0, Completed: 100, P50: 1 * time.Millisecond, P99: 3 * time.Millisecond},
		{Second: 2, Completed: 90, P50: 2 * time.Millisecond, P99: 4 * time.Millisecond},
		{Second: 3, Completed: 40, P50: 2 * time.Millisecond, P99: 4 * time.Millisecond}}}
	rps, p50, p99 := perSecond(b)
	// Second 1 had no completions (a stall: 0 req/s, no latency); second 3 is half a second.
	if want := []float64{100, 0, 90}; !equal(rps, want) {
		t.Errorf("req/s = %v, want %v", rps, want)
	}
	if want := []float64{1, 2, 2}; !equal(p50, want) || len(p99) != 3 {
		t.Errorf("p50 = %v, want %v", p50, want)
	}
	// A run ending exactly on a second boundary keeps its last second.
	b.Elapsed = 4 * time.Second
	if rps, _, _ := perSecond(b); len(rps) != 4 {
		t.Errorf("whole last second dropped: %v", rps)
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestComparePairwiseErrors(t *testing.T) {
	in, err := Load("testdata/throughput_one_cell.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ComparePairwise(in.Path, in.Run, Options{}); err == nil || !strings.Contains(err.Error(), "one cell") {
		t.Errorf("one cell: %v", err)
	}
}

func TestCompareShortTimelines(t *testing.T) {
	// bench_*_1.json ran 2.4 s: two full seconds per side, which cannot show a difference.
	c, err := CompareFiles(td("bench_prefork_1.json"), td("bench_event_1.json"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Notes) != 2 || !strings.Contains(c.Notes[0], "A's timeline has 2 full second(s)") {
		t.Errorf("notes = %q", c.Notes)
	}
	if c.Rows[0].A.N != 2 || c.Rows[0].Comparison.Significant {
		t.Errorf("req/s row = %+v", c.Rows[0])
	}
}

func TestCompareSubSecondRunFallsBackToWholeRun(t *testing.T) {
	b := &bench.Result{Elapsed: 400 * time.Millisecond, Complete: 200,
		Throughput: bench.Throughput{RequestsPerSecond: 500},
		Timeline:   []bench.Second{{Second: 0, Completed: 200, P50: 2 * time.Millisecond, P99: 9 * time.Millisecond}}}
	s, notes := timelineSamples("B", b)
	if len(notes) != 1 || !strings.Contains(notes[0], "less than one full second") {
		t.Errorf("notes = %q", notes)
	}
	if !equal(s[0].values, []float64{500}) || !equal(s[1].values, []float64{2}) || !equal(s[2].values, []float64{9}) {
		t.Errorf("samples = %+v", s)
	}
}
