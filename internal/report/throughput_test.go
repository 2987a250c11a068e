package report

import (
	"encoding/json"
	"slices"
	"testing"

	"wsgilab/internal/stats"
)

// What the runner does: interleave, record each measured repetition, save; compare reads it.
func TestThroughputRunAddRoundTrip(t *testing.T) {
	r := NewThroughputRun(1000, 10, 2, 1, "balanced")
	for i, cell := range stats.Balanced([]string{"prefork", "event"}, 2) {
		r.Add(cell, Repetition{ReqPerSec: 500 + float64(i), P50Ms: 17, P99Ms: 40 + float64(i)})
	}
	if !slices.Equal(r.Schedule, []string{"prefork", "event", "event", "prefork"}) {
		t.Errorf("schedule = %v", r.Schedule)
	}
	if got := r.Cells[0].Metrics[0].Values; r.Cells[0].Cell != "prefork" || !slices.Equal(got, []float64{500, 503}) {
		t.Errorf("prefork req/s = %v", got)
	}
	if got := r.Cells[1].Metrics[2].Values; !slices.Equal(got, []float64{41, 42}) {
		t.Errorf("event p99 = %v", got)
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	in, err := parse("run.json", data)
	if err != nil || in.Kind != InputThroughput {
		t.Fatalf("saved run does not load: %v", err)
	}
	c, err := ComparePairwise("run.json", in.Throughput, Options{})
	if err != nil || len(c.Rows) != 3 {
		t.Fatalf("pairwise: %v %+v", err, c)
	}
}
