package htmlreport

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"time"

	"wsgilab/internal/bench"
)

// ForBench makes the report of a `wsgilab bench --json` file: what was run, ab's figures and
// wsgilab's percentiles, the per-second timeline (requests and latency), and the latency
// percentile spectrum from the HDR histogram, the plot wrk2's and HdrHistogram's plotters draw
// (x: 1/(1-q) on a log scale, so the tail from p90 to p99.999 gets as much room as the body).
func ForBench(path string, r *bench.Result) *Page {
	target := fmt.Sprintf("%s:%d%s", r.Host, r.Port, r.Path)
	p := &Page{
		Title:    "wsgilab bench " + filepath.Base(path),
		Subtitle: fmt.Sprintf("%s %s, %s", r.Method, target, r.Start.UTC().Format("2006-01-02 15:04:05 MST")),
	}
	mode := fmt.Sprintf("closed loop, %d connections", r.Concurrency)
	if r.Rate != nil {
		mode = fmt.Sprintf("open loop at %g req/s (achieved %.1f), at most %d in flight", r.Rate.Target, r.Rate.Achieved, r.Concurrency)
	}
	p.Header = []Field{
		{"Target", r.Method + " " + target},
		{"Started", r.Start.UTC().Format("2006-01-02 15:04:05.000 MST")},
		{"Elapsed", fmt.Sprintf("%.3f s (stopped: %s)", r.Elapsed.Seconds(), r.StopReason)},
		{"Load", mode},
		{"Keep-alive", strconv.FormatBool(r.KeepAlive)},
	}
	if r.ServerSoftware != "" {
		p.Header = append(p.Header, Field{"Server", r.ServerSoftware})
	}
	p.Summary = &Table{Columns: []string{"complete", "failed", "non-2xx", "req/s", "mean", "p50", "p90", "p99", "p99.9", "max"}}
	row := []string{strconv.FormatInt(r.Complete, 10), strconv.FormatInt(r.Failed, 10), strconv.FormatInt(r.Non2xx, 10),
		fmt.Sprintf("%.1f", r.Throughput.RequestsPerSecond), msText(r.Total.Mean)}
	for _, q := range []float64{50, 90, 99, 99.9} {
		row = append(row, msText(r.Histogram.Percentile(q)))
	}
	p.Summary.Rows = [][]string{append(row, msText(r.Total.Max))}

	p.Sections = []Section{
		{Title: "Timeline", Note: "Each second of the run, by completion time: throughput and errors, then the latency of the requests completed in it.",
			Charts: benchTimeline(r)},
		{Title: "Latency by percentile", Note: "The whole latency distribution from the HDR histogram (3 significant digits): read the tail on the right; a step is a group of requests that waited for the same thing.",
			Charts: []Chart{benchSpectrum(r)}},
	}
	if r.Histogram.Count() == 0 {
		p.Notes = append(p.Notes, "The result has no latency histogram (no request completed).")
	}
	return p
}

func msText(d time.Duration) string { return fmt.Sprintf("%.3f ms", Ms(d)) }

func benchTimeline(r *bench.Result) []Chart {
	n := len(r.Timeline)
	xs := make(Values, n)
	done, sent, errs, non2xx := make(Values, n), make(Values, n), make(Values, n), make(Values, n)
	p50, p99, max := make(Values, n), make(Values, n), make(Values, n)
	for i, s := range r.Timeline {
		xs[i] = float64(s.Second)
		done[i], sent[i] = float64(s.Completed), float64(s.Sent)
		errs[i], non2xx[i] = float64(s.Errors), float64(s.Non2xx)
		p50[i], p99[i], max[i] = Ms(s.P50), Ms(s.P99), Ms(s.Max)
	}
	reqs := Chart{Title: "Requests per second", Note: "completed (and, open loop, started) requests in each second; errors and non-2xx responses",
		X: Axis{Label: "second of the run"}, Y: Axis{Label: "requests", Min: Zero()}, Xs: xs,
		Series: []Series{
			{Label: "completed", Style: StyleStep, Values: done},
			{Label: "errors", Style: StyleStep, Values: errs, Color: "#d62728"},
			{Label: "non-2xx", Style: StyleStep, Values: non2xx, Color: "#ff7f0e"},
		}}
	if r.Rate != nil {
		reqs.Series = append(reqs.Series, Series{Label: "started", Style: StyleStep, Values: sent, Dash: true, Color: "#7f7f7f"})
	}
	lat := Chart{Title: "Latency per second", Note: "p50, p99 and max of the requests completed in each second (log scale)",
		X: Axis{Label: "second of the run"}, Y: Axis{Label: "ms", Scale: ScaleLog}, Xs: xs,
		Series: []Series{
			{Label: "p50", Style: StyleLine, Values: p50},
			{Label: "p99", Style: StyleLine, Values: p99},
			{Label: "max", Style: StyleLine, Values: max, Dash: true},
		}}
	return []Chart{reqs, lat}
}

// benchSpectrum is the latency at each percentile of the histogram, at HdrHistogram's own
// percentile steps (5 per halving of the distance to 100%), x = 1/(1-q). The last step (100%)
// has no finite x: it is drawn at the next decade beyond the previous one, like HdrHistogram's
// plotter caps it.
func benchSpectrum(r *bench.Result) Chart {
	c := Chart{Title: "Latency percentile spectrum", Note: "latency (ms, log scale) at each percentile of every request",
		X: Axis{Label: "percentile", Scale: ScaleQuantile}, Y: Axis{Label: "ms", Scale: ScaleLog}}
	var ys Values
	if h := r.Histogram; h != nil && h.Count() > 0 {
		last := 1.0
		for _, b := range h.HDR().CumulativeDistributionWithTicks(5) {
			q := b.Quantile / 100
			x := 1 / (1 - q)
			if q >= 1 || math.IsInf(x, 0) || x > 1e7 {
				x = math.Pow(10, math.Ceil(math.Log10(last)+1e-9))
				if x <= last {
					x = last * 10
				}
			}
			if x <= last && len(c.Xs) > 0 {
				continue // HdrHistogram repeats a step; uPlot wants x ascending
			}
			c.Xs = append(c.Xs, x)
			ys = append(ys, Ms(time.Duration(b.ValueAt)))
			last = x
			if q >= 1 {
				break
			}
		}
	}
	c.Series = []Series{{Label: "latency", Style: StyleLine, Values: ys, Width: 2}}
	return c
}
