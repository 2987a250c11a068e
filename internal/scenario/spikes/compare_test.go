package spikes

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"wsgilab/internal/compare"
	"wsgilab/internal/results"
)

// Two spikes runs compare cell by cell, the bursts being repetitions: here the recorded run
// against a copy whose daemon cell's bursts are all 10x slower. That cell's burst p99 row is
// a significant +900%, with a ratio interval around 10; its whole-run p99 figure moves too.
func TestCompareRunsBurstsAsRepetitions(t *testing.T) {
	a, err := results.Load(filepath.Join("testdata", "recorded", "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	cells, err := results.Decode[CellResult](a, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := len(cells) - 1
	slow := cells[k]
	sp := *slow.Spikes
	sp.Bursts = append([]Burst(nil), sp.Bursts...)
	for i := range sp.Bursts {
		sp.Bursts[i].P99Ms *= 10
	}
	sp.Client.P99 *= 10
	slow.Spikes = &sp
	raw, err := json.Marshal(slow)
	if err != nil {
		t.Fatal(err)
	}
	b := *a
	b.Cells = append(append([]json.RawMessage(nil), a.Cells[:k]...), raw)

	c, err := Scenario{}.CompareRuns(a, &b, compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Cells) != len(cells) || len(c.Rows) != 2*len(cells) {
		t.Fatalf("%d cells, %d rows", len(c.Cells), len(c.Rows))
	}
	for _, r := range c.Rows {
		slowed := r.Cell == slow.ID && r.Metric == "burst p99"
		if r.Comparison.Significant != slowed {
			t.Errorf("%s %s: significant %v (p %.3f)", r.Cell, r.Metric, r.Comparison.Significant, r.Comparison.P)
		}
		if slowed {
			ratio := r.Comparison.Ratio
			if r.A.N != len(sp.Bursts) || ratio == nil || ratio.Estimate < 9.99 || ratio.Estimate > 10.01 ||
				ratio.Low == nil || *ratio.Low > 10 || *ratio.High < 10 {
				t.Errorf("slowed bursts: n %d, ratio %+v", r.A.N, ratio)
			}
		}
	}
	for _, f := range c.Cells[k].Figures {
		if f.Name == "client p99" && (f.Delta == nil || *f.Delta <= 0) {
			t.Errorf("client p99 figure %+v", f)
		}
	}
}
