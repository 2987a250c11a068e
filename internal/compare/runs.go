package compare

import (
	"fmt"
	"math"
	"path/filepath"

	"wsgilab/internal/results"
)

// RunComparer is implemented by a scenario (its runner.Scenario value) whose runs compare on
// more than their cells' metrics: the verdicts, the figures a cell measured once (a time to
// drop, a probe's latency), and samples the scenario keeps in its own fields (per-burst
// latencies). `wsgilab compare A/run.json B/run.json` looks the runs' scenario up in the
// registry and calls CompareRuns when it implements this, so that this package needs to know
// no scenario. a is the baseline. The result's A and B sides are set by the caller.
type RunComparer interface {
	CompareRuns(a, b *results.Run, opt Options) (*Comparison, error)
}

// RunNoter is implemented by a scenario whose runs record the conditions they ran under (how
// busy the machine was): `wsgilab compare A/run.json B/run.json` adds its notes to the
// comparison, whichever way the samples were compared.
type RunNoter interface {
	CompareNotes(a, b *results.Run) []string
}

// CellChange is one cell of two runs of a scenario, side by side: its verdict on each side and
// the figures it measured once per run (no repetitions: a difference, no test).
//
// JSON:
//
//	{"cell": "prefork-embedded-green",
//	 "verdict_a": "DROPPED", "verdict_b": "STABLE",
//	 "changed": true,                        the verdicts differ
//	 "reason_a": "...", "reason_b": "...",   the verdicts' one-line reasons
//	 "figures": [Figure, ...]}
type CellChange struct {
	Cell     string   `json:"cell"`
	VerdictA string   `json:"verdict_a"`
	VerdictB string   `json:"verdict_b"`
	Changed  bool     `json:"changed"`
	ReasonA  string   `json:"reason_a,omitempty"`
	ReasonB  string   `json:"reason_b,omitempty"`
	Figures  []Figure `json:"figures,omitempty"`
}

// Figure is one figure of a cell on both sides.
//
// JSON: {"name": "time to drop", "unit": "s", "a": 4.8, "b": 7.6, "delta": 2.8} ("a" or "b"
// null when the side has no such figure, e.g. no drop; "delta" then absent)
type Figure struct {
	Name  string   `json:"name"`
	Unit  string   `json:"unit"`
	A     *float64 `json:"a"`
	B     *float64 `json:"b"`
	Delta *float64 `json:"delta,omitempty"`
}

// NewFigure is a Figure with its delta (B - A) when both sides have it.
func NewFigure(name, unit string, a, b *float64) Figure {
	f := Figure{Name: name, Unit: unit, A: a, B: b}
	if a != nil && b != nil {
		// Rounded to 1e-9: the figures are decimal readings, and 8.944 - 8.883 should not
		// read 0.06100000000000172 in JSON.
		d := math.Round((*b-*a)*1e9) / 1e9
		f.Delta = &d
	}
	return f
}

// Value is a figure that a side has (for NewFigure).
func Value(x float64) *float64 { return &x }

// NewRunComparison starts the comparison of two runs of scenario, with opt's defaults filled
// in; a RunComparer adds its cells, rows, basis and notes.
func NewRunComparison(scenario string, opt Options) *Comparison {
	opt = opt.withDefaults()
	c := newComparison(scenario, Side{}, Side{}, opt)
	c.Rows = []Row{}
	return c
}

// SampleRow compares one metric of one cell whose values are repetitions on each side (a
// scenario's per-burst latencies, say): the row of the benchstat-like table, with each side's
// mean and 95% CI, the test's p-value and the ratio's CI.
func SampleRow(cell, metric, unit string, a, b []float64, opt Options) (Row, error) {
	opt = opt.withDefaults()
	return compareSamples(cell, "", sample{metric: metric, unit: unit, values: a},
		sample{metric: metric, unit: unit, values: b}, opt)
}

// DecodePairs decodes two runs' cells as the scenario's own cell type and pairs them by id
// (PairCells): what every scenario's RunComparer starts with. Two runs with no cell in common
// are an error.
func DecodePairs[C any, P interface {
	*C
	Base() *results.Cell
}](a, b *results.Run) (ca, cb []C, pairs [][2]int, notes []string, err error) {
	if ca, err = results.Decode[C](a, nil); err != nil {
		return nil, nil, nil, nil, err
	}
	if cb, err = results.Decode[C](b, nil); err != nil {
		return nil, nil, nil, nil, err
	}
	ids := func(cs []C) []string {
		out := make([]string, len(cs))
		for i := range cs {
			out[i] = P(&cs[i]).Base().ID
		}
		return out
	}
	if pairs, notes = PairCells(ids(ca), ids(cb)); len(pairs) == 0 {
		return nil, nil, nil, nil, fmt.Errorf("the runs have no cell in common: nothing to compare")
	}
	return ca, cb, pairs, notes, nil
}

// Change is a cell's verdict on both sides, and its figures.
func Change(a, b *results.Cell, figures []Figure) CellChange {
	return CellChange{Cell: a.ID, VerdictA: a.Verdict.Kind, VerdictB: b.Verdict.Kind,
		Changed: a.Verdict.Kind != b.Verdict.Kind, ReasonA: a.Verdict.Reason, ReasonB: b.Verdict.Reason,
		Figures: figures}
}

// PairCells pairs the cells of two runs by id, in A's order, then B's cells that A lacks; it
// returns the pairs (index in a, index in b) and a note for each cell on one side only.
func PairCells(a, b []string) (pairs [][2]int, notes []string) {
	inB := map[string]int{}
	for i, id := range b {
		inB[id] = i
	}
	inA := map[string]bool{}
	for i, id := range a {
		inA[id] = true
		if j, ok := inB[id]; ok {
			pairs = append(pairs, [2]int{i, j})
		} else {
			notes = append(notes, fmt.Sprintf("cell %s is only in A: not compared", id))
		}
	}
	for _, id := range b {
		if !inA[id] {
			notes = append(notes, fmt.Sprintf("cell %s is only in B: not compared", id))
		}
	}
	return pairs, notes
}

// RunSides names the two sides of a comparison of two run files: by their run directory when
// the files are run.json, "A" and "B" when the labels would be the same.
func RunSides(aPath, bPath string) (Side, Side) {
	label := func(p string) string {
		if filepath.Base(p) == results.RunFile {
			return filepath.Base(filepath.Dir(p))
		}
		return filepath.Base(p)
	}
	a, b := Side{Label: label(aPath), Files: []string{aPath}}, Side{Label: label(bPath), Files: []string{bPath}}
	if a.Label == b.Label {
		a.Label, b.Label = "A", "B"
	}
	return a, b
}

// CompareVerdicts compares two runs of one scenario by what every cell has: its verdict (kind
// and reason), cells paired by id. It is the comparison of a scenario that neither compares
// its runs itself nor gives its cells metrics: any two runs of one scenario can be compared.
func CompareVerdicts(a, b *results.Run, opt Options) (*Comparison, error) {
	ca, err := results.Decode[results.Cell](a, nil)
	if err != nil {
		return nil, err
	}
	cb, err := results.Decode[results.Cell](b, nil)
	if err != nil {
		return nil, err
	}
	ids := func(cs []results.Cell) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.ID
		}
		return out
	}
	c := NewRunComparison(a.Scenario, opt)
	c.Basis = []string{"each cell's verdict (the " + a.Scenario + " scenario gives no figures to compare)"}
	pairs, notes := PairCells(ids(ca), ids(cb))
	if len(pairs) == 0 {
		return nil, fmt.Errorf("the runs have no cell in common: nothing to compare")
	}
	for _, p := range pairs {
		x, y := ca[p[0]], cb[p[1]]
		c.Cells = append(c.Cells, CellChange{Cell: x.ID, VerdictA: x.Verdict.Kind, VerdictB: y.Verdict.Kind,
			Changed: x.Verdict.Kind != y.Verdict.Kind, ReasonA: x.Verdict.Reason, ReasonB: y.Verdict.Reason})
	}
	c.Notes = append(c.Notes, notes...)
	return c, nil
}
