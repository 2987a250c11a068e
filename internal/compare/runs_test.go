package compare

import (
	"encoding/json"
	"testing"

	"wsgilab/internal/results"
	"wsgilab/internal/testsupport"
)

// Runs whose scenario gives no figures compare by their cells' verdicts: cells paired by id,
// a changed verdict marked, a cell on one side only noted; the table is golden.
func TestCompareVerdicts(t *testing.T) {
	a, err := results.Load("testdata/run_no_metrics.json")
	if err != nil {
		t.Fatal(err)
	}
	var cells []results.Cell
	for _, raw := range a.Cells {
		var c results.Cell
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		cells = append(cells, c)
	}
	// B: the first cell dropped this time; the second is gone; a third is new.
	cells[0].Verdict = results.Verdict{Kind: "DROPPED", Reason: "the broker closed 2 connections"}
	cells[1] = results.Cell{ID: "worker-embedded-green", Verdict: results.Verdict{Kind: "STABLE"}}
	b := *a
	b.Cells = nil
	for _, c := range cells {
		raw, _ := json.Marshal(c)
		b.Cells = append(b.Cells, raw)
	}
	c, err := CompareVerdicts(a, &b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Cells) != 1 || !c.Cells[0].Changed || c.Cells[0].VerdictA != "STABLE" || c.Cells[0].VerdictB != "DROPPED" ||
		len(c.Notes) != 2 || c.Rows == nil {
		t.Fatalf("comparison %+v", c)
	}
	c.A, c.B = RunSides("before/run.json", "after/run.json")
	testsupport.Golden(t, "compare_verdicts.golden", text(t, c))

	if _, err := CompareVerdicts(a, &results.Run{Scenario: "heartbeat", Cells: b.Cells[1:]}, Options{}); err == nil {
		t.Error("runs without a common cell compared")
	}
}

// A figure's delta is B - A when both sides have it, read as the decimals it was given; the
// table prints "-" for a side without it.
func TestFigures(t *testing.T) {
	f := NewFigure("time to drop", "s", Value(8.883), Value(8.944))
	if f.Delta == nil || *f.Delta != 0.061 {
		t.Errorf("delta %v", f.Delta)
	}
	if f := NewFigure("time to drop", "s", Value(8.9), nil); f.Delta != nil {
		t.Errorf("delta without B: %v", *f.Delta)
	}
	c := &Comparison{Input: "x", Rows: []Row{}, Cells: []CellChange{{Cell: "c", VerdictA: "DROPPED", VerdictB: "STABLE", Changed: true,
		Figures: []Figure{NewFigure("time to drop", "s", Value(4.8), nil), NewFigure("probe max", "ms", Value(1013.3), Value(4.2)),
			NewFigure("reconnects", "", Value(3), Value(0))}}}}
	c.A, c.B = RunSides("runs/a", "runs/b")
	testsupport.Golden(t, "compare_figures.golden", text(t, c))
}

func TestRunSides(t *testing.T) {
	for _, tc := range []struct{ a, b, la, lb string }{
		{"out/heartbeat-1/run.json", "out/heartbeat-2/run.json", "heartbeat-1", "heartbeat-2"},
		{"x/run.json", "y/x/run.json", "A", "B"},
		{"old.json", "new.json", "old.json", "new.json"},
	} {
		a, b := RunSides(tc.a, tc.b)
		if a.Label != tc.la || b.Label != tc.lb || a.Files[0] != tc.a || b.Files[0] != tc.b {
			t.Errorf("%s %s: %+v %+v", tc.a, tc.b, a, b)
		}
	}
}

// DecodePairs pairs two runs' cells by id in A's order, notes a cell on one side only, and
// refuses two runs with no cell in common.
func TestDecodePairs(t *testing.T) {
	run := func(verdicts ...string) *results.Run {
		r := &results.Run{Scenario: "heartbeat"}
		for i := 0; i < len(verdicts); i += 2 {
			raw, _ := json.Marshal(results.Cell{ID: verdicts[i], Verdict: results.Verdict{Kind: verdicts[i+1]}})
			r.Cells = append(r.Cells, raw)
		}
		return r
	}
	a, b := run("x", "STABLE", "y", "DROPPED"), run("z", "STABLE", "y", "STABLE")
	ca, cb, pairs, notes, err := DecodePairs[results.Cell](a, b)
	if err != nil || len(pairs) != 1 || ca[pairs[0][0]].ID != "y" || cb[pairs[0][1]].ID != "y" || len(notes) != 2 {
		t.Fatalf("pairs %v notes %v err %v", pairs, notes, err)
	}
	if ch := Change(&ca[pairs[0][0]], &cb[pairs[0][1]], nil); !ch.Changed || ch.VerdictA != "DROPPED" || ch.VerdictB != "STABLE" {
		t.Errorf("change %+v", ch)
	}
	if _, _, _, _, err := DecodePairs[results.Cell](a, run("z", "STABLE")); err == nil {
		t.Errorf("no cell in common: no error")
	}
}
