package lab

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"wsgilab/internal/apache"
	"wsgilab/internal/bench"
	"wsgilab/internal/broker"
	"wsgilab/internal/observe"
	"wsgilab/internal/stack"
	"wsgilab/internal/stats"
)

// The throughput scenario replaces the write-ups' "one ab run per configuration" (seed 000:
// 563 vs 531 req/s, prefork vs event, with numbers that drift ±20% between runs): every cell
// of the matrix is started at once, each gets warm-up runs that are thrown away, then R
// repetitions of an ab-like run in an interleaved order (A B B A ...) so that the machine's
// drift is spread over every cell, one run at a time. The result is a sample per cell, which
// internal/stats summarises (mean, 95% CI) and compares (Mann-Whitney U, as benchstat).

// ThroughputKind is the "kind" a throughput run's run.json carries, so that `wsgilab compare
// run.json` reads it (it is report.ThroughputKind; internal/report imports this package, so
// the constant cannot be shared).
const ThroughputKind = "wsgilab.throughput/v1"

// Orders of the measured runs.
const (
	OrderBalanced    = "balanced"    // A B B A A B ... (stats.Balanced)
	OrderInterleaved = "interleaved" // A B A B ...     (stats.Interleave)
)

// ThroughputPlan is the shape of the throughput scenario. Its fields are written at the top
// level of run.json, where internal/report's ThroughputRun reads requests, concurrency,
// repetitions, warmup_runs and order.
//
// JSON: {"requests": 1000, "concurrency": 10, "repetitions": 5, "warmup_runs": 1,
// "order": "balanced", "path": "/", "request_timeout_ns": 30000000000}
type ThroughputPlan struct {
	// Requests and Concurrency are ab's -n and -c of every run (default 1000 and 10, like
	// the write-ups). Runs never use keep-alive: a keep-alive connection pins a prefork child.
	Requests    int `json:"requests"`
	Concurrency int `json:"concurrency"`
	// Repetitions is R, the measured runs per cell; WarmupRuns are done per cell first and
	// discarded (the first requests of a process load the interpreter and the app).
	Repetitions int `json:"repetitions"`
	WarmupRuns  int `json:"warmup_runs"`
	// Order is OrderBalanced or OrderInterleaved.
	Order string `json:"order"`
	// Path is the endpoint; "/" is the fake service's cheap one (what `ab URL/` measured).
	Path string `json:"path"`
	// RequestTimeout abandons one request (ab -s).
	RequestTimeout time.Duration `json:"request_timeout_ns"`
}

// DefaultThroughputPlan is the write-ups' `ab -n 1000 -c 10`, five times per cell.
func DefaultThroughputPlan() ThroughputPlan {
	return ThroughputPlan{Requests: 1000, Concurrency: 10, Repetitions: 5, WarmupRuns: 1, Order: OrderBalanced,
		Path: "/", RequestTimeout: 30 * time.Second}
}

// Validate rejects plans that cannot be measured.
func (p ThroughputPlan) Validate() error {
	switch {
	case p.Requests < 1:
		return fmt.Errorf("-n %d: must be >= 1", p.Requests)
	case p.Concurrency < 1 || p.Concurrency > p.Requests:
		return fmt.Errorf("-c %d: must be between 1 and -n (%d)", p.Concurrency, p.Requests)
	case p.Repetitions < 1:
		return fmt.Errorf("--reps=%d: must be >= 1", p.Repetitions)
	case p.WarmupRuns < 0:
		return fmt.Errorf("--warmup=%d: must be >= 0", p.WarmupRuns)
	case p.Order != OrderBalanced && p.Order != OrderInterleaved:
		return fmt.Errorf("--order %q: want %s or %s", p.Order, OrderBalanced, OrderInterleaved)
	case !strings.HasPrefix(p.Path, "/"):
		return fmt.Errorf("--path %q: must start with /", p.Path)
	case p.RequestTimeout <= 0:
		return fmt.Errorf("request timeout %v: must be > 0", p.RequestTimeout)
	}
	return nil
}

// ThroughputCell is what one cell of the throughput scenario measured (CellResult.Throughput).
// The same values, one per repetition, are in the cell's "metrics" (the series compare reads).
//
// JSON:
//
//	{"processes": 2, "threads": 15,             mod_wsgi daemon size (daemon mode only)
//	 "warmup": [Rep, ...],                      discarded runs
//	 "repetitions": [Rep, ...],                 measured runs, in the order they ran
//	 "summary": {"req/s": stats.Summary, "p50": stats.Summary, "p99": stats.Summary}}
//	                                            n, mean, stddev, median, min, max, ci95 {low, high, half_width}
type ThroughputCell struct {
	Processes   int                      `json:"processes,omitempty"`
	Threads     int                      `json:"threads,omitempty"`
	Warmup      []ThroughputRep          `json:"warmup"`
	Repetitions []ThroughputRep          `json:"repetitions"`
	Summary     map[string]stats.Summary `json:"summary,omitempty"`
}

// ThroughputRep is one ab-like run.
//
// JSON:
//
//	{"slot": 3,                   position in the run's schedule (1-based; 0 = warm-up)
//	 "start": "...", "elapsed_s": 1.78, "req_per_s": 561.8,
//	 "p50_ms": 17.1, "p99_ms": 45.2, "max_ms": 61.0,
//	 "complete": 1000, "failed": 0, "non_2xx": 0,
//	 "app_processes": 7,          processes running the app just after the run
//	 "cold_starts": 1,            app loads (mod_wsgi "Loading Python script file") during the run:
//	                              a process Apache created mid-run loaded the app while a request
//	                              waited, which stretches the run and drags its req/s down
//	 "error": ""}                 why the run stopped early, if it did (the run is then left out
//	                              of the cell's series)
type ThroughputRep struct {
	Slot         int       `json:"slot"`
	Start        time.Time `json:"start"`
	ElapsedS     float64   `json:"elapsed_s"`
	ReqPerSec    float64   `json:"req_per_s"`
	P50Ms        float64   `json:"p50_ms"`
	P99Ms        float64   `json:"p99_ms"`
	MaxMs        float64   `json:"max_ms"`
	Complete     int64     `json:"complete"`
	Failed       int64     `json:"failed"`
	Non2xx       int64     `json:"non_2xx"`
	AppProcesses int       `json:"app_processes"`
	ColdStarts   int       `json:"cold_starts"`
	Error        string    `json:"error,omitempty"`

	end time.Time
}

// throughputKnobs is a throughput cell's stack: the MPM's own defaults (what a distribution
// ships, what the write-ups measured) unless the user set knobs, and mod_wsgi's defaults for a
// daemon process group that was not sized.
func throughputKnobs(base stack.Options, spec CellSpec) stack.Options {
	o := base
	o.MPM, o.Mode, o.Heartbeat, o.MonkeyPatch = spec.MPM, spec.Mode, spec.Heartbeat, spec.MonkeyPatch
	if spec.Mode == "daemon" {
		if o.Processes == 0 {
			o.Processes = apache.DefaultDaemonProcesses
		}
		if o.Threads == 0 {
			o.Threads = apache.DefaultDaemonThreads
		}
	} else {
		o.Processes, o.Threads, o.Preload, o.InactivityTimeout = 0, 0, false, 0
	}
	return o
}

// runThroughput runs the throughput scenario over res.Cells (their specs set): every cell is
// started at once, warmed up, measured in the interleaved schedule, then stopped.
func runThroughput(ctx context.Context, b *broker.Broker, runDir, runID string, o Options, res *RunResult) {
	plan := o.Throughput
	cells := make([]*stack.Cell, len(res.Cells))
	var wg sync.WaitGroup
	for i := range res.Cells {
		wg.Go(func() { cells[i] = startThroughputCell(ctx, b, runDir, runID, o, &res.Cells[i]) })
	}
	wg.Wait()
	defer func() {
		var wg sync.WaitGroup
		for i, c := range cells {
			if c == nil {
				continue
			}
			wg.Go(func() {
				t0 := time.Now()
				if err := c.Stop(); err != nil {
					res.Cells[i].Notes = append(res.Cells[i].Notes, "teardown: "+err.Error())
				}
				res.Cells[i].TeardownMs = ms(time.Since(t0))
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				c.Vhost.Delete(dctx)
			})
		}
		wg.Wait()
	}()

	var up []int // indexes of the cells that started, in matrix order
	for i, c := range cells {
		if c != nil {
			up = append(up, i)
		}
	}
	for _, i := range up {
		for w := 0; w < plan.WarmupRuns && ctx.Err() == nil; w++ {
			rep := throughputRun(ctx, cells[i], plan)
			res.Cells[i].Throughput.Warmup = append(res.Cells[i].Throughput.Warmup, rep)
			progress(o.Progress, "cell %s: warm-up %d/%d: %.1f req/s (discarded)", res.Cells[i].Spec.ID, w+1,
				plan.WarmupRuns, rep.ReqPerSec)
		}
	}
	schedule := stats.Balanced(up, plan.Repetitions)
	if plan.Order == OrderInterleaved {
		schedule = stats.Interleave(up, plan.Repetitions)
	}
	for k, i := range schedule {
		if ctx.Err() != nil {
			break
		}
		c := &res.Cells[i]
		rep := throughputRun(ctx, cells[i], plan)
		rep.Slot = k + 1
		c.Throughput.Repetitions = append(c.Throughput.Repetitions, rep)
		progress(o.Progress, "run %d/%d: %s %.1f req/s, p50 %.2f ms, p99 %.2f ms", k+1, len(schedule), c.Spec.ID,
			rep.ReqPerSec, rep.P50Ms, rep.P99Ms)
		if rep.Error != "" {
			// A run that stopped early measured something else than its siblings: keep it
			// out of the sample, say so.
			c.Notes = append(c.Notes, fmt.Sprintf("run %d left out of the sample: %s", k+1, rep.Error))
			continue
		}
		res.Schedule = append(res.Schedule, c.Spec.ID)
		c.addRepetition(rep)
	}
	for _, i := range up {
		c := &res.Cells[i]
		countColdStarts(cells[i], c.Throughput)
		if ctx.Err() != nil {
			c.fail(fmt.Errorf("interrupted: %w", ctx.Err()))
		} else {
			c.summarizeThroughput(plan)
		}
		progress(o.Progress, "cell %s: %s", c.Spec.ID, c.Verdict.Kind)
	}
	// Every cell lived through the whole scenario.
	for i := range res.Cells {
		res.Cells[i].Elapsed = time.Since(res.Start).Seconds()
	}
}

// startThroughputCell creates the cell's vhost and starts its stack; nil when it failed (the
// cell then has its ERROR verdict).
func startThroughputCell(ctx context.Context, b *broker.Broker, runDir, runID string, o Options, res *CellResult) *stack.Cell {
	began := time.Now()
	res.Dir = filepath.Join(runDir, res.Spec.ID)
	res.Cell = res.Spec.ID
	kn := throughputKnobs(o.Base, res.Spec)
	res.Throughput = &ThroughputCell{Processes: kn.Processes, Threads: kn.Threads,
		Warmup: []ThroughputRep{}, Repetitions: []ThroughputRep{}}
	progress(o.Progress, "cell %s: starting", res.Spec.ID)
	vhost, err := b.NewVhost(ctx, "wsgilab-"+runID+"-"+res.Spec.ID)
	if err != nil {
		res.fail(fmt.Errorf("creating the cell's vhost: %w", err))
		return nil
	}
	res.Vhost = vhost.Name
	c := res.startStack(ctx, res.Dir, vhost, kn)
	if c == nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		vhost.Delete(dctx)
		progress(o.Progress, "cell %s: %s (%.1fs)", res.Spec.ID, res.Verdict.Kind, time.Since(began).Seconds())
		return nil
	}
	progress(o.Progress, "cell %s: up (%.1fs)", res.Spec.ID, time.Since(began).Seconds())
	return c
}

// throughputRun is one ab-like run against a cell.
func throughputRun(ctx context.Context, c *stack.Cell, plan ThroughputPlan) ThroughputRep {
	rep := ThroughputRep{Start: time.Now()}
	r, err := bench.Run(ctx, bench.Config{
		URL: c.URL() + plan.Path, Requests: int64(plan.Requests), Concurrency: plan.Concurrency,
		Timeout: plan.RequestTimeout,
		// ab gives up after 10 failures that never complete (connect errors, timeouts): a dead
		// cell must not hang the run.
		MaxFailures: 10,
	})
	rep.end = time.Now()
	rep.AppProcesses = appProcesses(c)
	if r == nil {
		if err == nil {
			err = errors.New("no result")
		}
		rep.Error = err.Error()
		return rep
	}
	rep.ElapsedS = r.Elapsed.Seconds()
	rep.ReqPerSec = round3(r.Throughput.RequestsPerSecond)
	rep.Complete, rep.Failed, rep.Non2xx = r.Complete, r.Failed, r.Non2xx
	for _, p := range r.Percentiles {
		switch p.Percentile {
		case 50:
			rep.P50Ms = ms3(p.Latency)
		case 99:
			rep.P99Ms = ms3(p.Latency)
		case 100:
			rep.MaxMs = ms3(p.Latency)
		}
	}
	switch {
	case err != nil:
		rep.Error = err.Error()
	case r.StopReason != "requests":
		rep.Error = "stopped early: " + r.StopReason
	case r.Complete < int64(plan.Requests):
		rep.Error = fmt.Sprintf("%d of %d requests completed", r.Complete, plan.Requests)
	}
	return rep
}

// countColdStarts counts, per run, the app loads the cell's error log shows during it.
func countColdStarts(c *stack.Cell, t *ThroughputCell) {
	events, err := observe.ReadProcessEvents(c.Apache.ErrorLog())
	if err != nil {
		return
	}
	for _, reps := range [][]ThroughputRep{t.Warmup, t.Repetitions} {
		for k := range reps {
			r := &reps[k]
			for _, e := range events {
				if e.Rule == "wsgi_script_load" && !e.Time.Before(r.Start) && !e.Time.After(r.end) {
					r.ColdStarts++
				}
			}
		}
	}
}

func ms3(d time.Duration) float64 { return round3(float64(d) / 1e6) }

// addRepetition appends a measured run to the cell's series, in the names and units
// internal/report compares (stats.MetricThroughput, MetricP50, MetricP99).
func (r *CellResult) addRepetition(rep ThroughputRep) {
	if len(r.Metrics) == 0 {
		r.Metrics = []stats.Series{
			{Name: stats.MetricThroughput, Unit: stats.UnitReqPerSec, Values: []float64{}},
			{Name: stats.MetricP50, Unit: stats.UnitMillis, Values: []float64{}},
			{Name: stats.MetricP99, Unit: stats.UnitMillis, Values: []float64{}},
		}
	}
	for k := range r.Metrics {
		s := &r.Metrics[k]
		switch s.Name {
		case stats.MetricThroughput:
			s.Values = append(s.Values, rep.ReqPerSec)
		case stats.MetricP50:
			s.Values = append(s.Values, rep.P50Ms)
		case stats.MetricP99:
			s.Values = append(s.Values, rep.P99Ms)
		}
	}
}

// summarizeThroughput sets the cell's summaries and its one-line verdict.
func (r *CellResult) summarizeThroughput(plan ThroughputPlan) {
	if len(r.Metrics) == 0 || len(r.Metrics[0].Values) == 0 {
		r.fail(fmt.Errorf("no repetition was measured (of %d)", plan.Repetitions))
		return
	}
	r.Throughput.Summary = map[string]stats.Summary{}
	for _, s := range r.Metrics {
		if sum, err := stats.Summarize(s.Values); err == nil {
			r.Throughput.Summary[s.Name] = sum
		}
	}
	rps, p50, p99 := r.Throughput.Summary[stats.MetricThroughput], r.Throughput.Summary[stats.MetricP50],
		r.Throughput.Summary[stats.MetricP99]
	ci := "no CI with one run"
	if rps.CI != nil {
		ci = fmt.Sprintf("± %.1f (95%% CI)", rps.CI.HalfWidth)
	}
	reason := fmt.Sprintf("%.1f req/s %s over %d runs; p50 %.2f ms, p99 %.2f ms (means)", rps.Mean, ci, rps.N,
		p50.Mean, p99.Mean)
	cold := 0
	for _, rep := range r.Throughput.Repetitions {
		if rep.ColdStarts > 0 && rep.Error == "" {
			cold++
		}
	}
	if cold > 0 {
		reason += fmt.Sprintf("; %d of %d runs had a process load the app mid-run", cold, rps.N)
	}
	if n := len(r.Throughput.Repetitions) - rps.N; n > 0 {
		reason += fmt.Sprintf("; %d run(s) left out (see notes)", n)
	}
	r.Verdict = Verdict{Kind: VerdictMeasured, Reason: reason}
}
