// Package throughput is the write-ups' "one ab run per configuration" (seed 000: 563 vs 531
// req/s, prefork vs event, with numbers that drift ±20% between runs) done properly: every
// cell of the matrix is started at once, each gets warm-up runs that are thrown away, then R
// repetitions of an ab-like run in an interleaved order (A B B A ...) so that the machine's
// drift is spread over every cell, one run at a time. The result is a sample per cell, which
// internal/stats summarises (mean, 95% CI) and internal/compare compares (Mann-Whitney U, as
// benchstat).
package throughput

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"wsgilab/internal/apache"
	"wsgilab/internal/bench"
	"wsgilab/internal/observe"
	"wsgilab/internal/results"
	"wsgilab/internal/runner"
	"wsgilab/internal/server"
	"wsgilab/internal/stack"
	"wsgilab/internal/stats"
)

// Orders of the measured runs.
const (
	OrderBalanced    = "balanced"    // A B B A A B ... (stats.Balanced)
	OrderInterleaved = "interleaved" // A B A B ...     (stats.Interleave)
)

// Plan is the shape of the throughput scenario (run.json's "plan").
//
// JSON: {"requests": 1000, "concurrency": 10, "repetitions": 5, "warmup_runs": 1,
// "order": "balanced", "path": "/", "request_timeout_ns": 30000000000,
// "matrix": runner.Matrix, "monkey_patch": true, "test": "Mann-Whitney U", "alpha": 0.05}
type Plan struct {
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
	// Matrix is expanded into the cells, each with MonkeyPatch; Base holds the stack options
	// common to every cell (app, daemon size, import cost).
	Matrix      runner.Matrix `json:"matrix"`
	MonkeyPatch bool          `json:"monkey_patch"`
	Base        stack.Options `json:"-"`
	App         string        `json:"app,omitempty"`
	// Test and Alpha are how the report compares the cells (stats.Compare).
	Test  stats.Test `json:"test"`
	Alpha float64    `json:"alpha"`
}

// DefaultPlan is the write-ups' `ab -n 1000 -c 10`, five times per cell.
func DefaultPlan() Plan {
	return Plan{Requests: 1000, Concurrency: 10, Repetitions: 5, WarmupRuns: 1, Order: OrderBalanced,
		Path: "/", RequestTimeout: 30 * time.Second, MonkeyPatch: true, Test: stats.MannWhitney, Alpha: stats.Alpha,
		Matrix: runner.Matrix{MPMs: []string{"prefork", "event"}, Modes: []string{"embedded"}, Heartbeats: []string{"green"}}}
}

// Validate rejects plans that cannot be measured.
func (p Plan) Validate() error {
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
	case !(p.Alpha > 0 && p.Alpha < 1):
		return fmt.Errorf("--alpha %v: want a number between 0 and 1", p.Alpha)
	}
	return nil
}

// Result is what one cell of the throughput scenario measured (CellResult.Throughput).
// The same values, one per repetition, are in the cell's "metrics" (the series compare reads).
//
// JSON:
//
//	{"processes": 2, "threads": 15,             mod_wsgi daemon size (daemon mode only)
//	 "warmup": [Rep, ...],                      discarded runs
//	 "repetitions": [Rep, ...],                 measured runs, in the order they ran
//	 "summary": {"req/s": stats.Summary, "p50": stats.Summary, "p99": stats.Summary}}
//	                                            n, mean, stddev, median, min, max, ci95 {low, high, half_width}
type Result struct {
	Processes   int                      `json:"processes,omitempty"`
	Threads     int                      `json:"threads,omitempty"`
	Warmup      []Rep                    `json:"warmup"`
	Repetitions []Rep                    `json:"repetitions"`
	Summary     map[string]stats.Summary `json:"summary,omitempty"`
}

// Rep is one ab-like run.
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
type Rep struct {
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

// CellResult is what one throughput cell produced (<out>/<cell id>.json, and in run.json).
//
// JSON: results.Cell's fields (id, vhost, dir, url, verdict, notes, metrics, ...) and
//
//	{"spec": runner.CellSpec, "throughput": Result}
//
// "metrics" holds the series compare reads: req/s, p50 and p99 (ms), one value per measured
// run, in the order they ran.
type CellResult struct {
	results.Cell
	Spec       runner.CellSpec `json:"spec"`
	Throughput *Result         `json:"throughput,omitempty"`
}

// Summary is the whole cell: nothing in it is bulky.
func (r *CellResult) Summary() any { return r }

func (p *Plan) Cells() []runner.Cell {
	var out []runner.Cell
	for _, s := range p.Matrix.Specs() {
		s.MonkeyPatch = p.MonkeyPatch
		out = append(out, runner.Cell{ID: s.Name(), Stack: p.knobs(s), Spec: s})
	}
	return out
}

func (p *Plan) NewResult(c runner.Cell) runner.CellResult {
	return &CellResult{Spec: c.Spec.(runner.CellSpec)}
}

// knobs is a throughput cell's stack: the MPM's own defaults (what a distribution ships, what
// the write-ups measured) unless the user set knobs, and mod_wsgi's defaults for a daemon
// process group that was not sized.
func (p *Plan) knobs(spec runner.CellSpec) stack.Options {
	o := p.Base
	processes, threads := o.Processes, o.Threads
	o.Options = spec.ServerOptions()
	o.Processes, o.Threads = processes, threads
	o.Heartbeat, o.MonkeyPatch = spec.Heartbeat, spec.MonkeyPatch
	if !spec.IsApache() {
		// Two workers (uWSGI and gunicorn start one by default), two threads for gthread.
		if o.Processes == 0 {
			o.Processes = 2
		}
		if o.Threads == 0 && spec.Worker == "gthread" {
			o.Threads = 2
		}
		return o
	}
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

// Run starts every cell at once, warms each up, measures them in the interleaved schedule,
// one run at a time, then stops them.
func (p *Plan) Run(ctx context.Context, env *runner.Env, cells []runner.Cell, res []runner.CellResult) {
	began := time.Now()
	rs := make([]*CellResult, len(res))
	stacks := make([]*runner.Stack, len(cells))
	var wg sync.WaitGroup
	for i := range cells {
		rs[i] = res[i].(*CellResult)
		wg.Go(func() { stacks[i] = p.start(ctx, env, cells[i], rs[i]) })
	}
	wg.Wait()
	defer func() {
		var wg sync.WaitGroup
		for _, s := range stacks {
			if s != nil {
				wg.Go(func() { s.Stop(ctx) })
			}
		}
		wg.Wait()
		// Every cell lived through the whole scenario.
		for _, r := range rs {
			r.Elapsed = time.Since(began).Seconds()
		}
	}()

	var up []int // indexes of the cells that started, in matrix order
	for i, s := range stacks {
		if s != nil {
			up = append(up, i)
		}
	}
	for _, i := range up {
		for w := 0; w < p.WarmupRuns && ctx.Err() == nil; w++ {
			rep := measure(ctx, stacks[i], *p)
			rs[i].Throughput.Warmup = append(rs[i].Throughput.Warmup, rep)
			env.Progress("cell %s: warm-up %d/%d: %.1f req/s (discarded)", rs[i].ID, w+1, p.WarmupRuns, rep.ReqPerSec)
		}
	}
	schedule := stats.Balanced(up, p.Repetitions)
	if p.Order == OrderInterleaved {
		schedule = stats.Interleave(up, p.Repetitions)
	}
	for k, i := range schedule {
		if ctx.Err() != nil {
			break
		}
		c := rs[i]
		rep := measure(ctx, stacks[i], *p)
		rep.Slot = k + 1
		c.Throughput.Repetitions = append(c.Throughput.Repetitions, rep)
		env.Progress("run %d/%d: %s %.1f req/s, p50 %.2f ms, p99 %.2f ms", k+1, len(schedule), c.ID,
			rep.ReqPerSec, rep.P50Ms, rep.P99Ms)
		if rep.Error != "" {
			// A run that stopped early measured something else than its siblings: keep it
			// out of the sample, say so.
			c.Note("run %d left out of the sample: %s", k+1, rep.Error)
			continue
		}
		c.addRepetition(rep)
	}
	for _, i := range up {
		c := rs[i]
		countColdStarts(stacks[i], c.Throughput)
		if ctx.Err() != nil {
			c.Fail(fmt.Errorf("interrupted: %w", ctx.Err()))
		} else {
			c.summarize(*p)
		}
		env.Progress("cell %s: %s", c.ID, c.Verdict.Kind)
	}
}

// Schedule lists the cell ids of a run's measured runs in the order they ran (by slot).
func Schedule(cells []CellResult) []string {
	type slot struct {
		k  int
		id string
	}
	var slots []slot
	for _, c := range cells {
		if c.Throughput == nil {
			continue
		}
		for _, r := range c.Throughput.Repetitions {
			if r.Error == "" {
				slots = append(slots, slot{r.Slot, c.ID})
			}
		}
	}
	slices.SortFunc(slots, func(a, b slot) int { return a.k - b.k })
	out := make([]string, len(slots))
	for i, s := range slots {
		out[i] = s.id
	}
	return out
}

// start starts the cell's stack; nil when it failed (the cell then has its ERROR verdict).
func (p *Plan) start(ctx context.Context, env *runner.Env, c runner.Cell, res *CellResult) *runner.Stack {
	began := time.Now()
	res.Throughput = &Result{Processes: c.Stack.Processes, Threads: c.Stack.Threads,
		Warmup: []Rep{}, Repetitions: []Rep{}}
	env.Progress("cell %s: starting", c.ID)
	s := env.StartStack(ctx, c, c.Stack, &res.Cell)
	if s == nil {
		env.Progress("cell %s: %s (%.1fs)", c.ID, res.Verdict.Kind, time.Since(began).Seconds())
		return nil
	}
	env.Progress("cell %s: up (%.1fs)", c.ID, time.Since(began).Seconds())
	return s
}

// measure is one ab-like run against a cell.
func measure(ctx context.Context, s *runner.Stack, plan Plan) Rep {
	rep := Rep{Start: time.Now()}
	r, err := bench.Run(ctx, bench.Config{
		URL: s.URL() + plan.Path, Requests: int64(plan.Requests), Concurrency: plan.Concurrency,
		Timeout: plan.RequestTimeout,
		// ab gives up after 10 failures that never complete (connect errors, timeouts): a dead
		// cell must not hang the run.
		MaxFailures: 10,
	})
	rep.end = time.Now()
	rep.AppProcesses = len(s.AppProcesses())
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
func countColdStarts(s *runner.Stack, t *Result) {
	events, err := observe.ReadProcessEvents(server.LogFile(s.Server))
	if err != nil {
		return
	}
	for _, reps := range [][]Rep{t.Warmup, t.Repetitions} {
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

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// addRepetition appends a measured run to the cell's series, in the names and units
// internal/compare compares (stats.MetricThroughput, MetricP50, MetricP99).
func (r *CellResult) addRepetition(rep Rep) {
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
func (r *CellResult) summarize(plan Plan) {
	if len(r.Metrics) == 0 || len(r.Metrics[0].Values) == 0 {
		r.Fail(fmt.Errorf("no repetition was measured (of %d)", plan.Repetitions))
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
	r.Verdict = results.Verdict{Kind: results.Measured, Reason: reason}
}
