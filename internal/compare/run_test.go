package compare

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"wsgilab/internal/results"
	"wsgilab/internal/stats"
)

// scenarioCell is how a scenario's cell result looks: results.Cell and the scenario's own fields.
type scenarioCell struct {
	results.Cell
	Extra map[string]int `json:"extra,omitempty"`
}

// newRun builds a run.json the way a scenario does: cells are results.Cell plus its fields.
func newRun(t *testing.T, scenario string, cells ...scenarioCell) *results.Run {
	t.Helper()
	r := &results.Run{Kind: results.RunKind, Scenario: scenario, ID: "a1b2c3",
		Start: time.Date(2025, 6, 2, 10, 15, 0, 0, time.UTC), Plan: json.RawMessage(`{"requests": 1000}`)}
	for _, c := range cells {
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		r.Cells = append(r.Cells, raw)
	}
	return r
}

func measured(id string, reqs ...float64) scenarioCell {
	p50 := make([]float64, len(reqs))
	for i, v := range reqs {
		p50[i] = 10000 / v
	}
	return scenarioCell{Cell: results.Cell{ID: id, Verdict: results.Verdict{Kind: results.Measured},
		Metrics: []stats.Series{
			{Name: stats.MetricThroughput, Unit: stats.UnitReqPerSec, Values: reqs},
			{Name: stats.MetricP50, Unit: stats.UnitMillis, Values: p50},
		}}, Extra: map[string]int{"repetitions": len(reqs)}}
}

// writeRun saves r as run.json in a temporary directory, as a run does.
func writeRun(t *testing.T, r *results.Run) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), results.RunFile)
	if err := results.WriteJSON(path, r); err != nil {
		t.Fatal(err)
	}
	return path
}

// What a scenario does: give its cells metrics, save run.json; compare reads it back. A cell
// without metrics (one that failed) is left out.
func TestRunRoundTrip(t *testing.T) {
	failed := scenarioCell{Cell: results.Cell{ID: "worker", Verdict: results.Verdict{Kind: results.Error, Reason: "no app"}}}
	run := newRun(t, "throughput", measured("prefork", 500, 503, 498, 501), failed, measured("event", 520, 524, 519, 522))
	path := writeRun(t, run)

	in, err := Load(path)
	if err != nil || in.Kind != InputRun {
		t.Fatalf("saved run does not load: %v %+v", err, in)
	}
	if in.Run.Scenario != "throughput" || len(in.Run.Cells) != 2 || in.Run.Cells[0].Cell != "prefork" || in.Run.Cells[1].Cell != "event" {
		t.Errorf("samples = %+v", in.Run)
	}
	direct, err := FromRun(run)
	if err != nil || !reflect.DeepEqual(direct, in.Run) {
		t.Errorf("FromRun of the run in memory = %+v, %v; loaded: %+v", direct, err, in.Run)
	}

	c, err := ComparePairwise("my run", in.Run, Options{})
	if err != nil || len(c.Rows) != 2 {
		t.Fatalf("pairwise: %v %+v", err, c)
	}
	if c.Input != "throughput" || c.A.Label != "my run" || c.Rows[0].Cell != "prefork" || c.Rows[0].CellB != "event" || !c.Rows[0].Comparison.Significant {
		t.Errorf("pairwise = %+v", c)
	}
	if want := "one value per repetition of each cell (req/s, p50); each pair of cells, the first as baseline"; c.Basis[0] != want {
		t.Errorf("basis = %q, want %q", c.Basis[0], want)
	}
}

func TestFromRunErrors(t *testing.T) {
	quiet := scenarioCell{Cell: results.Cell{ID: "prefork", Verdict: results.Verdict{Kind: "STABLE"}}}
	dup := measured("prefork", 1, 2)
	dup.Metrics = append(dup.Metrics, dup.Metrics[0])
	for _, tc := range []struct {
		name string
		run  *results.Run
		want string
	}{
		{"no metrics", newRun(t, "heartbeat", quiet, quiet), "a heartbeat run: its cells carry no metrics to compare"},
		{"no cells", newRun(t, "spikes"), "a spikes run without cells"},
		{"no scenario", newRun(t, "", measured("a", 1)), "without a scenario"},
		{"no id", newRun(t, "throughput", measured("", 1)), "cell 1 has no id"},
		{"metric twice", newRun(t, "throughput", dup), `metric "req/s" appears twice`},
		{"empty series", newRun(t, "throughput", measured("a")), `series "req/s": no values`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := FromRun(tc.run); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// A run.json and an older throughput result of the same cells compare as two runs: the rows
// are those of two older results with the same values.
func TestCompareRunWithLegacy(t *testing.T) {
	c, err := CompareFiles(td("run_throughput.json"), td("throughput_b.json"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := CompareFiles(td("throughput_a.json"), td("throughput_b.json"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Input != "throughput" || !reflect.DeepEqual(c.Rows, legacy.Rows) || !reflect.DeepEqual(c.Basis, legacy.Basis) {
		t.Errorf("run/v1 vs legacy:\n%+v\nlegacy vs legacy:\n%+v", c, legacy)
	}
	if len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "worker-daemon-pthread is only in B") {
		t.Errorf("notes = %q", c.Notes)
	}
	// And the other way round.
	if _, err := CompareFiles(td("throughput_a.json"), td("run_throughput.json"), Options{}); err != nil {
		t.Error(err)
	}
}

// A lone run.json gives the pairwise comparison of its cells, the same as an older result's.
func TestComparePairwiseRun(t *testing.T) {
	c := pairwise(t, "testdata/run_throughput.json")
	legacy := pairwise(t, "testdata/throughput_a.json")
	// throughput_a has a third cell, so more pairs; its first pair is run_throughput's only one.
	if len(c.Rows) != 3 || !reflect.DeepEqual(c.Rows, legacy.Rows[:3]) || c.Rows[0].CellB != "event-embedded-green" {
		t.Errorf("rows = %+v, want %+v", c.Rows, legacy.Rows[:3])
	}
	if !strings.Contains(string(text(t, c)), "run: testdata/run_throughput.json\n") {
		t.Errorf("header does not name the run:\n%s", text(t, c))
	}
}

func TestCompareRunErrors(t *testing.T) {
	spikes := writeRun(t, newRun(t, "spikes", measured("prefork-embedded-green", 1, 2, 3)))
	v2 := filepath.Join(t.TempDir(), "v2.json")
	if err := os.WriteFile(v2, []byte(`{"kind": "wsgilab.run/v2", "scenario": "throughput", "cells": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		a, b []string
		want []string
	}{
		{"different scenarios", td("run_throughput.json"), []string{spikes},
			[]string{"testdata/run_throughput.json is a throughput run but " + spikes + " is a spikes run", "compare runs of one scenario"}},
		{"different scenarios on one side", []string{spikes, "testdata/throughput_a.json"}, td("throughput_b.json"),
			[]string{"is a spikes run but testdata/throughput_a.json is a throughput run"}},
		{"run and bench", td("run_throughput.json"), td("bench_event.json"), []string{"is a bench result: compare files of one kind"}},
		{"no metrics", td("run_no_metrics.json"), td("run_throughput.json"),
			[]string{"testdata/run_no_metrics.json: a heartbeat run: its cells carry no metrics to compare"}},
		{"newer run version", []string{v2}, td("run_throughput.json"), []string{`unsupported version "wsgilab.run/v2"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompareFiles(tc.a, tc.b, Options{})
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to contain %q", err, w)
				}
			}
		})
	}
}
