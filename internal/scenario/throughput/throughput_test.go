package throughput

import (
	"os"
	"slices"
	"strings"
	"testing"

	"wsgilab/internal/compare"
	"wsgilab/internal/results"
	"wsgilab/internal/runner"
	"wsgilab/internal/runner/runnertest"
	"wsgilab/internal/stats"
	"wsgilab/internal/testsupport"
)

// The real-stack test shares one private RabbitMQ node; a machine without the stack fails it.
func TestMain(m *testing.M) { os.Exit(testsupport.Main(m)) }

// The throughput scenario on the real stack: prefork and event cells up at once, a warm-up
// each, three measured runs each in the balanced order, every run in the cell's series, and
// run.json readable by compare (the pairwise comparison names its test).
func TestThroughputScenarioOnRealStack(t *testing.T) {
	plan := DefaultPlan()
	plan.Requests, plan.Repetitions = 300, 3
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
		if len(c.Throughput.Warmup) != plan.WarmupRuns || len(c.Throughput.Repetitions) != plan.Repetitions {
			t.Errorf("%s: %d warm-up runs, %d measured, want %d and %d", c.ID, len(c.Throughput.Warmup),
				len(c.Throughput.Repetitions), plan.WarmupRuns, plan.Repetitions)
		}
		for _, r := range c.Throughput.Repetitions {
			if r.Error != "" || r.Complete != int64(plan.Requests) || r.Failed != 0 || r.ReqPerSec <= 0 ||
				r.P50Ms <= 0 || r.P99Ms < r.P50Ms || r.MaxMs < r.P99Ms || r.Slot == 0 {
				t.Errorf("%s: run %+v", c.ID, r)
			}
		}
		if len(c.Metrics) != 3 {
			t.Fatalf("%s: metrics %+v", c.ID, c.Metrics)
		}
		for _, s := range c.Metrics {
			if len(s.Values) != plan.Repetitions {
				t.Errorf("%s: series %s has %d values, want %d", c.ID, s.Name, len(s.Values), plan.Repetitions)
			}
		}
		if sum := c.Throughput.Summary[stats.MetricThroughput]; sum.N != plan.Repetitions || sum.CI == nil {
			t.Errorf("%s: req/s summary %+v", c.ID, sum)
		}
	}
	// Balanced: A B, then B A, then A B.
	want := []string{ids[0], ids[1], ids[1], ids[0], ids[0], ids[1]}
	if got := Schedule(cells); !slices.Equal(got, want) {
		t.Errorf("schedule %v, want %v", got, want)
	}

	// run.json is what compare reads; the pairwise comparison of its cells names its test, and
	// the table printed from it carries that comparison.
	in, err := compare.Load(out + "/run.json")
	if err != nil {
		t.Fatalf("compare cannot read run.json: %v", err)
	}
	if in.Run == nil || len(in.Run.Cells) != 2 || len(in.Run.Cells[0].Metrics[0].Values) != plan.Repetitions {
		t.Fatalf("run.json as compare reads it: %+v", in.Run)
	}
	cmp, err := compare.ComparePairwise("run.json", in.Run, compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cmp.Rows) != 3 || cmp.Rows[0].Cell != ids[0] || cmp.Rows[0].CellB != ids[1] ||
		cmp.Rows[0].Comparison.Test != stats.MannWhitney || cmp.Rows[0].A.N != plan.Repetitions {
		t.Errorf("comparison rows %+v", cmp.Rows)
	}
	var text strings.Builder
	if err := (Scenario{}).WriteText(&text, outcome.Run); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text.String())
	if !strings.Contains(text.String(), "Mann-Whitney U") || !strings.Contains(text.String(), "req/s") {
		t.Errorf("the run's text lacks the comparison")
	}
	testsupport.AssertNothingLeft(t, work)
}
