package bench

import (
	"bufio"
	"fmt"
	"io"
	"time"
)

// ReportOptions are ab's switches that change the report.
type ReportOptions struct {
	NoPercentiles bool // ab -d: no percentage table
	NoConfidence  bool // ab -S: min/avg/max only, no sd, median or warnings
	Timeline      bool // --timeline: the per-second table after the report
}

// abMs is ab's ap_round_ms: microseconds (truncated, as apr_time_t) rounded half up
// to whole milliseconds.
func abMs(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	return (us + 500) / 1000
}

// abMsFloat is ab's ap_double_ms for standard deviations.
func abMsFloat(d time.Duration) float64 { return float64(d/time.Microsecond) / 1000 }

// WriteReport writes ab's report for r, field for field, followed by wsgilab's own
// sub-millisecond percentiles (and the open-loop account and timeline when present).
func WriteReport(w io.Writer, r *Result, o ReportOptions) error {
	b := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("\n\n")
	p("Server Software:        %s\n", r.ServerSoftware)
	p("Server Hostname:        %s\n", r.Host)
	p("Server Port:            %d\n", r.Port)
	p("\n")
	p("Document Path:          %s\n", r.Path)
	if r.VariableLength {
		p("Document Length:        Variable\n")
	} else {
		p("Document Length:        %d bytes\n", r.DocumentLength)
	}
	p("\n")
	p("Concurrency Level:      %d\n", r.Concurrency)
	p("Time taken for tests:   %.3f seconds\n", r.Elapsed.Seconds())
	p("Complete requests:      %d\n", r.Complete)
	p("Failed requests:        %d\n", r.Failed)
	if r.Failed > 0 {
		f := r.Failures
		p("   (Connect: %d, Receive: %d, Length: %d, Exceptions: %d)\n", f.Connect, f.Receive, f.Length, f.Exceptions)
	}
	if r.WriteErrors > 0 {
		p("Write errors:           %d\n", r.WriteErrors)
	}
	if r.Non2xx > 0 {
		p("Non-2xx responses:      %d\n", r.Non2xx)
	}
	if r.KeepAlive {
		p("Keep-Alive requests:    %d\n", r.KeepAliveRequests)
	}
	p("Total transferred:      %d bytes\n", r.TotalBytes)
	if r.BodySent {
		p("Total body sent:        %d\n", r.SentBytes)
	}
	p("HTML transferred:       %d bytes\n", r.BodyBytes)
	secs := r.Elapsed.Seconds()
	if secs > 0 && r.Complete > 0 {
		t := r.Throughput
		p("Requests per second:    %.2f [#/sec] (mean)\n", t.RequestsPerSecond)
		p("Time per request:       %.3f [ms] (mean)\n", t.TimePerRequestMs)
		p("Time per request:       %.3f [ms] (mean, across all concurrent requests)\n", t.TimePerRequestAll)
		p("Transfer rate:          %.2f [Kbytes/sec] received\n", t.TransferKBps)
		if r.BodySent {
			p("                        %.2f kb/s sent\n", float64(r.SentBytes)/1024/secs)
			p("                        %.2f kb/s total\n", float64(r.TotalBytes+r.SentBytes)/1024/secs)
		}
	}
	if r.Complete > 0 {
		writeConnectionTimes(p, r, o)
		if !o.NoPercentiles && r.Complete > 1 && len(r.Served) > 0 {
			p("\nPercentage of the requests served within a certain time (ms)\n")
			for _, s := range r.Served {
				if s.Percent >= 100 {
					p(" 100%%  %5d (longest request)\n", abMs(s.Latency))
				} else {
					p("  %d%%  %5d\n", s.Percent, abMs(s.Latency))
				}
			}
		}
		writeOwnPercentiles(p, r)
	}
	if r.Rate != nil {
		writeRate(p, r.Rate)
	}
	if o.Timeline {
		writeTimeline(p, r.Timeline)
	}
	return b.Flush()
}

func writeConnectionTimes(p func(string, ...any), r *Result, o ReportOptions) {
	p("\nConnection Times (ms)\n")
	rows := []struct {
		name string
		s    Summary
	}{{"Connect:    ", r.Connect}, {"Processing: ", r.Processing}, {"Waiting:    ", r.Waiting}, {"Total:      ", r.Total}}
	if o.NoConfidence {
		p("              min   avg   max\n")
		for _, row := range rows {
			p("%s%5d %5d%5d\n", row.name, abMs(row.s.Min), abMs(row.s.Mean), abMs(row.s.Max))
		}
		return
	}
	p("              min  mean[+/-sd] median   max\n")
	for _, row := range rows {
		p("%s%5d %4d %5.1f %6d %7d\n", row.name, abMs(row.s.Min), abMs(row.s.Mean), abMsFloat(row.s.StdDev),
			abMs(row.s.Median), abMs(row.s.Max))
	}
	// ab's sanity warnings, on its rounded figures.
	for i, what := range []string{"the initial connection time", "the processing time", "the waiting time", "the total time"} {
		s := rows[i].s
		d := float64(abMs(s.Mean) - abMs(s.Median))
		if d < 0 {
			d = -d
		}
		sd := abMsFloat(s.StdDev)
		if d > 2*sd {
			p("ERROR: The median and mean for %s are more than twice the standard\n"+
				"       deviation apart. These results are NOT reliable.\n", what)
		} else if d > sd {
			p("WARNING: The median and mean for %s are not within a normal deviation\n"+
				"        These results are probably not that reliable.\n", what)
		}
	}
}

// writeOwnPercentiles adds what ab cannot: the tail at microsecond precision.
func writeOwnPercentiles(p func(string, ...any), r *Result) {
	p("\nLatency percentiles (wsgilab, ms, from an HDR histogram of %d requests)\n", r.Histogram.Count())
	for _, q := range r.Percentiles {
		name := "max"
		if q.Percentile < 100 {
			name = "p" + trimFloat(q.Percentile)
		}
		p("  %-7s %10.3f\n", name, float64(q.Latency)/1e6)
	}
}

func trimFloat(f float64) string { return fmt.Sprintf("%g", f) }

func writeRate(p func(string, ...any), rs *RateStats) {
	p("\nOpen-loop rate (latency measured from each request's scheduled time)\n")
	p("Target rate:            %.2f [#/sec]\n", rs.Target)
	p("Achieved rate:          %.2f [#/sec] (requests started)\n", rs.Achieved)
	p("Scheduled requests:     %d\n", rs.Intended)
	p("Started requests:       %d\n", rs.Sent)
	short := 0.0
	if rs.Intended > 0 {
		short = 100 * float64(rs.Shortfall) / float64(rs.Intended)
	}
	p("Shortfall:              %d (%.2f%%)\n", rs.Shortfall, short)
	p("Max backlog:            %d requests (longest wait for a connection %.3f ms)\n", rs.MaxBacklog, float64(rs.MaxLag)/1e6)
}

func writeTimeline(p func(string, ...any), secs []Second) {
	p("\nTimeline (per second of the run, by completion)\n")
	p("%6s %10s %8s %8s %10s %10s %10s %8s\n", "second", "completed", "errors", "non-2xx", "p50 ms", "p99 ms", "max ms", "started")
	for _, s := range secs {
		p("%6d %10d %8d %8d %10.3f %10.3f %10.3f %8d\n", s.Second, s.Completed, s.Errors, s.Non2xx,
			float64(s.P50)/1e6, float64(s.P99)/1e6, float64(s.Max)/1e6, s.Sent)
	}
}

// WriteCSV writes ab's -e file: for each percent 0..100, the time (ms, 3 decimals)
// within which that share of the requests was served, with ab's index rule.
func WriteCSV(w io.Writer, r *Result) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "Percentage served,Time in ms\n")
	h := r.Histogram
	n := h.Count()
	if n > 0 {
		lo, hi := r.Total.Min, r.Total.Max
		for i := 0; i <= 100; i++ {
			var t time.Duration
			switch idx := int64(0.5 + float64(n)*float64(i)/100); {
			case i == 0:
				t = lo
			case i == 100 || idx >= n-1:
				t = hi
			default:
				t = min(max(time.Duration(valueAtIndex(h.h, idx)), lo), hi)
			}
			fmt.Fprintf(b, "%d,%.3f\n", i, abMsFloat(t))
		}
	}
	return b.Flush()
}
