package heartbeat

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"wsgilab/internal/compare"
	"wsgilab/internal/results"
)

// Two heartbeat runs compare cell by cell: here the recorded run against a copy in which the
// first cell (DROPPED) survived the idle. That cell is "changed", its time to drop exists on
// one side only, and its probe latency's delta is B - A; an untouched cell is unchanged with
// zero deltas.
func TestCompareRunsVerdictChange(t *testing.T) {
	a, err := results.Load(filepath.Join("testdata", "recorded", "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	cells, err := results.Decode[CellResult](a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cells[0].Verdict.Kind != Dropped || cells[0].Findings.TimeToDropSeconds == nil {
		t.Fatalf("the recorded run's first cell is %s: the test expects a drop", cells[0].Verdict.Kind)
	}
	changed := cells[0]
	changed.Verdict = results.Verdict{Kind: Stable, Reason: "every connection survived"}
	changed.Findings.TimeToDropSeconds = nil
	changed.Probe.MaxMs = 5
	raw, err := json.Marshal(changed)
	if err != nil {
		t.Fatal(err)
	}
	b := *a
	b.Cells = append([]json.RawMessage{raw}, a.Cells[1:]...)

	c, err := Scenario{}.CompareRuns(a, &b, compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Cells) != len(cells) || c.Input != "heartbeat" || len(c.Notes) != 0 {
		t.Fatalf("%d cells, input %q, notes %q", len(c.Cells), c.Input, c.Notes)
	}
	first := c.Cells[0]
	if !first.Changed || first.VerdictA != Dropped || first.VerdictB != Stable {
		t.Errorf("first cell %+v", first)
	}
	fig := map[string]compare.Figure{}
	for _, f := range first.Figures {
		fig[f.Name] = f
	}
	if f := fig["time to drop"]; f.A == nil || f.B != nil || f.Delta != nil {
		t.Errorf("time to drop %+v: want A only", f)
	}
	if f := fig["probe max"]; f.Delta == nil || *f.Delta != 5-cells[0].Probe.MaxMs {
		t.Errorf("probe max %+v", f)
	}
	for _, other := range c.Cells[1:] {
		if other.Changed {
			t.Errorf("%s changed", other.Cell)
		}
		for _, f := range other.Figures {
			if f.Delta != nil && *f.Delta != 0 {
				t.Errorf("%s: %s moved by %v", other.Cell, f.Name, *f.Delta)
			}
		}
	}
}
