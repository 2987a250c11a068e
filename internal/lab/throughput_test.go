// An external test package: it reads the run's files through internal/report, which imports
// lab, as `wsgilab compare` does.
package lab_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"wsgilab/internal/lab"
	"wsgilab/internal/proc"
	"wsgilab/internal/report"
	"wsgilab/internal/stats"
	"wsgilab/internal/testsupport"
)

// The throughput scenario on the real stack: prefork and event cells up at once, a warm-up
// each, three measured runs each in the balanced order, every run present in the cell's series
// and in the schedule, and run.json readable by compare (the pairwise comparison names its
// test).
func TestThroughputScenarioOnRealStack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := testsupport.Broker(t, ctx)

	plan := lab.DefaultThroughputPlan()
	plan.Requests, plan.Repetitions = 300, 3
	out := t.TempDir()
	work := testsupport.Dir(t)
	cells := lab.Matrix{MPMs: []string{"prefork", "event"}, Modes: []string{"embedded"}, Heartbeats: []string{"green"}}.Cells()
	began := time.Now()
	res, err := lab.Run(ctx, lab.Options{Scenario: "throughput", Cells: cells, Throughput: plan, OutDir: out,
		Broker: b, WorkDir: work, Progress: logWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run took %.1fs", time.Since(began).Seconds())

	ids := []string{"prefork-embedded-green", "event-embedded-green"}
	// Balanced: A B, then B A, then A B.
	wantSchedule := []string{ids[0], ids[1], ids[1], ids[0], ids[0], ids[1]}
	if !slices.Equal(res.Schedule, wantSchedule) {
		t.Errorf("schedule %v, want %v", res.Schedule, wantSchedule)
	}
	for i, c := range res.Cells {
		t.Logf("%s: %s — %s; notes %v", c.Spec.ID, c.Verdict.Kind, c.Verdict.Reason, c.Notes)
		if c.Spec.ID != ids[i] || c.Cell != ids[i] || c.Verdict.Kind != lab.VerdictMeasured || c.Throughput == nil {
			t.Fatalf("cell %d: id %s/%s verdict %s", i, c.Spec.ID, c.Cell, c.Verdict.Kind)
		}
		if len(c.Throughput.Warmup) != plan.WarmupRuns || len(c.Throughput.Repetitions) != plan.Repetitions {
			t.Errorf("%s: %d warm-up runs, %d measured, want %d and %d", c.Spec.ID, len(c.Throughput.Warmup),
				len(c.Throughput.Repetitions), plan.WarmupRuns, plan.Repetitions)
		}
		for _, r := range c.Throughput.Repetitions {
			if r.Error != "" || r.Complete != int64(plan.Requests) || r.Failed != 0 || r.ReqPerSec <= 0 ||
				r.P50Ms <= 0 || r.P99Ms < r.P50Ms || r.MaxMs < r.P99Ms || r.Slot == 0 {
				t.Errorf("%s: run %+v", c.Spec.ID, r)
			}
		}
		if len(c.Metrics) != 3 {
			t.Fatalf("%s: metrics %+v", c.Spec.ID, c.Metrics)
		}
		for _, s := range c.Metrics {
			if len(s.Values) != plan.Repetitions {
				t.Errorf("%s: series %s has %d values, want %d", c.Spec.ID, s.Name, len(s.Values), plan.Repetitions)
			}
		}
		if sum := c.Throughput.Summary[stats.MetricThroughput]; sum.N != plan.Repetitions || sum.CI == nil {
			t.Errorf("%s: req/s summary %+v", c.Spec.ID, sum)
		}
	}

	// run.json is a throughput result for compare, the pairwise comparison of its cells works
	// and names its test.
	path := filepath.Join(out, "run.json")
	in, err := report.Load(path)
	if err != nil {
		t.Fatalf("compare cannot read run.json: %v", err)
	}
	if in.Kind != report.InputThroughput || in.Throughput.Repetitions != plan.Repetitions ||
		in.Throughput.Requests != plan.Requests || !slices.Equal(in.Throughput.Schedule, wantSchedule) {
		t.Errorf("run.json as compare reads it: %+v", in.Throughput)
	}
	cmp, err := report.ComparePairwise(path, in.Throughput, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cmp.Rows) != 3 || cmp.Rows[0].Cell != ids[0] || cmp.Rows[0].CellB != ids[1] ||
		cmp.Rows[0].Comparison.Test != stats.MannWhitney || cmp.Rows[0].A.N != plan.Repetitions {
		t.Errorf("comparison rows %+v", cmp.Rows)
	}
	var text strings.Builder
	if err := report.WriteThroughput(&text, res, path, report.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text.String())
	if !strings.Contains(text.String(), "Mann-Whitney U") || !strings.Contains(text.String(), "req/s") {
		t.Errorf("the run's text lacks the comparison")
	}

	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if left := proc.Running(); len(left) > 0 {
		t.Errorf("still running: %v", left)
	}
	if entries, _ := os.ReadDir(work); len(entries) > 0 {
		t.Errorf("left in the work dir: %v", entries)
	}
}

// logWriter sends the run's progress lines to the test log.
type logWriter struct{ t *testing.T }

func (l logWriter) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
