// Package throughput is the write-ups' "one ab run per configuration" (seed 000: 563 vs 531
// req/s, prefork vs event, with numbers that drift ±20% between runs) done properly: every
// cell of the matrix is started at once, each is warmed up until a run loads the app in no
// process (warm-up runs are thrown away), then R repetitions of an ab-like run of a fixed
// duration in an interleaved order (A B B A ...) so that the machine's drift is spread over
// every cell, one run at a time; a measured run during which a process loaded the app is run
// again (and reported). The result is a sample per cell, which internal/stats summarises (mean,
// 95% CI) and internal/compare compares (Mann-Whitney U, as benchstat, and the ratio of the
// means with its 95% CI).
package throughput

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
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
// JSON: {"requests": 0, "duration_ns": 2000000000, "concurrency": 10, "repetitions": 6,
// "max_repetitions": 10, "target_half_width_pct": 5,
// "warmup_runs": 1, "max_warmup_runs": 10, "warmup_duration_ns": 1000000000, "max_reruns": 2,
// "mpm_defaults": false,
// "order": "balanced", "path": "/", "request_timeout_ns": 30000000000,
// "matrix": runner.Matrix, "monkey_patch": true, "test": "Mann-Whitney U", "alpha": 0.05}
type Plan struct {
	// A run lasts Duration (bench's --duration), or sends Requests (ab's -n) when Requests is
	// set: a run of 1000 requests lasts a fraction of a second here, too short to be stable.
	// Concurrency is ab's -c. Runs never use keep-alive: a keep-alive connection pins a
	// prefork child.
	Requests    int           `json:"requests"`
	Duration    time.Duration `json:"duration_ns"`
	Concurrency int           `json:"concurrency"`
	// Repetitions is R, the measured runs per cell. While a cell's req/s CI half-width is
	// above TargetHalfWidthPct (% of its mean; 0: no target), every cell gets one more run, in
	// the same balanced order, up to MaxRepetitions each: this machine's req/s drifts ±5-10%
	// from one 2 s run to the next (measured: 12 runs of one cell, alone, 6620-7936 req/s), so
	// six runs give a half-width of 2-8% and a noisy stretch needs a few more.
	Repetitions        int     `json:"repetitions"`
	MaxRepetitions     int     `json:"max_repetitions,omitempty"`
	TargetHalfWidthPct float64 `json:"target_half_width_pct,omitempty"`
	// Each cell is warmed up, with runs that are thrown away, until a run loads the app in no
	// process (the first requests of a process load the interpreter and the app): at least
	// WarmupRuns, at most MaxWarmupRuns, each lasting WarmupDuration (or Requests).
	WarmupRuns     int           `json:"warmup_runs"`
	MaxWarmupRuns  int           `json:"max_warmup_runs"`
	WarmupDuration time.Duration `json:"warmup_duration_ns"`
	// A measured run during which a process loaded the app (a cold start: Apache forked a
	// child mid-run) is run again at once, up to MaxReruns times per slot; the run it
	// replaces stays in the cell's result, out of the sample. The last try counts, cold or not.
	MaxReruns int `json:"max_reruns"`
	// Order is OrderBalanced or OrderInterleaved.
	Order string `json:"order"`
	// Path is the endpoint; "/" is the fake service's cheap one (what `ab URL/` measured).
	Path string `json:"path"`
	// RequestTimeout abandons one request (ab -s).
	RequestTimeout time.Duration `json:"request_timeout_ns"`
	// MPMDefaults keeps Apache's spare-server settings for prefork (StartServers 5,
	// MinSpareServers 5, MaxSpareServers 10). Otherwise prefork starts 2*Concurrency+5 children
	// and keeps every child it forks (MaxSpareServers = preforkKeep): with the defaults, a -c 10
	// load keeps prefork forking children (fewer than 5 idle: a closing connection holds a
	// child too) and reaping them (more than 10 idle) all through a run, each new child loading
	// the app (a second or more of CPU here), so that a run's req/s depends on how many
	// children it happened to create: ±50% on a 2-core machine. That churn is the spikes
	// scenario's subject; this one measures the MPMs once the warm-up made what the load needs.
	MPMDefaults bool `json:"mpm_defaults,omitempty"`
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

// DefaultPlan is the write-ups' comparison (prefork vs event, `ab -c 10`) made to stand: runs of
// 2 s instead of 1000 requests, six per cell. Measured on a 2-core machine: every cell's 95% CI
// within 5% of its mean, in under a minute with the private broker's start (README).
func DefaultPlan() Plan {
	return Plan{Duration: 2 * time.Second, Concurrency: 10, Repetitions: 6, MaxRepetitions: 10, TargetHalfWidthPct: 5,
		WarmupRuns: 1, MaxWarmupRuns: 10,
		WarmupDuration: time.Second, MaxReruns: 2, Order: OrderBalanced,
		Path: "/", RequestTimeout: 30 * time.Second, MonkeyPatch: true, Test: stats.MannWhitney, Alpha: stats.Alpha,
		Matrix: runner.Matrix{MPMs: []string{"prefork", "event"}, Modes: []string{"embedded"}, Heartbeats: []string{"green"}}}
}

// Validate rejects plans that cannot be measured.
func (p Plan) Validate() error {
	switch {
	case p.Requests < 0:
		return fmt.Errorf("-n %d: must be >= 1", p.Requests)
	case p.Requests > 0 && p.Duration > 0:
		return fmt.Errorf("-n %d and --duration %v: a run has one limit, give one", p.Requests, p.Duration)
	case p.Requests == 0 && p.Duration <= 0:
		return fmt.Errorf("--duration %v: must be > 0 (or give -n)", p.Duration)
	case p.Concurrency < 1 || (p.Requests > 0 && p.Concurrency > p.Requests):
		return fmt.Errorf("-c %d: must be between 1 and -n (%d)", p.Concurrency, p.Requests)
	case p.Repetitions < 1:
		return fmt.Errorf("--reps=%d: must be >= 1", p.Repetitions)
	case p.MaxRepetitions != 0 && p.MaxRepetitions < p.Repetitions:
		return fmt.Errorf("--max-reps=%d: must be >= --reps (%d)", p.MaxRepetitions, p.Repetitions)
	case p.TargetHalfWidthPct < 0 || math.IsNaN(p.TargetHalfWidthPct):
		return fmt.Errorf("--ci-target=%v: must be >= 0 (0: no target)", p.TargetHalfWidthPct)
	case p.WarmupRuns < 0:
		return fmt.Errorf("--warmup=%d: must be >= 0", p.WarmupRuns)
	case p.MaxWarmupRuns < p.WarmupRuns:
		return fmt.Errorf("--max-warmup=%d: must be >= --warmup (%d)", p.MaxWarmupRuns, p.WarmupRuns)
	case p.Requests == 0 && p.MaxWarmupRuns > 0 && p.WarmupDuration <= 0:
		return fmt.Errorf("--warmup-duration %v: must be > 0", p.WarmupDuration)
	case p.MaxReruns < 0:
		return fmt.Errorf("--max-reruns=%d: must be >= 0", p.MaxReruns)
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
//	 "start_servers": 15, "max_spare_servers": 256,   prefork's, when the scenario set them (Plan.MPMDefaults)
//	 "warmup": [Rep, ...],                      discarded runs, until one loaded the app in no process
//	 "repetitions": [Rep, ...],                 measured runs, in the order they ran, re-runs and
//	                                            the runs they replaced included
//	 "summary": {"req/s": stats.Summary, "p50": stats.Summary, "p99": stats.Summary}}
//	                                            n, mean, stddev, median, min, max, ci95 {low, high, half_width}
type Result struct {
	Processes       int                      `json:"processes,omitempty"`
	Threads         int                      `json:"threads,omitempty"`
	StartServers    int                      `json:"start_servers,omitempty"`
	MaxSpareServers int                      `json:"max_spare_servers,omitempty"`
	Warmup          []Rep                    `json:"warmup"`
	Repetitions     []Rep                    `json:"repetitions"`
	Summary         map[string]stats.Summary `json:"summary,omitempty"`
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
//	 "rerun": 1,                  this run is the slot's n-th re-run (0: its first try)
//	 "settle_s": 0.3,             the wait before the run for every cell's app processes to be
//	                              idle (an import or an abandoned request still running)
//	 "other_cpu_pct": 1.2,        CPU that processes other than wsgilab's (and what it started)
//	                              used during the run, in % of the whole machine (observe.OtherCPUPct);
//	                              absent in runs recorded before it was measured
//	 "replaced": true,            a cold start made this run be run again: left out of the sample
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
	Rerun        int       `json:"rerun,omitempty"`
	SettleS      float64   `json:"settle_s,omitempty"`
	OtherCPUPct  *float64  `json:"other_cpu_pct,omitempty"`
	Replaced     bool      `json:"replaced,omitempty"`
	Error        string    `json:"error,omitempty"`
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

// preforkKeep is the MaxSpareServers that keeps every child: prefork's MaxRequestWorkers default.
const preforkKeep = 256

// knobs is a throughput cell's stack: the MPM's own defaults (what a distribution ships, what
// the write-ups measured), except prefork's spare servers, sized to the load unless
// MPMDefaults (see Plan); and mod_wsgi's defaults for a daemon process group that was not
// sized.
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
	if spec.MPM == "prefork" && !p.MPMDefaults && o.StartServers == 0 && o.MinSpareServers == 0 && o.MaxSpareServers == 0 {
		o.StartServers, o.MaxSpareServers = 2*p.Concurrency+5, preforkKeep
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
	// The cells warm up side by side: what a warm-up measures is thrown away, and a prefork
	// cell's warm-up (forking children that each load the app) takes seconds of CPU that the
	// other cells' need not wait for.
	var wwg sync.WaitGroup
	for _, i := range up {
		wwg.Go(func() { p.warmUp(ctx, env, stacks[i], rs[i]) })
	}
	wwg.Wait()
	schedule := stats.Balanced(up, p.Repetitions)
	if p.Order == OrderInterleaved {
		schedule = stats.Interleave(up, p.Repetitions)
	}
	for k := 0; k < len(schedule); k++ {
		i := schedule[k]
		if ctx.Err() != nil {
			break
		}
		c := rs[i]
		for try := 0; ; try++ {
			waited, quiet := settle(ctx, stacks)
			before, berr := observe.TakeOwnCPUSample()
			rep := measure(ctx, stacks[i], *p, p.Requests, p.Duration)
			if after, aerr := observe.TakeOwnCPUSample(); berr == nil && aerr == nil {
				pct := math.Round(10*observe.OtherCPUPct(before, after)) / 10
				rep.OtherCPUPct = &pct
			}
			rep.Slot, rep.Rerun, rep.SettleS = k+1, try, round3(waited.Seconds())
			if !quiet && ctx.Err() == nil {
				c.Note("run %d started with the app processes still busy after %v", k+1, maxSettle)
			}
			cold := rep.ColdStarts > 0 && rep.Error == ""
			retry := cold && try < p.MaxReruns && ctx.Err() == nil
			rep.Replaced = retry
			c.Throughput.Repetitions = append(c.Throughput.Repetitions, rep)
			again := ""
			if retry {
				again = fmt.Sprintf("; %d app load(s) during the run: run again", rep.ColdStarts)
			}
			env.Progress("run %d/%d: %s %.1f req/s, p50 %.2f ms, p99 %.2f ms%s", k+1, len(schedule), c.ID,
				rep.ReqPerSec, rep.P50Ms, rep.P99Ms, again)
			if retry {
				continue
			}
			if rep.Error != "" {
				// A run that stopped early measured something else than its siblings: keep it
				// out of the sample, say so.
				c.Note("run %d left out of the sample: %s", k+1, rep.Error)
			} else {
				c.addRepetition(rep)
			}
			break
		}
		if k == len(schedule)-1 {
			schedule = append(schedule, p.moreRuns(rs, up, len(schedule)/len(up))...)
		}
	}
	for _, i := range up {
		c := rs[i]
		if ctx.Err() != nil {
			c.Fail(fmt.Errorf("interrupted: %w", ctx.Err()))
		} else {
			c.summarize(*p)
		}
		env.Progress("cell %s: %s", c.ID, c.Verdict.Kind)
	}
}

// moreRuns is the next round of measured runs, one per cell in the order the schedule would
// continue with, when after rounds rounds a cell's req/s CI is still wider than the target;
// nil when every cell is within it (or has too few runs to tell), or at MaxRepetitions. Every
// cell runs again, not only the wide one: the balanced order is what cancels the machine's
// drift between cells.
func (p *Plan) moreRuns(rs []*CellResult, up []int, rounds int) []int {
	if p.TargetHalfWidthPct <= 0 || rounds >= p.MaxRepetitions {
		return nil
	}
	if !slices.ContainsFunc(up, func(i int) bool { return rs[i].halfWidthPct() > p.TargetHalfWidthPct }) {
		return nil
	}
	next := slices.Clone(up)
	if p.Order == OrderBalanced && rounds%2 == 1 {
		slices.Reverse(next)
	}
	return next
}

// halfWidthPct is the cell's req/s CI half-width so far, in % of its mean; 0 with fewer runs
// than a CI needs.
func (r *CellResult) halfWidthPct() float64 {
	for _, s := range r.Metrics {
		if sum, err := stats.Summarize(s.Values); s.Name == stats.MetricThroughput && err == nil && sum.CI != nil && sum.Mean > 0 {
			return 100 * sum.CI.HalfWidth / sum.Mean
		}
	}
	return 0
}

// warmUp runs a cell until a run loads the app in no process (at least WarmupRuns, at most
// MaxWarmupRuns runs): every process the load creates has then loaded the app, and a
// measured run starts from a warm cell.
func (p *Plan) warmUp(ctx context.Context, env *runner.Env, s *runner.Stack, c *CellResult) {
	duration := p.WarmupDuration
	if p.Requests > 0 {
		duration = 0
	}
	for w := 0; w < p.MaxWarmupRuns && ctx.Err() == nil; w++ {
		// The processes the previous run created finish loading the app first: a run that
		// overlaps their imports is a poor test of "loads no app".
		waited, _ := settle(ctx, []*runner.Stack{s})
		rep := measure(ctx, s, *p, p.Requests, duration)
		rep.SettleS = round3(waited.Seconds())
		c.Throughput.Warmup = append(c.Throughput.Warmup, rep)
		env.Progress("cell %s: warm-up %d: %.1f req/s, %d app load(s) (discarded)", c.ID, w+1, rep.ReqPerSec, rep.ColdStarts)
		if w+1 >= p.WarmupRuns && rep.ColdStarts == 0 && rep.Error == "" {
			return
		}
	}
	if p.MaxWarmupRuns > 0 && ctx.Err() == nil {
		c.Note("still loading the app after %d warm-up runs", p.MaxWarmupRuns)
	}
}

// Schedule lists the cell ids of a run's measured runs in the order they ran (by slot), a slot's
// replaced tries left out.
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
			if r.Error == "" && !r.Replaced {
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
	if c.Stack.MPM == "prefork" {
		res.Throughput.StartServers, res.Throughput.MaxSpareServers = c.Stack.StartServers, c.Stack.MaxSpareServers
	}
	env.Progress("cell %s: starting", c.ID)
	s := env.StartStack(ctx, c, c.Stack, &res.Cell)
	if s == nil {
		env.Progress("cell %s: %s (%.1fs)", c.ID, res.Verdict.Kind, time.Since(began).Seconds())
		return nil
	}
	env.Progress("cell %s: up (%.1fs)", c.ID, time.Since(began).Seconds())
	return s
}

// measure is one ab-like run against a cell: requests, or for duration when requests is 0.
// Its cold starts are the app loads the cell's log shows between its start and its end.
func measure(ctx context.Context, s *runner.Stack, plan Plan, requests int, duration time.Duration) Rep {
	rep := Rep{Start: time.Now()}
	r, err := bench.Run(ctx, bench.Config{
		URL: s.URL() + plan.Path, Requests: int64(requests), Duration: duration, Concurrency: plan.Concurrency,
		Timeout: plan.RequestTimeout,
		// ab gives up after 10 failures that never complete (connect errors, timeouts): a dead
		// cell must not hang the run.
		MaxFailures: 10,
	})
	end := time.Now()
	rep.AppProcesses = len(s.AppProcesses())
	rep.ColdStarts = appLoads(s, rep.Start, end)
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
	want := "requests"
	if requests == 0 {
		want = "duration"
	}
	switch {
	case err != nil:
		rep.Error = err.Error()
	case r.StopReason != want:
		rep.Error = "stopped early: " + r.StopReason
	case requests > 0 && r.Complete < int64(requests):
		rep.Error = fmt.Sprintf("%d of %d requests completed", r.Complete, requests)
	}
	return rep
}

// appLoads counts the app loads (mod_wsgi's "Loading Python script file") the cell's log shows
// from start to end.
func appLoads(s *runner.Stack, start, end time.Time) int {
	events, err := observe.ReadProcessEvents(server.LogFile(s.Server))
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range events {
		if e.Rule == "wsgi_script_load" && !e.Time.Before(start) && !e.Time.After(end) {
			n++
		}
	}
	return n
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
		ci = fmt.Sprintf("± %.1f (95%% CI, ± %.1f%%)", rps.CI.HalfWidth, 100*rps.CI.HalfWidth/rps.Mean)
	}
	reason := fmt.Sprintf("%.1f req/s %s over %d runs; p50 %.2f ms, p99 %.2f ms (means)", rps.Mean, ci, rps.N,
		p50.Mean, p99.Mean)
	cold, replaced, failed := 0, 0, 0
	for _, rep := range r.Throughput.Repetitions {
		switch {
		case rep.Replaced:
			replaced++
		case rep.Error != "":
			failed++
		case rep.ColdStarts > 0:
			cold++
		}
	}
	if replaced > 0 {
		reason += fmt.Sprintf("; %d run(s) re-run after a process loaded the app mid-run", replaced)
	}
	if cold > 0 {
		reason += fmt.Sprintf("; %d of %d runs in the sample had a process load the app mid-run (still, after %d re-runs)",
			cold, rps.N, plan.MaxReruns)
	}
	if failed > 0 {
		reason += fmt.Sprintf("; %d run(s) left out (see notes)", failed)
	}
	r.Verdict = results.Verdict{Kind: results.Measured, Reason: reason}
}

// repsText is how many measured runs a cell gets: "6", or "6-10 (until the req/s CI is within 5%)".
func (p Plan) repsText() string {
	if p.TargetHalfWidthPct <= 0 || p.MaxRepetitions <= p.Repetitions {
		return strconv.Itoa(p.Repetitions)
	}
	return fmt.Sprintf("%d-%d (while a req/s CI is wider than %g%%)", p.Repetitions, p.MaxRepetitions, p.TargetHalfWidthPct)
}

// runLength is what one measured run is: "2s" or "-n 1000".
func (p Plan) runLength() string {
	if p.Requests > 0 {
		return fmt.Sprintf("-n %d", p.Requests)
	}
	return p.Duration.String()
}
