package compare

import (
	"strings"
	"testing"
)

// Every unusable input is one error naming the file and what is wrong with it.
func TestCompareFilesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []string
		want string
	}{
		{"missing file", td("nope.json"), td("throughput_b.json"), "nope.json: no such file"},
		{"not JSON", td("notjson.json"), td("throughput_b.json"), "notjson.json: not JSON"},
		{"JSON array", td("throughput_a.json"), td("array.json"), "array.json: not a JSON object"},
		{"unknown kind", td("unknown_kind.json"), td("throughput_b.json"), `unknown kind "wsgilab.heartbeat/v1"`},
		{"no kind, not bench", td("no_kind.json"), td("throughput_b.json"), "no_kind.json: not a wsgilab result"},
		{"newer version", td("throughput_v2.json"), td("throughput_b.json"), `unsupported version "wsgilab.throughput/v2"`},
		{"empty series", td("throughput_empty_series.json"), td("throughput_b.json"), `series "req/s": no values`},
		{"mixed kinds", td("throughput_a.json"), td("bench_event.json"), "is a throughput run but testdata/bench_event.json is a bench result"},
		{"mixed kinds on one side", td("bench_prefork_1.json", "throughput_a.json"), td("bench_event.json"), "compare files of one kind"},
		{"units differ", td("throughput_a.json"), td("throughput_b_us.json"), `metric "p50" is in "ms" on one side and "us" on the other`},
		{"no common cell", td("throughput_one_cell.json"), td("throughput_small.json"), ""},
		{"nothing in common", td("throughput_empty_series.json"), td("throughput_b.json"), "no values"},
		{"no file", nil, td("throughput_b.json"), "at least one file per side"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompareFiles(tc.a, tc.b, Options{})
			if tc.name == "no common cell" {
				// throughput_one_cell's cell is also in throughput_small: this one compares.
				if err != nil {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}

func TestNothingInCommon(t *testing.T) {
	a := Input{Path: "a.json", Kind: InputRun, Run: &RunSamples{Scenario: "throughput",
		Cells: []CellSamples{{Cell: "x", Metrics: nil}}}}
	b := Input{Path: "b.json", Kind: InputRun, Run: &RunSamples{Scenario: "throughput",
		Cells: []CellSamples{{Cell: "y", Metrics: nil}}}}
	_, err := compareRuns([]Input{a}, []Input{b}, Side{Files: []string{"a.json"}}, Side{Files: []string{"b.json"}}, Options{}.withDefaults())
	if err == nil || !strings.Contains(err.Error(), "nothing to compare") {
		t.Errorf("err = %v", err)
	}
}

func TestLoadRejectsCompareOutput(t *testing.T) {
	_, err := parse("cmp.json", []byte(`{"kind": "wsgilab.compare/v1", "rows": []}`))
	if err == nil || !strings.Contains(err.Error(), "output of 'wsgilab compare'") {
		t.Errorf("err = %v", err)
	}
}

func TestLoadRejectsBenchWithoutRequests(t *testing.T) {
	_, err := parse("dead.json", []byte(`{"throughput": {"requests_per_second": 0}, "timeline": [], "complete": 0, "elapsed_ns": 1000}`))
	if err == nil || !strings.Contains(err.Error(), "completed no requests") {
		t.Errorf("err = %v", err)
	}
}

func TestThroughputValidate(t *testing.T) {
	for _, tc := range []struct {
		json, want string
	}{
		{`{"kind": "wsgilab.throughput/v1", "scenario": "throughput"}`, "no cells"},
		{`{"kind": "wsgilab.throughput/v1", "cells": [{"cell": "a"}]}`, "without its \"scenario\""},
		{`{"kind": "wsgilab.throughput/v1", "scenario": "throughput", "cells": [{"metrics": []}]}`, "no id"},
		{`{"kind": "wsgilab.throughput/v1", "scenario": "throughput", "cells": [{"cell": "a", "metrics": [{"name": "p50", "values": [1]}]}, {"cell": "a"}]}`, "appears twice"},
		{`{"kind": "wsgilab.throughput/v1", "scenario": "throughput", "cells": [{"cell": "a", "metrics": [{"name": "p50", "values": [1]}, {"name": "p50", "values": [2]}]}]}`, `metric "p50" appears twice`},
		{`{"kind": "wsgilab.throughput/v1", "scenario": "throughput", "cells": [{"cell": "a"}]}`, "no metrics"},
		{`{"kind": "wsgilab.throughput/v1", "scenario": "throughput", "cells": [{"cell": "a", "metrics": [{"name": "p50", "values": "fast"}]}]}`, "malformed"},
	} {
		_, err := parse("r.json", []byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.json, err, tc.want)
		}
	}
}
