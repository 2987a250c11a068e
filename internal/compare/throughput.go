package compare

import (
	"encoding/json"
	"fmt"

	"wsgilab/internal/stats"
)

// ThroughputKind is the "kind" of the results the throughput scenario saved before run.json
// had one format (results.RunKind). compare still reads them, so that old runs stay
// comparable with new ones; nothing writes them any more.
const ThroughputKind = "wsgilab.throughput/v1"

// legacyThroughputRun is the part of a ThroughputKind file compare reads (see doc.go for the
// whole format). Unknown fields (requests, concurrency, repetitions, warmup_runs, order,
// schedule) are ignored.
type legacyThroughputRun struct {
	Kind string `json:"kind"`
	// Scenario is the one that wrote the file (these files always said so).
	Scenario string `json:"scenario"`
	Cells    []struct {
		Cell    string         `json:"cell"`
		Metrics []stats.Series `json:"metrics"`
	} `json:"cells"`
}

// parseLegacyThroughput reads a ThroughputKind file's bytes as a run's samples. Unlike a
// run.json, every cell of such a file must carry metrics.
func parseLegacyThroughput(data []byte) (*RunSamples, error) {
	var l legacyThroughputRun
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("malformed %s result: %v", ThroughputKind, err)
	}
	if l.Kind != ThroughputKind {
		return nil, fmt.Errorf("kind %q is not %q", l.Kind, ThroughputKind)
	}
	if l.Scenario == "" {
		return nil, fmt.Errorf("a %s result without its \"scenario\"", ThroughputKind)
	}
	r := &RunSamples{Scenario: l.Scenario}
	for _, c := range l.Cells {
		r.Cells = append(r.Cells, CellSamples{Cell: c.Cell, Metrics: c.Metrics})
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return r, nil
}
