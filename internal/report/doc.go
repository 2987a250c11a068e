// Package report turns saved results into comparisons: it reads `wsgilab bench --json`
// outputs and throughput-scenario results, pairs what can be paired (cells by ID, metrics by
// name), and prints a benchstat-like table or JSON. The statistics are internal/stats'.
//
// # Throughput result (input, written by the throughput scenario)
//
// Kind "wsgilab.throughput/v1", Go type ThroughputRun:
//
//	{
//	  "kind": "wsgilab.throughput/v1",
//	  "scenario": "throughput",
//	  "requests": 1000,            // ab -n of every repetition
//	  "concurrency": 10,           // ab -c
//	  "repetitions": 5,            // measured runs per cell (R)
//	  "warmup_runs": 1,            // runs per cell done first and discarded
//	  "order": "balanced",         // "interleaved" (A B A B) or "balanced" (A B B A)
//	  "schedule": ["prefork-embedded-green", "event-embedded-green", "event-embedded-green", ...],
//	  "cells": [
//	    {"cell": "prefork-embedded-green",          // lab.CellSpec.ID
//	     "metrics": [                                // stats.Series, one value per repetition, run order
//	       {"name": "req/s", "unit": "req/s", "values": [563, 548, 571, 555, 560]},
//	       {"name": "p50",   "unit": "ms",    "values": [17.1, 17.5, 16.9, 17.8, 17.3]},
//	       {"name": "p99",   "unit": "ms",    "values": [45.2, 61.0, 44.8, 47.5, 52.3]}]}
//	  ]
//	}
//
// Unknown fields are ignored on reading, so the runner may add more (cell configuration,
// timestamps, other metrics: any extra series is compared like the others).
//
// # Bench result (input)
//
// The JSON of internal/bench.Result, recognised by its top-level "throughput", "timeline",
// "complete" and "elapsed_ns" keys (it has no "kind"). compare reads throughput.
// requests_per_second, percentiles[] (percentile 50 and 99; else served[] percent 50 and 99),
// timeline[] (second, completed, p50_ns, p99_ns), complete and elapsed_ns; see BenchResult.
//
// # Comparison (output of `wsgilab compare --json`)
//
// Kind "wsgilab.compare/v1", Go type Comparison:
//
//	{
//	  "kind": "wsgilab.compare/v1",
//	  "input": "throughput",                 // or "bench"
//	  "a": {"label": "prefork.json", "files": ["prefork.json"]},   // label: column header
//	  "b": {"label": "B", "files": ["event1.json", "event2.json"]},
//	  "basis": ["one value per repetition of each cell (...)"],     // what the samples are
//	  "test": "Mann-Whitney U",              // or "Welch t"
//	  "alpha": 0.05,                         // significant when p < alpha
//	  "confidence": 0.95,                    // level of every ci95
//	  "rows": [{
//	    "cell": "prefork-embedded-green",    // absent for bench files
//	    "cell_b": "event-embedded-green",    // only in a pairwise comparison of one run
//	    "metric": "req/s", "unit": "req/s",
//	    "a": {                               // stats.Summary of side A's sample
//	      "n": 5, "mean": 559.4, "stddev": 8.62, "median": 560, "min": 548, "max": 571,
//	      "ci95": {"low": 548.7, "high": 570.1, "half_width": 10.7}   // absent when n < 2
//	    },
//	    "b": {...},
//	    "comparison": {                      // stats.Comparison, B against A
//	      "n_a": 5, "n_b": 5,
//	      "delta_pct": 5.08,                 // (mean B / mean A - 1) * 100; absent when mean A is 0
//	      "p": 0.0079, "test": "Mann-Whitney U", "alpha": 0.05, "significant": true,
//	      "verdict": "+5.1% (p=0.008 n=5+5)",  // "~ (p=0.421 n=5+5)" when not significant
//	      "notes": ["need >= 4 samples to detect a difference at alpha level 0.05"]  // when any
//	    }
//	  }],
//	  "notes": ["cell event-daemon-off is only in A: not compared"]  // when any
//	}
package report
