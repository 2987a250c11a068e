package throughput

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"wsgilab/internal/compare"
	"wsgilab/internal/results"
	"wsgilab/internal/runner"
	"wsgilab/internal/runner/runnertest"
	"wsgilab/internal/stats"
	"wsgilab/internal/testsupport"
)

// The real-stack test shares one private RabbitMQ node; a machine without the stack fails it.
func TestMain(m *testing.M) { os.Exit(testsupport.Main(m)) }

// The throughput scenario on the real stack: prefork and event cells up at once, warmed up
// until a run loads the app in no process, three measured runs each in the balanced order and
// one more round because the CI target (0.001%) is not met after three (a run during which a
// process loaded the app run again, the run it replaced kept out of the series), every counted
// run in the cell's series, and run.json readable by compare (the
// pairwise comparison names its test and gives the ratio's CI).
func TestThroughputScenarioOnRealStack(t *testing.T) {
	plan := DefaultPlan()
	plan.Duration, plan.WarmupDuration, plan.Repetitions = 500*time.Millisecond, 500*time.Millisecond, 3
	plan.MaxRepetitions, plan.TargetHalfWidthPct = 4, 0.001
	const runs = 4
	out, work := t.TempDir(), testsupport.Dir(t)
	outcome := runnertest.Run(t, Scenario{}.Name(), &plan, runner.Options{OutDir: out, WorkDir: work})

	ids := []string{"prefork-embedded-green", "event-embedded-green"}
	var cells []CellResult
	for i, r := range outcome.Cells {
		c := r.(*CellResult)
		cells = append(cells, *c)
		t.Logf("%s: %s — %s; notes %v", c.ID, c.Verdict.Kind, c.Verdict.Reason, c.Notes)
		if c.ID != ids[i] || c.Verdict.Kind != results.Measured || c.Throughput == nil {
			t.Fatalf("cell %d: id %s verdict %s", i, c.ID, c.Verdict.Kind)
		}
		// Warm-up: until a run loaded the app in no process (or the most runs allowed).
		w := c.Throughput.Warmup
		if len(w) < plan.WarmupRuns || len(w) > plan.MaxWarmupRuns ||
			(len(w) < plan.MaxWarmupRuns && w[len(w)-1].ColdStarts != 0) {
			t.Errorf("%s: warm-up runs %+v", c.ID, w)
		}
		for k, r := range w[:len(w)-1] {
			if k+1 >= plan.WarmupRuns && r.ColdStarts == 0 {
				t.Errorf("%s: warm-up went on after run %d, which loaded the app in no process", c.ID, k+1)
			}
		}
		// Measured: per slot, tries replaced by a re-run because the app loaded during them,
		// then the one counted.
		counted, tries := 0, map[int]int{}
		for _, r := range c.Throughput.Repetitions {
			if r.Error != "" || r.Complete == 0 || r.Failed != 0 || r.ReqPerSec <= 0 || r.ElapsedS < plan.Duration.Seconds() ||
				r.P50Ms <= 0 || r.P99Ms < r.P50Ms || r.MaxMs < r.P99Ms || r.Slot == 0 || r.Rerun != tries[r.Slot] {
				t.Errorf("%s: run %+v", c.ID, r)
			}
			tries[r.Slot]++
			if r.OtherCPUPct == nil || *r.OtherCPUPct < 0 || *r.OtherCPUPct > 100 {
				t.Errorf("%s: run %d: other CPU %v, want a share of the machine", c.ID, r.Slot, r.OtherCPUPct)
			}
			if r.Replaced != (r.ColdStarts > 0 && r.Rerun < plan.MaxReruns) {
				t.Errorf("%s: run %+v: replaced %v", c.ID, r, r.Replaced)
			}
			if !r.Replaced {
				counted++
			}
		}
		if counted != runs || len(tries) != runs {
			t.Errorf("%s: %d runs counted over %d slots, want %d", c.ID, counted, len(tries), runs)
		}
		if len(c.Metrics) != 3 {
			t.Fatalf("%s: metrics %+v", c.ID, c.Metrics)
		}
		for _, s := range c.Metrics {
			if len(s.Values) != runs {
				t.Errorf("%s: series %s has %d values, want %d", c.ID, s.Name, len(s.Values), runs)
			}
		}
		if sum := c.Throughput.Summary[stats.MetricThroughput]; sum.N != runs || sum.CI == nil {
			t.Errorf("%s: req/s summary %+v", c.ID, sum)
		}
	}
	// Balanced: A B, then B A, then A B; the extra round goes on in the same order: B A.
	want := []string{ids[0], ids[1], ids[1], ids[0], ids[0], ids[1], ids[1], ids[0]}
	if got := Schedule(cells); !slices.Equal(got, want) {
		t.Errorf("schedule %v, want %v", got, want)
	}

	// run.json is what compare reads; the pairwise comparison of its cells names its test, and
	// the table printed from it carries that comparison.
	in, err := compare.Load(out + "/run.json")
	if err != nil {
		t.Fatalf("compare cannot read run.json: %v", err)
	}
	if in.Run == nil || len(in.Run.Cells) != 2 || len(in.Run.Cells[0].Metrics[0].Values) != runs {
		t.Fatalf("run.json as compare reads it: %+v", in.Run)
	}
	cmp, err := compare.ComparePairwise("run.json", in.Run, compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cmp.Rows) != 3 || cmp.Rows[0].Cell != ids[0] || cmp.Rows[0].CellB != ids[1] ||
		cmp.Rows[0].Comparison.Test != stats.MannWhitney || cmp.Rows[0].A.N != runs ||
		cmp.Rows[0].Comparison.Ratio == nil || cmp.Rows[0].Comparison.Ratio.Method != stats.MethodFieller {
		t.Errorf("comparison rows %+v", cmp.Rows)
	}
	var text strings.Builder
	if err := (Scenario{}).WriteText(&text, outcome.Run); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text.String())
	if !strings.Contains(text.String(), "Mann-Whitney U") || !strings.Contains(text.String(), "req/s") ||
		!strings.Contains(text.String(), ids[1]+" / "+ids[0]) {
		t.Errorf("the run's text lacks the comparison or the pair's ratio")
	}
	testsupport.AssertNothingLeft(t, work)
}

// One more round of runs while a cell's req/s CI is wider than the target, in the order the
// balanced schedule goes on with, and none once every cell is within it or at the most runs.
func TestMoreRuns(t *testing.T) {
	cell := func(values ...float64) *CellResult {
		return &CellResult{Cell: results.Cell{Metrics: []stats.Series{{Name: stats.MetricThroughput, Values: values}}}}
	}
	// 6 runs, mean 1000: ±1% spread is a half-width of ~1%; ±10% of ~10%.
	narrow := cell(990, 1010, 1000, 995, 1005, 1000)
	wide := cell(900, 1100, 1000, 950, 1050, 1000)
	p := DefaultPlan()
	if hw := wide.halfWidthPct(); hw < 5 || hw > 15 {
		t.Fatalf("half-width of the wide cell %.1f%%", hw)
	}
	for _, tc := range []struct {
		name   string
		cells  []*CellResult
		rounds int
		target float64
		want   []int
	}{
		{"all within 5%", []*CellResult{narrow, narrow}, 6, 5, nil},
		{"one wide, after an even round count: forward", []*CellResult{narrow, wide}, 6, 5, []int{0, 1}},
		{"one wide, after an odd round count: reversed", []*CellResult{wide, narrow}, 7, 5, []int{1, 0}},
		{"at the most runs", []*CellResult{wide, wide}, 10, 5, nil},
		{"no target", []*CellResult{wide, wide}, 6, 0, nil},
		{"too few runs to tell", []*CellResult{cell(1000), narrow}, 6, 5, nil},
	} {
		p.TargetHalfWidthPct = tc.target
		if got := p.moreRuns(tc.cells, []int{0, 1}, tc.rounds); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The report says how busy the rest of the machine was during the measured runs (replaced and
// failed runs left out), warns past busyPct, says nothing for runs recorded without it, and
// names a cell still wider than the CI target.
func TestWriteConditions(t *testing.T) {
	pct := func(v float64) *float64 { return &v }
	cell := func(id string, other ...*float64) CellResult {
		c := CellResult{Cell: results.Cell{ID: id, Metrics: []stats.Series{{Name: stats.MetricThroughput}}}, Throughput: &Result{}}
		for i, o := range other {
			c.Throughput.Repetitions = append(c.Throughput.Repetitions, Rep{Slot: i + 1, OtherCPUPct: o})
			c.Metrics[0].Values = append(c.Metrics[0].Values, 1000+float64(i%2))
		}
		return c
	}
	quiet := []CellResult{cell("a", pct(1), pct(3)), cell("b", pct(2), pct(2))}
	busy := []CellResult{cell("a", pct(45), pct(52)), cell("b", pct(50), pct(49))}
	busy[0].Throughput.Repetitions = append(busy[0].Throughput.Repetitions, Rep{OtherCPUPct: pct(0), Replaced: true})
	wide := []CellResult{cell("a", nil, nil, nil), cell("b")}
	wide[0].Metrics[0].Values = []float64{800, 1200, 1000}
	p := DefaultPlan()
	for _, tc := range []struct {
		name      string
		cells     []CellResult
		want, not []string
	}{
		{"quiet", quiet, []string{"used 2% of its CPU", "(mean; 1-3%): a quiet machine"}, []string{"noisier", "target"}},
		{"busy", busy, []string{"used 49% of its CPU", "(mean; 45-52%)", "noisier", "same load"}, []string{": a quiet machine."}},
		{"not recorded, wide", wide, []string{"a: its req/s CI (± ", "wider than the 5% target after 3 runs (--max-reps 10)"}, []string{"Other processes", "b:"}},
	} {
		var b strings.Builder
		writeConditions(&b, p, tc.cells)
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: %q lacks %q", tc.name, b.String(), w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(b.String(), n) {
				t.Errorf("%s: %q has %q", tc.name, b.String(), n)
			}
		}
	}
}

// Two runs compared: a note when either ran on a busy machine or one on a busier one than the
// other; none when both were quiet or either has no record of it.
func TestCompareNotes(t *testing.T) {
	run := func(other ...float64) *results.Run {
		c := CellResult{Cell: results.Cell{ID: "a"}, Throughput: &Result{}}
		for _, o := range other {
			c.Throughput.Repetitions = append(c.Throughput.Repetitions, Rep{OtherCPUPct: &o})
		}
		if len(other) == 0 {
			c.Throughput.Repetitions = []Rep{{}}
		}
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return &results.Run{Scenario: "throughput", Plan: json.RawMessage(`{}`), Cells: []json.RawMessage{raw}}
	}
	quiet, quiet2, busy, unrecorded := run(1, 3), run(2, 2), run(40, 46), run()
	for _, tc := range []struct {
		name string
		a, b *results.Run
		want string
	}{
		{"both quiet", quiet, quiet2, ""},
		{"B busy", quiet, busy, "used 2% of the machine's CPU during A's measured runs and 43% during B's"},
		{"both busy", busy, busy, "43% of the machine's CPU during A's measured runs and 43% during B's"},
		{"A unrecorded", unrecorded, busy, ""},
	} {
		notes := Scenario{}.CompareNotes(tc.a, tc.b)
		if (tc.want == "") != (len(notes) == 0) || (tc.want != "" && !strings.Contains(notes[0], tc.want)) {
			t.Errorf("%s: notes %q, want %q", tc.name, notes, tc.want)
		}
	}
}
