package compare

import (
	"fmt"

	"wsgilab/internal/results"
	"wsgilab/internal/stats"
)

// RunSamples is the per-cell series of a run: what compare reads from a run.json (kind
// results.RunKind, FromRun) or from an older throughput result (kind ThroughputKind), and
// what it pairs with another run's (cells by ID, series by name).
type RunSamples struct {
	// Scenario is the name of the scenario that wrote the run (e.g. "throughput"); runs of
	// different scenarios are not compared.
	Scenario string
	// Cells holds the cells that carry metrics, in the order the table should print them.
	Cells []CellSamples
}

// CellSamples is the measurements of one cell.
type CellSamples struct {
	// Cell is the cell's ID (e.g. "prefork-embedded-green").
	Cell string
	// Metrics holds one series per metric, each with one value per measured repetition, in
	// run order (results.Cell.Metrics): e.g. stats.MetricThroughput ("req/s", unit "req/s"),
	// stats.MetricP50 and stats.MetricP99 ("p50", "p99", unit "ms").
	Metrics []stats.Series
}

// FromRun returns the series of the run's cells that carry metrics (results.Cell.Metrics),
// in the run's order. A run none of whose cells has metrics is an error that says so: its
// scenario measures nothing compare can pair.
func FromRun(run *results.Run) (*RunSamples, error) {
	if run.Scenario == "" {
		return nil, fmt.Errorf("a run without a scenario")
	}
	if len(run.Cells) == 0 {
		return nil, fmt.Errorf("a %s run without cells: nothing to compare", run.Scenario)
	}
	cells, err := results.Decode[results.Cell](run, nil)
	if err != nil {
		return nil, err
	}
	r := &RunSamples{Scenario: run.Scenario}
	for i, c := range cells {
		if c.ID == "" {
			return nil, fmt.Errorf("a %s run: cell %d has no id", run.Scenario, i+1)
		}
		if len(c.Metrics) > 0 {
			r.Cells = append(r.Cells, CellSamples{Cell: c.ID, Metrics: c.Metrics})
		}
	}
	if len(r.Cells) == 0 {
		return nil, fmt.Errorf("a %s run: its cells carry no metrics to compare", run.Scenario)
	}
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("a %s run: %w", run.Scenario, err)
	}
	return r, nil
}

// validate checks what compare relies on: at least one cell, unique non-empty cell IDs, and
// in every cell at least one series, each named once, with finite values.
func (r *RunSamples) validate() error {
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
