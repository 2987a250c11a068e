package spikes

import (
	"fmt"

	"wsgilab/internal/compare"
	"wsgilab/internal/results"
)

// CompareRuns compares two spikes runs cell by cell (compare.RunComparer): each cell's verdict
// and its whole-run figures (client p50/p99/max, the app's and Apache's p99, the gap, cold
// starts, spikes, errors) as differences; and, the bursts of a cell being its repetitions,
// each burst's client p99 and cold starts as samples, with their means' 95% CIs, the test and
// the ratio's CI.
func (Scenario) CompareRuns(a, b *results.Run, opt compare.Options) (*compare.Comparison, error) {
	ca, cb, pairs, notes, err := compare.DecodePairs[CellResult](a, b)
	if err != nil {
		return nil, err
	}
	c := compare.NewRunComparison(a.Scenario, opt)
	c.Basis = []string{
		"each cell's verdict, and its figures over the whole run: differences, no test",
		"each burst of a cell as one repetition: its client p99 and its cold starts (mean ± CI, test, ratio)",
	}
	for _, p := range pairs {
		x, y := ca[p[0]], cb[p[1]]
		c.Cells = append(c.Cells, compare.Change(&x.Cell, &y.Cell, figures(x.Spikes, y.Spikes)))
		if x.Spikes == nil || y.Spikes == nil || len(x.Spikes.Bursts) == 0 || len(y.Spikes.Bursts) == 0 {
			continue
		}
		for _, m := range []struct {
			name, unit string
			of         func(Burst) float64
		}{
			{"burst p99", "ms", func(b Burst) float64 { return b.P99Ms }},
			{"burst cold starts", "", func(b Burst) float64 { return float64(b.ColdStarts) }},
		} {
			row, err := compare.SampleRow(x.ID, m.name, m.unit, burstValues(x.Spikes.Bursts, m.of), burstValues(y.Spikes.Bursts, m.of), opt)
			if err != nil {
				return nil, fmt.Errorf("cell %s: %w", x.ID, err)
			}
			c.Rows = append(c.Rows, row)
		}
	}
	c.Notes = append(c.Notes, notes...)
	return c, nil
}

func burstValues(bs []Burst, of func(Burst) float64) []float64 {
	out := make([]float64, len(bs))
	for i, b := range bs {
		out[i] = of(b)
	}
	return out
}

// figures are a spikes cell's whole-run figures on both sides (nil on a side that measured
// nothing).
func figures(a, b *Result) []compare.Figure {
	get := func(r *Result, v func(*Result) float64) *float64 {
		if r == nil || r.Requests == 0 {
			return nil
		}
		return compare.Value(v(r))
	}
	fig := func(name, unit string, v func(*Result) float64) compare.Figure {
		return compare.NewFigure(name, unit, get(a, v), get(b, v))
	}
	return []compare.Figure{
		fig("client p50", "ms", func(r *Result) float64 { return r.Client.P50 }),
		fig("client p99", "ms", func(r *Result) float64 { return r.Client.P99 }),
		fig("client max", "ms", func(r *Result) float64 { return r.Client.Max }),
		fig("app p99", "ms", func(r *Result) float64 { return r.App.P99 }),
		fig("apache p99", "ms", func(r *Result) float64 { return r.Apache.P99 }),
		fig("gap p99", "ms", func(r *Result) float64 { return r.GapP99Ms }),
		fig("cold starts", "", func(r *Result) float64 { return float64(r.ColdStarts) }),
		fig("spikes", "", func(r *Result) float64 { return float64(r.Spikes) }),
		fig("failed requests", "", func(r *Result) float64 { return float64(r.Errors) }),
	}
}
