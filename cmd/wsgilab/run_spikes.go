package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"wsgilab/internal/lab"
	"wsgilab/internal/report"
)

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
