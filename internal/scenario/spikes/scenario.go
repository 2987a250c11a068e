package spikes

import (
	"strings"

	"github.com/spf13/pflag"

	"wsgilab/internal/runner"
)

// Scenario is the spikes scenario (registered in internal/scenario).
type Scenario struct{}

func (Scenario) Name() string { return "spikes" }

func (Scenario) Summary() string {
	return "latency spikes from process spawning: bursts separated by gaps, every slow request attributed to a cold start or not"
}

func (Scenario) Usage() string {
	return `Latency spikes from process spawning (the DZone write-up "Dude, where's my performance?"): a
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
cold starts, processes alive, spawned, exited), every request and the mod_wsgi process lines;
each cell's file also has what its observer saw (the processes every 100 ms, the access log's
lines, the process lines).

`
}

func (Scenario) Flags(fs *pflag.FlagSet) func() (runner.Plan, error) {
	p := DefaultPlan()
	matrix := runner.MatrixFlags(fs, "prefork", "embedded,daemon", "")
	spares := fs.String("spare", "default", "MPM spare settings, comma-separated: default (Apache's compiled-in) or START:MINSPARE:MAXSPARE[:MAXREQUESTWORKERS] (spare servers under prefork, spare threads under worker/event; 0 = default)")
	preloads := fs.String("preload", "on", "daemon mode: on (import the app when a daemon process starts), off (on its first request), or on,off")
	fs.IntVar(&p.Bursts, "bursts", p.Bursts, "bursts per cell")
	fs.IntVarP(&p.Requests, "requests", "n", p.Requests, "requests per burst")
	fs.IntVarP(&p.Concurrency, "concurrency", "c", p.Concurrency, "requests in flight during a burst (above MaxSpareServers, 10 by default, a burst needs new children)")
	fs.DurationVar(&p.Gap, "gap", p.Gap, "idle between bursts (prefork reaps one idle child per second above MaxSpareServers)")
	fs.StringVar(&p.Path, "path", p.Path, "endpoint to GET (\"/\" never touches the broker; a query string is added)")
	fs.Float64Var(&p.SpikeFactor, "spike-factor", p.SpikeFactor, "a spike is a request slower than this x the cell's median")
	importCost, requestCost := DefaultImportCost, DefaultRequestCost
	service := runner.ServiceFlags(fs, runner.ServiceDefaults{ProcessesHelp: "default 2",
		ThreadsHelp: "default: enough for --concurrency", ImportCost: &importCost, RequestCost: &requestCost, MonkeyPatch: true})
	return func() (runner.Plan, error) {
		mx, err := matrix()
		if err != nil {
			return nil, err
		}
		m := Matrix{MPMs: mx.MPMs, Modes: mx.Modes}
		for _, spec := range mx.Specs() {
			if !spec.IsApache() {
				m.Others = append(m.Others, spec)
			}
		}
		for _, v := range strings.Split(*spares, ",") {
			sp, err := ParseSpare(v)
			if err != nil {
				return nil, err
			}
			m.Spares = append(m.Spares, sp)
		}
		pl, err := runner.ParseList("preload", *preloads, []string{"on", "off"})
		if err != nil {
			return nil, err
		}
		for _, v := range pl {
			m.Preloads = append(m.Preloads, v == "on")
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		if p.Base, err = service(); err != nil {
			return nil, err
		}
		p.App, p.Configs = p.Base.AppPath, m.Configs()
		return &p, nil
	}
}
