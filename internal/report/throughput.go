package report

import (
	"fmt"
	"slices"

	"wsgilab/internal/stats"
)

// ThroughputKind is the "kind" of a saved throughput-scenario result. The version suffix
// changes only when a field changes meaning, so that old files are refused, not misread.
const ThroughputKind = "wsgilab.throughput/v1"

// ThroughputRun is what the throughput scenario saves: per cell, R repetitions of an ab-like
// run, measured in an interleaved order with warm-up runs excluded. `wsgilab compare` reads
// it; the runner fills it. Unknown fields are ignored when reading, so the runner may add
// fields (the cell's configuration, timestamps) without breaking compare.
type ThroughputRun struct {
	// Kind is always ThroughputKind; it is how compare tells this file from a bench result.
	Kind string `json:"kind"`
	// Scenario is "throughput".
	Scenario string `json:"scenario"`
	// Requests and Concurrency are the ab-like -n and -c of every repetition (default 1000
	// and 10, like the write-ups).
	Requests    int `json:"requests"`
	Concurrency int `json:"concurrency"`
	// Repetitions is R, the measured runs per cell; WarmupRuns are the runs per cell done
	// before and thrown away (first requests load the interpreter and the app).
	Repetitions int `json:"repetitions"`
	WarmupRuns  int `json:"warmup_runs"`
	// Order is how the measured runs were scheduled: "interleaved" (A B A B, stats.Interleave)
	// or "balanced" (A B B A, stats.Balanced).
	Order string `json:"order"`
	// Schedule lists the cell IDs of the measured runs in the order they ran.
	Schedule []string `json:"schedule,omitempty"`
	// Cells holds the samples, one entry per cell, in the order the table should print them.
	Cells []CellSamples `json:"cells"`
}

// CellSamples is the measurements of one cell.
type CellSamples struct {
	// Cell is the cell's ID (lab.CellSpec.ID, e.g. "prefork-embedded-green").
	Cell string `json:"cell"`
	// Metrics holds one series per metric, each with one value per measured repetition, in run
	// order: stats.MetricThroughput ("req/s", unit "req/s": the run's completed requests
	// divided by its duration, ab's "Requests per second"), stats.MetricP50 and
	// stats.MetricP99 ("p50", "p99", unit "ms": the run's latency percentiles).
	Metrics []stats.Series `json:"metrics"`
}

// Validate checks what compare relies on: the kind, unique non-empty cell IDs, and every
// series named once per cell, with finite values.
func (r *ThroughputRun) Validate() error {
	if r.Kind != ThroughputKind {
		return fmt.Errorf("kind %q is not %q", r.Kind, ThroughputKind)
	}
	if len(r.Cells) == 0 {
		return fmt.Errorf("no cells")
	}
	seen := map[string]bool{}
	for _, c := range r.Cells {
		if c.Cell == "" {
			return fmt.Errorf("a cell has no id")
		}
		if seen[c.Cell] {
			return fmt.Errorf("cell %q appears twice", c.Cell)
		}
		seen[c.Cell] = true
		if len(c.Metrics) == 0 {
			return fmt.Errorf("cell %q has no metrics", c.Cell)
		}
		names := map[string]bool{}
		for _, s := range c.Metrics {
			if err := s.Validate(); err != nil {
				return fmt.Errorf("cell %q: %w", c.Cell, err)
			}
			if names[s.Name] {
				return fmt.Errorf("cell %q: metric %q appears twice", c.Cell, s.Name)
			}
			names[s.Name] = true
		}
	}
	return nil
}

// NewThroughputRun starts an empty result for a throughput scenario of reps repetitions of
// requests/concurrency per cell, warmup discarded runs per cell, scheduled in order.
func NewThroughputRun(requests, concurrency, reps, warmup int, order string) *ThroughputRun {
	return &ThroughputRun{Kind: ThroughputKind, Scenario: "throughput", Requests: requests,
		Concurrency: concurrency, Repetitions: reps, WarmupRuns: warmup, Order: order}
}

// Repetition is what one measured run of a cell contributes. P50Ms and P99Ms should be the
// run's histogram percentiles (bench.Result.Percentiles), which is what compare reads from a
// bench file too, so that both ways of comparing agree.
type Repetition struct {
	ReqPerSec    float64
	P50Ms, P99Ms float64
}

// Add records one measured repetition of cell: it appends to Schedule and to the cell's
// req/s, p50 and p99 series, creating the cell (in first-seen order) when new. Warm-up runs
// must not be added.
func (r *ThroughputRun) Add(cell string, rep Repetition) {
	r.Schedule = append(r.Schedule, cell)
	i := slices.IndexFunc(r.Cells, func(c CellSamples) bool { return c.Cell == cell })
	if i < 0 {
		r.Cells = append(r.Cells, CellSamples{Cell: cell, Metrics: []stats.Series{
			{Name: stats.MetricThroughput, Unit: stats.UnitReqPerSec},
			{Name: stats.MetricP50, Unit: stats.UnitMillis},
			{Name: stats.MetricP99, Unit: stats.UnitMillis},
		}})
		i = len(r.Cells) - 1
	}
	for k := range r.Cells[i].Metrics {
		s := &r.Cells[i].Metrics[k]
		switch s.Name {
		case stats.MetricThroughput:
			s.Values = append(s.Values, rep.ReqPerSec)
		case stats.MetricP50:
			s.Values = append(s.Values, rep.P50Ms)
		case stats.MetricP99:
			s.Values = append(s.Values, rep.P99Ms)
		}
	}
}
