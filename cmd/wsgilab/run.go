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
