package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/pflag"

	"wsgilab/internal/lab"
	"wsgilab/internal/report"
	"wsgilab/internal/stats"
)

const throughputUsage = `Usage:
  wsgilab run throughput [options]

The write-ups compared MPMs with one 'ab -n 1000 -c 10' per configuration (563 vs 531 req/s)
although such numbers drift by ±20% from run to run. This scenario starts every cell of the
matrix at once (each its own Apache on its own port), runs --warmup ab-like runs per cell that
are thrown away (the first requests load the interpreter and the app), then --reps measured runs
per cell in an interleaved order that cancels the machine's drift (balanced: A B B A A B ...),
one run at a time, without keep-alive, on --path (default "/", the fake service's cheap page).

Per cell: mean req/s with its 95% confidence interval (Student's t), mean p50 and p99; then each
pair of cells compared the way benchstat does: the difference of the means when it is
significant ("~" when it is not), the p-value and the test (Mann-Whitney U by default, --test
welch for Welch's t). run.json is a "wsgilab.throughput/v1" file: 'wsgilab compare run.json'
prints the same comparison, 'wsgilab compare A/run.json B/run.json' compares two runs.

Default: --mpm prefork,event --mode embedded (the write-up's comparison), MPM settings at Apache's
defaults, 1 warm-up + 5 runs of -n 1000 -c 10 per cell.

Runs during which a process loaded the app (mod_wsgi's log) are marked "*": prefork keeps forking
children when fewer than MinSpareServers are idle, and a fresh child's first request waits for the
import, stretching the run; such runs are part of the configuration's behaviour, and of its sample.

Options:
`

func runThroughput(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("throughput", pflag.ContinueOnError)
	plan := lab.DefaultThroughputPlan()
	mpms := fs.String("mpm", "prefork,event", "Apache MPMs: prefork, worker, event (comma-separated)")
	modes := fs.String("mode", "embedded", "mod_wsgi modes: embedded, daemon")
	hbs := fs.String("heartbeat", "green", "the fake app's heartbeat modes: green, pthread, off (a dimension too)")
	fs.IntVarP(&plan.Requests, "requests", "n", plan.Requests, "requests per run (ab -n)")
	fs.IntVarP(&plan.Concurrency, "concurrency", "c", plan.Concurrency, "requests in flight (ab -c)")
	fs.IntVar(&plan.Repetitions, "reps", plan.Repetitions, "measured runs per cell")
	fs.IntVar(&plan.WarmupRuns, "warmup", plan.WarmupRuns, "discarded runs per cell before the measured ones")
	fs.StringVar(&plan.Order, "order", plan.Order, "order of the measured runs: balanced (A B B A ...) or interleaved (A B A B ...)")
	fs.StringVar(&plan.Path, "path", plan.Path, "endpoint to load")
	processes := fs.Int("processes", 0, "mod_wsgi daemon processes (daemon mode; default mod_wsgi's 1)")
	threads := fs.Int("threads", 0, "threads per daemon process (daemon mode; default mod_wsgi's 15)")
	importCost := fs.Duration("import-cost", 0, "CPU the fake app burns when it loads")
	monkeyPatch := fs.Bool("monkey-patch", true, "call eventlet.monkey_patch() at import, as nova-api does")
	app := fs.String("app", "", "your own WSGI file instead of the built-in fake nova-api")
	testName := fs.String("test", "utest", "two-sample test: utest (Mann-Whitney U, as benchstat) or welch (Welch's t)")
	alpha := fs.Float64("alpha", stats.Alpha, "significance level: a difference is reported when p < alpha")
	ro := outputFlags(fs)
	if code, done := parseScenarioFlags(fs, throughputUsage, args, stdout, stderr); done {
		return code
	}
	var m lab.Matrix
	var err error
	if m.MPMs, err = lab.ParseList("mpm", *mpms, lab.MPMs); err == nil {
		if m.Modes, err = lab.ParseList("mode", *modes, lab.Modes); err == nil {
			m.Heartbeats, err = lab.ParseList("heartbeat", *hbs, lab.Heartbeats)
		}
	}
	var test stats.Test
	if err == nil {
		err = plan.Validate()
	}
	if err == nil {
		test, err = stats.ParseTest(*testName)
	}
	if err == nil && !(*alpha > 0 && *alpha < 1) {
		err = fmt.Errorf("--alpha %v: want a number between 0 and 1", *alpha)
	}
	if err == nil && (*processes < 0 || *threads < 0 || *importCost < 0) {
		err = errors.New("--processes, --threads and --import-cost must be >= 0")
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsgilab run throughput: %v\n", err)
		return 2
	}
	cells := m.Cells()
	for i := range cells {
		// The id says "-nopatch" when the app is not monkey-patched: Run names the cell again.
		cells[i].MonkeyPatch, cells[i].ID = *monkeyPatch, ""
	}
	o := lab.Options{Throughput: plan, Cells: cells}
	o.Base.AppPath, o.Base.Processes, o.Base.Threads, o.Base.ImportCost = *app, *processes, *threads, *importCost
	outDir := ro.options("throughput", &o, stderr)
	runFile := ""
	if outDir != "" {
		runFile = filepath.Join(outDir, "run.json")
	}
	return finishScenario(o, *ro.asJSON, stdout, stderr, func(res *lab.RunResult) error {
		return report.WriteThroughput(stdout, res, runFile, report.Options{Test: test, Alpha: *alpha})
	})
}
