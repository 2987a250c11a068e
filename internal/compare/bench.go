package compare

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"wsgilab/internal/bench"
	"wsgilab/internal/stats"
)

// looksLikeBench recognises bench output, which has no "kind" field, by the top-level keys
// that only it has together.
func looksLikeBench(top map[string]json.RawMessage) bool {
	for _, k := range []string{"throughput", "timeline", "complete", "elapsed_ns"} {
		if _, ok := top[k]; !ok {
			return false
		}
	}
	return true
}

// parseBench reads `wsgilab bench --json` output and checks that it has what compare reads:
// completed requests, and a p50 and a p99.
func parseBench(data []byte) (*bench.Result, error) {
	b, err := bench.ReadResult(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if b.Complete <= 0 {
		return nil, fmt.Errorf("the run completed no requests: nothing to compare")
	}
	for _, p := range []float64{50, 99} {
		if _, ok := latencyMs(b, p); !ok {
			return nil, fmt.Errorf("no p%v latency in \"percentiles\" or \"served\"", p)
		}
	}
	return b, nil
}

// ms is a duration in milliseconds, the unit of the latency metrics.
func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// latencyMs returns the run's latency percentile p in milliseconds: from the histogram's
// percentiles, or else from ab's "served within" table.
func latencyMs(b *bench.Result, p float64) (float64, bool) {
	for _, q := range b.Percentiles {
		if q.Percentile == p {
			return ms(q.Latency), true
		}
	}
	for _, s := range b.Served {
		if float64(s.Percent) == p {
			return ms(s.Latency), true
		}
	}
	return 0, false
}

// perSecond returns the timeline as samples: req/s of every full second (a second with no
// completion is a 0, not a gap: a stall is data), and the p50/p99 of every second that
// completed a request. The last second is dropped from req/s when the run ended inside it,
// since its count covers only part of a second.
func perSecond(b *bench.Result) (rps, p50, p99 []float64) {
	if len(b.Timeline) == 0 {
		return nil, nil, nil
	}
	last := 0
	counts := map[int]int64{}
	for _, s := range b.Timeline {
		counts[s.Second] += s.Completed
		last = max(last, s.Second)
		if s.Completed > 0 {
			p50 = append(p50, ms(s.P50))
			p99 = append(p99, ms(s.P99))
		}
	}
	full := last + 1
	if b.Elapsed < time.Duration(full)*time.Second {
		full = last // the run ended inside the last second
	}
	for s := range full {
		rps = append(rps, float64(counts[s]))
	}
	return rps, p50, p99
}

// minTimelineSeconds is the fewest full seconds per side below which a per-second comparison
// earns a note: the U-test needs 4 values per side to ever reach p < 0.05.
const minTimelineSeconds = 4

// compareBench compares bench results. With one file per side, the samples are that run's
// per-second timeline; with several files on a side, each file is one repetition and gives
// one value per metric (its overall req/s, p50, p99).
func compareBench(as, bs []Input, sideA, sideB Side, opt Options) (*Comparison, error) {
	c := newComparison(InputBench, sideA, sideB, opt)
	var a, b []sample
	if len(as) == 1 && len(bs) == 1 {
		c.Basis = []string{
			"req/s: requests completed in each full second of each side's timeline (one bench run per side)",
			"p50, p99: latency percentiles of each second of the timeline",
			"seconds of one run are not independent repetitions: p-values are optimistic and ignore run-to-run drift; compare several runs per side for that",
		}
		var notes []string
		a, notes = timelineSamples("A", as[0].Bench)
		c.Notes = append(c.Notes, notes...)
		b, notes = timelineSamples("B", bs[0].Bench)
		c.Notes = append(c.Notes, notes...)
	} else {
		c.Basis = []string{fmt.Sprintf("one value per bench run (%d+%d files): its req/s, p50 and p99 over the whole run", len(as), len(bs))}
		a, b = runSamples(as), runSamples(bs)
	}
	for i := range a {
		row, err := compareSamples("", "", a[i], b[i], opt)
		if err != nil {
			return nil, err
		}
		c.Rows = append(c.Rows, row)
	}
	return c, nil
}

func timelineSamples(side string, r *bench.Result) ([]sample, []string) {
	var notes []string
	rps, p50, p99 := perSecond(r)
	if len(rps) == 0 {
		// A run shorter than one second: fall back to its overall figure rather than
		// compare nothing, and say so.
		rps = []float64{r.Throughput.RequestsPerSecond}
		notes = append(notes, fmt.Sprintf("%s ran less than one full second: its req/s is the whole-run figure (n=1)", side))
	} else if len(rps) < minTimelineSeconds {
		notes = append(notes, fmt.Sprintf("%s's timeline has %d full second(s): run longer (bench -t) or compare several runs per side", side, len(rps)))
	}
	if len(p50) == 0 {
		v50, _ := latencyMs(r, 50)
		v99, _ := latencyMs(r, 99)
		p50, p99 = []float64{v50}, []float64{v99}
	}
	return []sample{
		{metric: stats.MetricThroughput, unit: stats.UnitReqPerSec, values: rps},
		{metric: stats.MetricP50, unit: stats.UnitMillis, values: p50},
		{metric: stats.MetricP99, unit: stats.UnitMillis, values: p99},
	}, notes
}

func runSamples(ins []Input) []sample {
	out := []sample{
		{metric: stats.MetricThroughput, unit: stats.UnitReqPerSec},
		{metric: stats.MetricP50, unit: stats.UnitMillis},
		{metric: stats.MetricP99, unit: stats.UnitMillis},
	}
	for _, in := range ins {
		v50, _ := latencyMs(in.Bench, 50)
		v99, _ := latencyMs(in.Bench, 99)
		out[0].values = append(out[0].values, in.Bench.Throughput.RequestsPerSecond)
		out[1].values = append(out[1].values, v50)
		out[2].values = append(out[2].values, v99)
	}
	return out
}
