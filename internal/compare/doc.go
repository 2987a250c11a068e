// Package compare is where wsgilab's comparisons live: it reads saved results (runs' run.json,
// older throughput results, `wsgilab bench --json` outputs), pairs what can be paired (cells by
// ID, metrics by name), and prints a benchstat-like table or JSON. It knows no scenario: any run
// whose cells carry metrics is compared the same way; a scenario that has more to compare
// (verdicts, figures measured once, samples in its own fields) implements RunComparer, which
// `wsgilab compare` finds through the scenario registry; any other run compares by its cells'
// verdicts (CompareVerdicts). The statistics are internal/stats'.
//
// # Run (input, run.json of any scenario)
//
// Kind "wsgilab.run/v1" (results.RunKind; see internal/results for the whole format). compare
// reads "scenario" and, of each cell, "id" and "metrics" (results.Cell.Metrics: stats.Series,
// one value per repetition, in run order); everything else is ignored:
//
//	{
//	  "kind": "wsgilab.run/v1",
//	  "scenario": "throughput",                  // Comparison.input; runs of two scenarios are not compared
//	  "plan": {...},                             // ignored
//	  "cells": [
//	    {"id": "prefork-embedded-green",         // cells of two runs are paired by id
//	     "verdict": {"kind": "MEASURED", ...},   // ignored, like every other field of the cell
//	     "metrics": [                            // series are paired by name
//	       {"name": "req/s", "unit": "req/s", "values": [563, 548, 571, 555, 560]},
//	       {"name": "p50",   "unit": "ms",    "values": [17.1, 17.5, 16.9, 17.8, 17.3]},
//	       {"name": "p99",   "unit": "ms",    "values": [45.2, 61.0, 44.8, 47.5, 52.3]}]}
//	  ]
//	}
//
// Cells without "metrics" are left out (a cell that failed, a scenario that judges rather than
// measures); a run none of whose cells has metrics (a heartbeat run, say) is an input error.
// Today the throughput scenario is the one that gives its cells metrics. Go type: RunSamples
// (FromRun).
//
// # Older throughput result (input)
//
// Kind "wsgilab.throughput/v1" (ThroughputKind), what the throughput scenario saved before
// run.json had one format. compare reads "cells" (each "cell", its ID, and "metrics", as
// above, which every cell must have) into the same RunSamples as a run.json, so that an old
// run compares with a new one; the other fields are ignored:
//
//	{
//	  "kind": "wsgilab.throughput/v1",
//	  "scenario": "throughput",
//	  "requests": 1000, "concurrency": 10, "repetitions": 5, "warmup_runs": 1,
//	  "order": "balanced",
//	  "schedule": ["prefork-embedded-green", "event-embedded-green", ...],
//	  "cells": [
//	    {"cell": "prefork-embedded-green",
//	     "metrics": [{"name": "req/s", "unit": "req/s", "values": [563, 548, 571, 555, 560]}, ...]}
//	  ]
//	}
//
// # Bench result (input)
//
// The JSON of internal/bench.Result (`wsgilab bench --json`), recognised by its top-level
// "throughput", "timeline", "complete" and "elapsed_ns" keys (it has no "kind"), and decoded
// as a bench.Result. compare reads throughput.requests_per_second, percentiles[] (percentile
// 50 and 99; else served[] percent 50 and 99), timeline[] (second, completed, p50_ns,
// p99_ns), complete (a run that completed none is an input error) and elapsed_ns.
//
// # Comparison (output of `wsgilab compare --json`)
//
// Kind "wsgilab.compare/v1", Go type Comparison:
//
//	{
//	  "kind": "wsgilab.compare/v1",
//	  "input": "throughput",                 // the runs' scenario, or "bench"
//	  "a": {"label": "prefork.json", "files": ["prefork.json"]},   // label: column header
//	  "b": {"label": "B", "files": ["event1.json", "event2.json"]},
//	  "basis": ["one value per repetition of each cell (req/s, p50, p99)"],  // what the samples are,
//	                                         // naming the metrics compared
//	  "test": "Mann-Whitney U",              // or "Welch t"
//	  "alpha": 0.05,                         // significant when p < alpha
//	  "confidence": 0.95,                    // level of every ci95
//	  "cells": [{                            // two runs of a scenario compared cell by cell (CellChange)
//	    "cell": "prefork-embedded-green",
//	    "verdict_a": "DROPPED", "verdict_b": "STABLE", "changed": true,
//	    "reason_a": "...", "reason_b": "...",
//	    "figures": [{"name": "time to drop", "unit": "s", "a": 4.8, "b": null}, ...]  // Figure
//	  }],
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
//	      "ratio": {"estimate": 1.051, "low": 1.021, "high": 1.082, "method": "Fieller", "df": 7.6},
//	                                         // mean B / mean A and its 95% CI (stats.Ratio); low/high
//	                                         // absent (and a "note") when there is no interval
//	      "p": 0.0079, "test": "Mann-Whitney U", "alpha": 0.05, "significant": true,
//	      "verdict": "+5.1% (p=0.008 n=5+5)",  // "~ (p=0.421 n=5+5)" when not significant
//	      "notes": ["need >= 4 samples to detect a difference at alpha level 0.05"]  // when any
//	    }
//	  }],
//	  "notes": ["cell event-daemon-off is only in A: not compared"]  // when any
//	}
package compare
