package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"wsgilab/internal/lab"
	"wsgilab/internal/report"
	"wsgilab/internal/stats"
)

func init() {
	commands["run"] = command{
		summary: "run a scenario across a matrix of stack configurations and print verdicts with evidence",
		run:     runRun,
	}
}

const runUsage = `Usage:
  wsgilab run [heartbeat] [options]
  wsgilab run spikes [options]        (see 'wsgilab run spikes --help')
  wsgilab run throughput [options]    (see 'wsgilab run throughput --help')

Scenarios:
  heartbeat (default)  Does the service's AMQP connection survive an idle period? Each cell: warm-up
                       traffic reaching every app process, an idle of idle-factor x heartbeat-timeout,
                       probe traffic reaching every process again, a short tail. Verdict per cell:
                       STABLE, DROPPED (with time to drop and the broker/client log lines) or ERROR.
  spikes               Latency spikes from process spawning: bursts separated by idle gaps; every
                       slow request attributed to a cold start (a process loading the app) or not.
  throughput           ab -n 1000 -c 10, R times per cell, interleaved; mean req/s with a 95% CI
                       and a benchstat-like comparison of every pair of cells.

The matrix is the product of --mpm x --mode x --heartbeat (default: 3 x 2 x green,pthread = 12
cells), plus the two control cells with --controls. Cells share one private RabbitMQ node (or the
broker given with --broker/--management), each on its own vhost, with its own Apache, ports and
directory. Results: a table on stdout (or JSON with --json), and run.json plus one JSON per cell
(with its whole timeline) under --out.

Options of the heartbeat scenario:
`

func runRun(args []string, stdout, stderr io.Writer) int {
	// The other scenarios have flags of their own: they must come first.
	if len(args) > 0 {
		switch args[0] {
		case "spikes":
			return runSpikes(args[1:], stdout, stderr)
		case "throughput":
			return runThroughput(args[1:], stdout, stderr)
		}
	}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	plan := lab.DefaultHeartbeatPlan()
	mpms := fs.String("mpm", "prefork,worker,event", "Apache MPMs: prefork, worker, event (comma-separated)")
	modes := fs.String("mode", "embedded,daemon", "mod_wsgi modes: embedded, daemon")
	hbs := fs.String("heartbeat", "green,pthread", "heartbeat modes: green (eventlet green thread), pthread (native thread), off")
	controls := fs.Bool("controls", false, "add control cells: no eventlet.monkey_patch(); heartbeat off with TCP keepalive")
	app := fs.String("app", "", "your own WSGI file instead of the built-in fake nova-api (see apps/fakeservice/README.md)")
	paths := fs.StringSlice("path", nil, "endpoints the warm-up and probe load at once (default /cast; / with --app)")
	processes := fs.Int("processes", 0, "mod_wsgi daemon processes per cell (daemon mode; default 2)")
	threads := fs.Int("threads", 0, "threads per mod_wsgi daemon process (daemon mode; default 2)")
	fs.IntVar(&plan.Timeout, "heartbeat-timeout", plan.Timeout, "client heartbeat_timeout_threshold in seconds (short, so a cell takes seconds)")
	fs.IntVar(&plan.Rate, "heartbeat-rate", plan.Rate, "oslo.messaging heartbeat_rate (0 = its default, 2)")
	fs.Float64Var(&plan.IdleFactor, "idle-factor", plan.IdleFactor, "idle phase length in heartbeat timeouts (>= 3)")
	parallel := fs.Int("parallel", 6, "cells run at once")
	out := fs.String("out", "", "directory for run.json and per-cell JSON (default wsgilab-out/<scenario>-<time>)")
	noOut := fs.Bool("no-out", false, "write no result files")
	asJSON := fs.Bool("json", false, "print the run's JSON (as run.json: cells without their timelines) on stdout instead of the table")
	brokerURL := fs.String("broker", "", "use an existing broker: amqp://user:pass@host:port/ (default: start a private node)")
	mgmtURL := fs.String("management", "", "its management API: http://user:pass@host:port/")
	keep := fs.Bool("keep", false, "keep the run directory (Apache configs, logs) after the run")
	quiet := fs.BoolP("quiet", "q", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, runUsage+fs.FlagUsages())
			return 0
		}
		fmt.Fprintf(stderr, "wsgilab run: %v (see 'wsgilab run --help')\n", err)
		return 2
	}
	scenario := "heartbeat"
	switch rest := fs.Args(); len(rest) {
	case 0:
	case 1:
		scenario = rest[0]
	default:
		fmt.Fprintf(stderr, "wsgilab run: one scenario at a time, got %v\n", rest)
		return 2
	}
	switch scenario {
	case "heartbeat":
	case "spikes", "throughput":
		fmt.Fprintf(stderr, "wsgilab run: put the scenario first: wsgilab run %s [options]\n", scenario)
		return 2
	default:
		fmt.Fprintf(stderr, "wsgilab run: unknown scenario %q (available: heartbeat, spikes, throughput)\n", scenario)
		return 2
	}
	var m lab.Matrix
	var err error
	if m.MPMs, err = lab.ParseList("mpm", *mpms, lab.MPMs); err == nil {
		if m.Modes, err = lab.ParseList("mode", *modes, lab.Modes); err == nil {
			m.Heartbeats, err = lab.ParseList("heartbeat", *hbs, lab.Heartbeats)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsgilab run: %v\n", err)
		return 2
	}
	m.Controls = *controls
	if *parallel < 1 {
		fmt.Fprintf(stderr, "wsgilab run: --parallel=%d: must be >= 1\n", *parallel)
		return 2
	}
	if *processes < 0 || *threads < 0 {
		fmt.Fprintln(stderr, "wsgilab run: --processes and --threads must be >= 1")
		return 2
	}
	if err := plan.Validate(); err != nil {
		fmt.Fprintf(stderr, "wsgilab run: %v\n", err)
		return 2
	}
	switch {
	case len(*paths) > 0:
		plan.Paths = *paths
	case *app != "":
		plan.Paths = []string{"/"}
	}
	for _, p := range plan.Paths {
		if !strings.HasPrefix(p, "/") {
			fmt.Fprintf(stderr, "wsgilab run: --path %q: must start with /\n", p)
			return 2
		}
	}
	outDir := *out
	if outDir == "" && !*noOut {
		outDir = filepath.Join("wsgilab-out", scenario+"-"+time.Now().Format("20060102-150405"))
	}
	if *noOut {
		outDir = ""
	}
	opts := lab.Options{Scenario: scenario, Matrix: m, Heartbeat: plan, Parallel: *parallel, OutDir: outDir,
		BrokerURL: *brokerURL, ManagementURL: *mgmtURL, Keep: *keep}
	opts.Base.AppPath, opts.Base.Processes, opts.Base.Threads = *app, *processes, *threads
	if !*quiet {
		opts.Progress = stderr
	}

	ctx, cleanup := signalContext(stderr)
	defer cleanup()
	res, err := lab.Run(ctx, opts)
	if res == nil {
		fmt.Fprintf(stderr, "wsgilab run: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res.Summary())
	} else {
		report.WriteHeartbeat(stdout, res)
		if outDir != "" {
			fmt.Fprintf(stdout, "\nResults: %s/run.json and one JSON per cell (timelines, evidence).\n", outDir)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsgilab run: %v\n", err)
		return 1
	}
	return 0
}

const spikesUsage = `Usage:
  wsgilab run spikes [options]

Latency spikes from process spawning (the DZone write-up "Dude, where's my performance?"): a
low-traffic service behind a load balancer shows spikes that the app's own timing never sees,
because Apache creates processes that load the interpreter and the app on their first request.

Each cell gets --bursts bursts of --requests requests at --concurrency in flight, one request per
connection (no keep-alive: a load balancer's view), separated by --gap of idle, long enough for
Apache to reap spare children (prefork kills one idle child per second above MaxSpareServers).
Per request: the client's latency, the app's own time (X-App-Time-Us) and Apache's %D (joined
exactly from the access log by a request id in the query string). A cold start is a process
loading the app while a request it serves waits (mod_wsgi's "Loading Python script file" line
of that PID, logged inside the request's window); a spike is a request slower than
--spike-factor x the cell's median, attributed to its own cold start, to another process's
cold start running at the same time, or to nothing found.

Default cells (the write-up's before and after): prefork + embedded mode with Apache's
compiled-in spare settings (StartServers 5, MinSpareServers 5, MaxSpareServers 10), and prefork
+ mod_wsgi daemon mode with 2 pre-allocated processes that import the app at start (threads
sized so that processes x threads >= --concurrency). The fake service burns --import-cost of
CPU when it loads (plus ~0.5-1 s importing eventlet and oslo.messaging). Cells run one at a
time (about a minute each with the defaults): they measure latency.

What Apache's defaults do here: prefork forks children only while fewer than MinSpareServers are
idle at its once-a-second maintenance, and reaps them only above MaxSpareServers. StartServers'
children, and those forked during a burst but not yet used, are cold: the first bursts hit them.
Short bursts of a fast app then leave 9-10 warm children that are never reaped (the per-burst
table shows it); longer bursts (-n) or tighter --spare settings bring the churn back.

Matrix: --mpm x --mode x --spare x --preload (preload applies to daemon mode only).
Per cell: client p50/p99/max, app p99, Apache p99, the client-vs-app gap, cold starts, spikes
and their causes, per-burst figures; the JSON adds a per-second timeline (requests, latency,
cold starts, processes alive, spawned, exited), every request and the mod_wsgi process lines.

Options:
`

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

// runOutput is what every scenario does with its result flags.
type runOutput struct {
	out, brokerURL, mgmtURL  *string
	noOut, asJSON, keep, qui *bool
}

func outputFlags(fs *pflag.FlagSet) runOutput {
	return runOutput{
		out:       fs.String("out", "", "directory for run.json and per-cell JSON (default wsgilab-out/<scenario>-<time>)"),
		noOut:     fs.Bool("no-out", false, "write no result files"),
		asJSON:    fs.Bool("json", false, "print the run's JSON (as run.json) on stdout instead of the table"),
		brokerURL: fs.String("broker", "", "use an existing broker: amqp://user:pass@host:port/ (default: start a private node)"),
		mgmtURL:   fs.String("management", "", "its management API: http://user:pass@host:port/"),
		keep:      fs.Bool("keep", false, "keep the run directory (Apache configs, logs) after the run"),
		qui:       fs.BoolP("quiet", "q", false, "no progress lines on stderr"),
	}
}

// options fills the run options every scenario shares and returns the output directory.
func (ro runOutput) options(scenario string, o *lab.Options, stderr io.Writer) string {
	outDir := *ro.out
	if outDir == "" && !*ro.noOut {
		outDir = filepath.Join("wsgilab-out", scenario+"-"+time.Now().Format("20060102-150405"))
	}
	if *ro.noOut {
		outDir = ""
	}
	o.Scenario, o.OutDir, o.BrokerURL, o.ManagementURL, o.Keep = scenario, outDir, *ro.brokerURL, *ro.mgmtURL, *ro.keep
	if !*ro.qui {
		o.Progress = stderr
	}
	return outDir
}

// parseScenarioFlags parses args; done says the caller returns code at once (help, errors).
func parseScenarioFlags(fs *pflag.FlagSet, usage string, args []string, stdout, stderr io.Writer) (code int, done bool) {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, usage+fs.FlagUsages())
			return 0, true
		}
		fmt.Fprintf(stderr, "wsgilab run %s: %v (see 'wsgilab run %s --help')\n", fs.Name(), err, fs.Name())
		return 2, true
	}
	if rest := fs.Args(); len(rest) > 0 {
		fmt.Fprintf(stderr, "wsgilab run %s: one scenario at a time, got %v\n", fs.Name(), rest)
		return 2, true
	}
	return 0, false
}

// finishScenario runs o and prints the result (text by write, or JSON); the exit code.
func finishScenario(o lab.Options, asJSON bool, stdout, stderr io.Writer, write func(*lab.RunResult) error) int {
	ctx, cleanup := signalContext(stderr)
	defer cleanup()
	res, err := lab.Run(ctx, o)
	if res == nil {
		fmt.Fprintf(stderr, "wsgilab run %s: %v\n", o.Scenario, err)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res.Summary())
	} else {
		if werr := write(res); werr != nil && err == nil {
			err = werr
		}
		if o.OutDir != "" {
			fmt.Fprintf(stdout, "\nResults: %s/run.json and one JSON per cell.\n", o.OutDir)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsgilab run %s: %v\n", o.Scenario, err)
		return 1
	}
	return 0
}

func runSpikes(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("spikes", pflag.ContinueOnError)
	plan := lab.DefaultSpikesPlan()
	mpms := fs.String("mpm", "prefork", "Apache MPMs: prefork, worker, event (comma-separated)")
	modes := fs.String("mode", "embedded,daemon", "mod_wsgi modes: embedded, daemon")
	spares := fs.String("spare", "default", "MPM spare settings, comma-separated: default (Apache's compiled-in) or START:MINSPARE:MAXSPARE[:MAXREQUESTWORKERS] (spare servers under prefork, spare threads under worker/event; 0 = default)")
	preloads := fs.String("preload", "on", "daemon mode: on (import the app when a daemon process starts), off (on its first request), or on,off")
	fs.IntVar(&plan.Bursts, "bursts", plan.Bursts, "bursts per cell")
	fs.IntVarP(&plan.Requests, "requests", "n", plan.Requests, "requests per burst")
	fs.IntVarP(&plan.Concurrency, "concurrency", "c", plan.Concurrency, "requests in flight during a burst (above MaxSpareServers, 10 by default, a burst needs new children)")
	fs.DurationVar(&plan.Gap, "gap", plan.Gap, "idle between bursts (prefork reaps one idle child per second above MaxSpareServers)")
	fs.StringVar(&plan.Path, "path", plan.Path, "endpoint to GET (\"/\" never touches the broker; a query string is added)")
	fs.Float64Var(&plan.SpikeFactor, "spike-factor", plan.SpikeFactor, "a spike is a request slower than this x the cell's median")
	importCost := fs.Duration("import-cost", lab.DefaultSpikesImportCost, "CPU the fake app burns when it loads, like a large Django app (0 for none)")
	requestCost := fs.Duration("request-cost", lab.DefaultSpikesRequestCost, "how long the fake app's / takes (a view waiting on its database); keeps workers busy so bursts make Apache fork")
	processes := fs.Int("processes", 0, "mod_wsgi daemon processes (daemon mode; default 2)")
	threads := fs.Int("threads", 0, "threads per daemon process (daemon mode; default: enough for --concurrency)")
	monkeyPatch := fs.Bool("monkey-patch", true, "call eventlet.monkey_patch() at import, as nova-api does")
	app := fs.String("app", "", "your own WSGI file instead of the built-in fake nova-api")
	ro := outputFlags(fs)
	if code, done := parseScenarioFlags(fs, spikesUsage, args, stdout, stderr); done {
		return code
	}
	var m lab.SpikesMatrix
	var err error
	if m.MPMs, err = lab.ParseList("mpm", *mpms, lab.MPMs); err == nil {
		m.Modes, err = lab.ParseList("mode", *modes, lab.Modes)
	}
	if err == nil {
		for _, v := range strings.Split(*spares, ",") {
			var sp lab.Spare
			if sp, err = lab.ParseSpare(v); err != nil {
				break
			}
			m.Spares = append(m.Spares, sp)
		}
	}
	if err == nil {
		var pl []string
		if pl, err = lab.ParseList("preload", *preloads, []string{"on", "off"}); err == nil {
			for _, v := range pl {
				m.Preloads = append(m.Preloads, v == "on")
			}
		}
	}
	if err == nil {
		err = plan.Validate()
	}
	if err == nil && (*processes < 0 || *threads < 0 || *importCost < 0 || *requestCost < 0) {
		err = errors.New("--processes, --threads, --import-cost and --request-cost must be >= 0")
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsgilab run spikes: %v\n", err)
		return 2
	}
	o := lab.Options{Spikes: plan, SpikesCells: m.Cells()}
	o.Base.AppPath, o.Base.Processes, o.Base.Threads = *app, *processes, *threads
	o.Base.ImportCost, o.Base.RequestCost, o.Base.MonkeyPatch = *importCost, *requestCost, *monkeyPatch
	ro.options("spikes", &o, stderr)
	return finishScenario(o, *ro.asJSON, stdout, stderr, func(res *lab.RunResult) error {
		report.WriteSpikes(stdout, res)
		return nil
	})
}

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
