// Package spikes is the scenario of the write-ups' second failure (seed 004): a low-traffic
// service behind a load balancer shows latency spikes that the app's own timing never sees,
// because Apache creates processes that load the interpreter and the app on their first
// request. Each cell gets B bursts of N requests at concurrency C, without keep-alive (a load
// balancer's view), separated by idle gaps long enough for Apache to reap spare children; every
// request is timed by the client, by the app (X-App-Time-Us) and by Apache (%D, joined from the
// access log), and every slow request is attributed to a cold start (its process loaded the app
// while it waited, per mod_wsgi's log) or not. Cells run one at a time: they measure latency,
// and two cells loading Python at once on a small machine would slow each other down.
package spikes

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"wsgilab/internal/observe"
	"wsgilab/internal/results"
	"wsgilab/internal/runner"
	"wsgilab/internal/server"
	"wsgilab/internal/stack"
)

// DefaultImportCost is the CPU the fake service burns when it loads in the spikes
// scenario, on top of importing eventlet and oslo.messaging (about 0.5-1 s on its own here):
// a large Django or nova application, so that a cold start stands out.
const DefaultImportCost = 300 * time.Millisecond

// DefaultRequestCost is how long the fake service's "/" takes in the spikes scenario
// (seed 004's app reported 40-80 ms). A request that takes real time keeps its worker busy, so
// a burst needs as many workers as it has requests in flight, Apache forks children for it and
// reaps them in the gap after: the cold starts recur burst after burst. With a near-instant
// "/" a few warm children serve every burst and the cold starts stop after the first two.
const DefaultRequestCost = 50 * time.Millisecond

// Plan is the traffic of the spikes scenario.
//
// JSON (run.json's "spikes_plan"):
//
//	{"bursts": 4, "requests_per_burst": 100, "concurrency": 16,
//	 "gap_ns": 12000000000,                  idle between bursts
//	 "path": "/",                            what each request GETs (a query string is added)
//	 "spike_factor": 5,                      a spike is a request slower than this x the cell's median
//	 "request_timeout_ns": 30000000000, "tail_ns": 1000000000}
type Plan struct {
	// Bursts is B; Requests is N, the requests of one burst; Concurrency is C, the requests in
	// flight during a burst. Above MaxSpareServers (Apache's default is 10), a burst needs
	// more children than Apache keeps between bursts.
	Bursts      int `json:"bursts"`
	Requests    int `json:"requests_per_burst"`
	Concurrency int `json:"concurrency"`
	// Gap is the idle between two bursts. prefork's maintenance kills one idle child per second
	// above MaxSpareServers, so a gap of a dozen seconds returns a cell to its resting size.
	Gap time.Duration `json:"gap_ns"`
	// Path is the endpoint; "/" is the fake service's cheap one, which never touches the broker,
	// so that the app's own time is microseconds and any latency above it is the server's.
	Path string `json:"path"`
	// SpikeFactor is k: a request slower than k x the cell's median client latency is a spike.
	SpikeFactor float64 `json:"spike_factor"`
	// RequestTimeout abandons a request; Tail is the wait after the last burst, for the last
	// log lines and process exits.
	RequestTimeout time.Duration `json:"request_timeout_ns"`
	Tail           time.Duration `json:"tail_ns"`
	// Configs are the cells (DefaultConfigs when empty); Base holds the stack options common
	// to every cell (app, costs, daemon size).
	Configs []Config      `json:"configs"`
	Base    stack.Options `json:"-"`
	App     string        `json:"app,omitempty"`
}

// DefaultPlan takes about a minute per cell.
func DefaultPlan() Plan {
	return Plan{Bursts: 4, Requests: 100, Concurrency: 16, Gap: 12 * time.Second, Path: "/",
		SpikeFactor: 5, RequestTimeout: 30 * time.Second, Tail: time.Second}
}

// Validate rejects plans that cannot show anything.
func (p Plan) Validate() error {
	switch {
	case p.Bursts < 1:
		return fmt.Errorf("--bursts=%d: must be >= 1", p.Bursts)
	case p.Requests < 1:
		return fmt.Errorf("--requests=%d: must be >= 1", p.Requests)
	case p.Concurrency < 1 || p.Concurrency > p.Requests:
		return fmt.Errorf("--concurrency=%d: must be between 1 and --requests (%d)", p.Concurrency, p.Requests)
	case p.Gap < 0:
		return fmt.Errorf("--gap=%v: must be >= 0", p.Gap)
	case !strings.HasPrefix(p.Path, "/"):
		return fmt.Errorf("--path %q: must start with /", p.Path)
	case p.SpikeFactor <= 1:
		return fmt.Errorf("--spike-factor=%g: must be > 1", p.SpikeFactor)
	case p.RequestTimeout <= 0:
		return fmt.Errorf("request timeout %v: must be > 0", p.RequestTimeout)
	}
	return nil
}

// Spare is a set of MPM spare-server settings, a matrix dimension of the spikes scenario.
// Zero fields are Apache's compiled-in defaults (prefork: StartServers 5, MinSpareServers 5,
// MaxSpareServers 10, MaxRequestWorkers 256).
//
// JSON: {"name": "default", "start_servers": 0, "min_spare": 0, "max_spare": 0, "max_request_workers": 0}
type Spare struct {
	// Name is "default" or the flag value it was parsed from ("2:1:2").
	Name string `json:"name"`
	// StartServers, and the spare bounds: MinSpareServers/MaxSpareServers under prefork,
	// MinSpareThreads/MaxSpareThreads under worker and event.
	StartServers      int `json:"start_servers"`
	MinSpare          int `json:"min_spare"`
	MaxSpare          int `json:"max_spare"`
	MaxRequestWorkers int `json:"max_request_workers"`
}

// ParseSpare reads a --spare value: "default", or START:MINSPARE:MAXSPARE[:MAXREQUESTWORKERS]
// (spare servers under prefork, spare threads under worker and event; 0 = Apache's default).
func ParseSpare(s string) (Spare, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "default" {
		return Spare{Name: "default"}, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) < 3 || len(parts) > 4 {
		return Spare{}, fmt.Errorf("--spare %q: want default or START:MINSPARE:MAXSPARE[:MAXREQUESTWORKERS]", s)
	}
	var v [4]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return Spare{}, fmt.Errorf("--spare %q: %q is not a number >= 0", s, p)
		}
		v[i] = n
	}
	if v[1] > 0 && v[2] > 0 && v[2] < v[1] {
		return Spare{}, fmt.Errorf("--spare %q: MAXSPARE below MINSPARE", s)
	}
	return Spare{Name: s, StartServers: v[0], MinSpare: v[1], MaxSpare: v[2], MaxRequestWorkers: v[3]}, nil
}

// Config is one configuration of the spikes scenario.
//
// JSON: {"id": "prefork-daemon-preload", "mpm": "prefork", "mode": "daemon", "preload": true, "spare": Spare}
type Config struct {
	ID      string `json:"id"`
	MPM     string `json:"mpm"`
	Mode    string `json:"mode"`
	Preload bool   `json:"preload"`
	Spare   Spare  `json:"spare"`
	// Other is a cell of another server than Apache (uWSGI, gunicorn): its server and knobs
	// (MPM, Mode and Spare are then unused; Preload is gunicorn's).
	Other *runner.CellSpec `json:"other,omitempty"`
}

func (c Config) name() string {
	if c.Other != nil {
		return c.Other.Name()
	}
	s := c.MPM + "-" + c.Mode
	if c.Mode == "daemon" {
		if c.Preload {
			s += "-preload"
		} else {
			s += "-lazy"
		}
	}
	if c.Spare.Name != "" && c.Spare.Name != "default" {
		s += "-spare" + strings.ReplaceAll(c.Spare.Name, ":", "-")
	}
	return s
}

// Matrix is the spikes scenario's matrix: MPM x mode x spare settings x preload (the
// last for daemon mode only: embedded mode always loads the app on a process's first request).
type Matrix struct {
	MPMs     []string
	Modes    []string
	Spares   []Spare
	Preloads []bool
	// Others are the cells of the other servers (runner.Matrix's, without heartbeat).
	Others []runner.CellSpec
}

// Configs expands the matrix, MPM-major.
func (m Matrix) Configs() []Config {
	spares := m.Spares
	if len(spares) == 0 {
		spares = []Spare{{Name: "default"}}
	}
	preloads := m.Preloads
	if len(preloads) == 0 {
		preloads = []bool{true}
	}
	var out []Config
	for _, mpm := range m.MPMs {
		for _, mode := range m.Modes {
			for _, sp := range spares {
				if mode != "daemon" {
					out = append(out, Config{MPM: mpm, Mode: mode, Spare: sp})
					continue
				}
				for _, pl := range preloads {
					out = append(out, Config{MPM: mpm, Mode: mode, Preload: pl, Spare: sp})
				}
			}
		}
	}
	for _, o := range m.Others {
		o.Heartbeat = ""
		out = append(out, Config{Other: &o})
	}
	for i := range out {
		out[i].ID = out[i].name()
	}
	return out
}

// DefaultConfigs is the seed's comparison: prefork + embedded mode with Apache's
// compiled-in spare settings, against daemon mode with the app preloaded in pre-allocated
// processes (same MPM and settings, so that the mod_wsgi mode is the only difference).
func DefaultConfigs() []Config {
	return Matrix{MPMs: []string{"prefork"}, Modes: []string{"embedded", "daemon"}}.Configs()
}

// knobs is the stack of a spikes cell: the MPM's spare settings from the cell, daemon
// processes sized so that the burst's concurrency never queues for a thread (processes x
// threads >= C), unless the user sized them.
func (p *Plan) knobs(c Config) stack.Options {
	o := p.Base
	if c.Other != nil {
		// Two workers, and threads enough for the burst's concurrency where the server runs
		// them (uWSGI with Python threads, gunicorn's gthread); the others queue.
		processes, threads := o.Processes, o.Threads
		o.Options = c.Other.ServerOptions()
		o.Processes, o.Threads = max(processes, 2), threads
		if o.Threads == 0 && (c.Other.Threads || c.Other.Worker == "gthread") {
			o.Threads = max(1, (p.Concurrency+o.Processes-1)/o.Processes)
		}
		return o
	}
	o.MPM, o.Mode = c.MPM, c.Mode
	o.StartServers, o.MaxRequestWorkers = c.Spare.StartServers, c.Spare.MaxRequestWorkers
	if c.MPM == "prefork" {
		o.MinSpareServers, o.MaxSpareServers = c.Spare.MinSpare, c.Spare.MaxSpare
	} else {
		o.MinSpareThreads, o.MaxSpareThreads = c.Spare.MinSpare, c.Spare.MaxSpare
	}
	if c.Mode == "daemon" {
		if o.Processes == 0 {
			o.Processes = 2
		}
		if o.Threads == 0 {
			o.Threads = max(1, (p.Concurrency+o.Processes-1)/o.Processes)
		}
		o.Preload = c.Preload
	} else {
		o.Processes, o.Threads, o.Preload, o.InactivityTimeout = 0, 0, false, 0
	}
	return o
}

// Knobs are the settings a spikes cell ran with (0 = Apache's or mod_wsgi's default).
type Knobs struct {
	StartServers      int     `json:"start_servers"`
	MinSpare          int     `json:"min_spare"`
	MaxSpare          int     `json:"max_spare"`
	MaxRequestWorkers int     `json:"max_request_workers"`
	Processes         int     `json:"processes,omitempty"`
	Threads           int     `json:"threads,omitempty"`
	Preload           bool    `json:"preload"`
	ImportCostS       float64 `json:"import_cost_s"`
	RequestCostS      float64 `json:"request_cost_s"`
	MonkeyPatch       bool    `json:"monkey_patch"`
}

// Result is what one spikes cell measured (CellResult.Spikes).
//
// JSON:
//
//	{"cell": Config, "knobs": Knobs,
//	 "requests": 400, "errors": 0, "non_2xx": 0,
//	 "client_ms": Latency,          the load balancer's view: connect + request + response
//	 "app_ms": Latency,             the app's own time (X-App-Time-Us)
//	 "apache_ms": Latency,          Apache's %D, joined from the access log by request id
//	 "gap_p99_ms": 2210.4,          client p99 - app p99: time the app never sees
//	 "joined": 400,                 requests found in the access log
//	 "new_pids": 9,                 app processes whose first request was in the traffic
//	 "cold_starts": 9,              app loads on the request path: a process loading the app (from
//	                                its "Loading Python script file" line to the end of the import)
//	                                while a request it serves is in Apache's hands (%D)
//	 "cold_requests": 9,            requests that waited for their own process's load
//	 "app_loads": 11,               every app load in the cell's error log (preloads, readiness too)
//	 "spike_threshold_ms": 12.5,    spike_factor x median client latency
//	 "spikes": 14, "spikes_cold": 9,        spikes that were cold starts themselves
//	 "spikes_concurrent": 4,        other spikes that overlapped a load: CPU taken by the import, or
//	                                waiting in the listen backlog while the children were loading
//	 "spikes_unexplained": 1,
//	 "processes_spawned": 12, "processes_exited": 8,   Apache children and mod_wsgi daemons born
//	                                and gone during the traffic (sampled every 100 ms)
//	 "bursts": [Burst, ...],
//	 "timeline": [Second, ...],     one entry per second from the first burst to the end
//	 "cold_evidence": [ColdStart],  the first cold starts, each with its process's load line
//	 "events": [observe.Event],     mod_wsgi/MPM process lines (observe.ProcessRules: the observed
//	                                timeline's events); cell file only
//	 "request_log": [Request, ...]} every request; cell file only
type Result struct {
	Cell              Config          `json:"cell"`
	Knobs             Knobs           `json:"knobs"`
	Requests          int             `json:"requests"`
	Errors            int             `json:"errors"`
	Non2xx            int             `json:"non_2xx"`
	Client            Latency         `json:"client_ms"`
	App               Latency         `json:"app_ms"`
	Apache            Latency         `json:"apache_ms"`
	GapP99Ms          float64         `json:"gap_p99_ms"`
	Joined            int             `json:"joined"`
	NewPIDs           int             `json:"new_pids"`
	ColdStarts        int             `json:"cold_starts"`
	ColdRequests      int             `json:"cold_requests"`
	AppLoads          int             `json:"app_loads"`
	SpikeThresholdMs  float64         `json:"spike_threshold_ms"`
	Spikes            int             `json:"spikes"`
	SpikesCold        int             `json:"spikes_cold"`
	SpikesConcurrent  int             `json:"spikes_concurrent"`
	SpikesUnexplained int             `json:"spikes_unexplained"`
	Spawned           int             `json:"processes_spawned"`
	Exited            int             `json:"processes_exited"`
	Bursts            []Burst         `json:"bursts"`
	Timeline          []Second        `json:"timeline"`
	ColdEvidence      []ColdStart     `json:"cold_evidence,omitempty"`
	Events            []observe.Event `json:"events,omitempty"`
	RequestLog        []Request       `json:"request_log,omitempty"`
}

// ColdStart is a cold start shown as evidence: the first request a process served, which
// waited while that process loaded the app, and mod_wsgi's line of the load.
//
// JSON: Request's fields and "line": "[Thu Nov 26 ...] ... Loading Python script file '...'"
type ColdStart struct {
	Request
	Line string `json:"line,omitempty"`
}

// Latency summarises one view of the cell's requests, in milliseconds (nearest-rank
// percentiles of every request that has the figure).
//
// JSON: {"n": 400, "p50": 2.1, "p99": 2310.5, "max": 3120.9, "mean": 40.2}
type Latency struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Burst is one burst.
//
// JSON:
//
//	{"burst": 1, "start_s": 0, "duration_s": 3.4,   start from the first burst's, to its last response
//	 "requests": 100, "p50_ms": 3.2, "p99_ms": 3300.1, "max_ms": 3350.2,   client latency
//	 "cold_starts": 6, "spikes": 12,
//	 "processes_before": 5, "processes_max": 21}     app processes alive just before, most during
type Burst struct {
	Burst           int     `json:"burst"`
	StartS          float64 `json:"start_s"`
	DurationS       float64 `json:"duration_s"`
	Requests        int     `json:"requests"`
	P50Ms           float64 `json:"p50_ms"`
	P99Ms           float64 `json:"p99_ms"`
	MaxMs           float64 `json:"max_ms"`
	ColdStarts      int     `json:"cold_starts"`
	Spikes          int     `json:"spikes"`
	ProcessesBefore int     `json:"processes_before"`
	ProcessesMax    int     `json:"processes_max"`
}

// Second is one second of the cell's traffic phase, counted from the first burst's
// start; requests are counted in the second they started.
//
// JSON:
//
//	{"t": 0,                        seconds from the first burst's start
//	 "requests": 100,               requests started in that second
//	 "p50_ms": 3.2, "p99_ms": 3300.1, "max_ms": 3350.2,   their client latency (0 without requests)
//	 "cold_starts": 6,              of them, cold starts
//	 "children": 14, "daemons": 0,  most Apache children / mod_wsgi daemon processes alive in it
//	 "spawned": 8, "exited": 0}     processes first seen / last seen in it
type Second struct {
	T          int     `json:"t"`
	Requests   int     `json:"requests"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	ColdStarts int     `json:"cold_starts"`
	Children   int     `json:"children"`
	Daemons    int     `json:"daemons"`
	Spawned    int     `json:"spawned"`
	Exited     int     `json:"exited"`
}

// Request is one request of the spikes scenario.
//
// JSON:
//
//	{"burst": 1, "seq": 17,        its id, "1.17", is in the query string and the access log
//	 "t_ms": 12.3,                 start, from the first burst's start
//	 "latency_ms": 1450.2,         client: connect to last byte
//	 "connect_ms": 0.1, "status": 200, "error": "",
//	 "pid": 4242,                  the process that ran the app: X-Pid (%P in embedded mode without it)
//	 "apache_pid": 4242,           %P, the Apache child that took the connection
//	 "app_ms": 0.002,              X-App-Time-Us
//	 "apache_ms": 1449.8,          %D (absent when the access log lacks the request)
//	 "first_for_pid": true,        the first request of this process in the traffic
//	 "cold_start": true,           its process loaded the app while it waited
//	 "spike": true,                slower than spike_factor x the cell's median
//	 "cause": "cold_start"}        of a spike: cold_start, concurrent_cold_start (a load it did not
//	                               wait for itself ran meanwhile), first_request (a first request
//	                               without a load line) or "" (nothing found); the last two count
//	                               as spikes_unexplained
type Request struct {
	Burst       int      `json:"burst"`
	Seq         int      `json:"seq"`
	TMs         float64  `json:"t_ms"`
	LatencyMs   float64  `json:"latency_ms"`
	ConnectMs   float64  `json:"connect_ms"`
	Status      int      `json:"status"`
	Error       string   `json:"error,omitempty"`
	PID         int      `json:"pid,omitempty"`
	ApachePID   int      `json:"apache_pid,omitempty"`
	AppMs       *float64 `json:"app_ms,omitempty"`
	ApacheMs    *float64 `json:"apache_ms,omitempty"`
	FirstForPID bool     `json:"first_for_pid,omitempty"`
	ColdStart   bool     `json:"cold_start,omitempty"`
	Spike       bool     `json:"spike,omitempty"`
	Cause       string   `json:"cause,omitempty"`

	start, end time.Time
	id         string
}

// serverStart is when Apache read the request (its end minus %D), or its start on the client
// when the access log lacks it.
func (r *Request) serverStart() time.Time {
	if r.ApacheMs == nil {
		return r.start
	}
	return r.end.Add(-time.Duration(*r.ApacheMs * float64(time.Millisecond)))
}

// Causes of a spike.
const (
	CauseColdStart           = "cold_start"
	CauseConcurrentColdStart = "concurrent_cold_start"
	CauseFirstRequest        = "first_request"
)

// CellResult is what one spikes cell produced (<out>/<cell id>.json); run.json carries it
// without the observed timeline, the request log and the process events.
//
// JSON: results.Cell's fields (id, vhost, dir, url, verdict, notes, ...) and
//
//	{"config": Config,
//	 "spikes": Result,
//	 "timeline": observe.Timeline}   what the cell's observer saw every 100 ms, from before the
//	                                 first burst to after the tail: the processes (ticks' "processes"),
//	                                 the access log's new lines ("access") and the error log's
//	                                 process lines ("events"); cell file only
type CellResult struct {
	results.Cell
	Config   Config           `json:"config"`
	Spikes   *Result          `json:"spikes,omitempty"`
	Timeline observe.Timeline `json:"timeline,omitzero"`
}

// Summary is the cell without its observed timeline, request log and process events, for
// run.json.
func (r *CellResult) Summary() any {
	s := *r
	s.Timeline = observe.Timeline{}
	if r.Spikes != nil {
		sp := *r.Spikes
		sp.RequestLog, sp.Events = nil, nil
		s.Spikes = &sp
	}
	return &s
}

func (p *Plan) configs() []Config {
	if len(p.Configs) == 0 {
		return DefaultConfigs()
	}
	return p.Configs
}

func (p *Plan) Cells() []runner.Cell {
	var out []runner.Cell
	for _, c := range p.configs() {
		if c.ID == "" {
			c.ID = c.name()
		}
		out = append(out, runner.Cell{ID: c.ID, Stack: p.knobs(c), Spec: c})
	}
	return out
}

func (p *Plan) NewResult(c runner.Cell) runner.CellResult {
	return &CellResult{Config: c.Spec.(Config)}
}

// Run runs the cells one at a time, in matrix order: they measure latency.
func (p *Plan) Run(ctx context.Context, env *runner.Env, cells []runner.Cell, res []runner.CellResult) {
	env.EachCell(ctx, cells, res, 1, func(ctx context.Context, c runner.Cell, r runner.CellResult) {
		p.runCell(ctx, env, c, r.(*CellResult))
	})
}

// runCell runs the scenario on one cell and fills res; the cell's stack is stopped before it
// returns.
func (p *Plan) runCell(ctx context.Context, env *runner.Env, c runner.Cell, res *CellResult) {
	cell, o := c.Spec.(Config), c.Stack
	s := env.StartStack(ctx, c, o, &res.Cell)
	if s == nil {
		return
	}
	defer s.Stop(ctx)

	// One observer of the cell from before the first burst to after the tail: its processes,
	// the access log and the error log's process lines, every 100 ms.
	obs := observe.New(observe.Target{Cell: c.ID, Vhost: res.Vhost, Interval: sampleInterval},
		observe.NewProcesses(cellProcesses(s.Server)),
		observe.NewAccessLog(s.Server.AccessLog(), 0),
		observe.NewProcessLog(server.LogFile(s.Server)))
	octx, stopObs := context.WithCancel(context.WithoutCancel(ctx))
	obsDone := make(chan struct{})
	go func() { obs.Run(octx); close(obsDone) }()
	// The first sample is the cell at rest, before any burst.
	if !waitForSample(obs, time.Time{}) {
		res.Note("observer: no first sample within %v", sampleWait)
	}

	client := spikeClient{addr: "127.0.0.1:" + strconv.Itoa(s.Port()), host: "127.0.0.1:" + strconv.Itoa(s.Port()),
		timeout: p.RequestTimeout}
	var reqs []Request
	var burstStarts []time.Time
	interrupted := false
	for b := 1; b <= p.Bursts; b++ {
		burstStarts = append(burstStarts, time.Now())
		reqs = append(reqs, client.burst(ctx, *p, b)...)
		wait := p.Gap
		if b == p.Bursts {
			wait = p.Tail
		}
		select {
		case <-ctx.Done():
			interrupted = true
		case <-time.After(wait):
		}
		if interrupted {
			break
		}
	}
	// The access log and the error log are written as requests end: a sample taken after the
	// tail has every line of the traffic.
	if !waitForSample(obs, time.Now()) {
		res.Note("observer: no sample after the traffic within %v", sampleWait)
	}
	stopObs()
	<-obsDone
	tl := obs.Timeline()
	res.Timeline = tl
	noteProbeErrors(&res.Cell, tl)

	sp := analyze(reqs, burstStarts, tl, *p, s.AppRole(), o.Mode == "embedded")
	sp.Cell = cell
	sp.Knobs = Knobs{StartServers: o.StartServers, MaxRequestWorkers: o.MaxRequestWorkers,
		Processes: o.Processes, Threads: o.Threads, Preload: o.Preload, ImportCostS: o.ImportCost.Seconds(), RequestCostS: o.RequestCost.Seconds(),
		MonkeyPatch: o.MonkeyPatch}
	if o.MPM == "prefork" {
		sp.Knobs.MinSpare, sp.Knobs.MaxSpare = o.MinSpareServers, o.MaxSpareServers
	} else {
		sp.Knobs.MinSpare, sp.Knobs.MaxSpare = o.MinSpareThreads, o.MaxSpareThreads
	}
	res.Spikes = sp
	if interrupted {
		res.Fail(fmt.Errorf("interrupted after %d of %d bursts: %w", len(burstStarts), p.Bursts, ctx.Err()))
		return
	}
	if sp.Requests > 0 && sp.Errors == sp.Requests {
		res.Fail(fmt.Errorf("every request failed (first: %s)", firstError(reqs)))
		return
	}
	res.Verdict = results.Verdict{Kind: results.Measured, Reason: sp.reason(*p)}
}

// sampleInterval is the cell observer's clock: a prefork child reaped or forked shows within
// 100 ms.
const sampleInterval = 100 * time.Millisecond

// sampleWait bounds the wait for a sample (the observer gives a slow probe at most a second).
const sampleWait = 3 * time.Second

// cellProcesses lists the cell's Apache children and mod_wsgi daemons (not the parent). It
// reads /proc directly: an HTTP status probe would take a prefork child for itself.
func cellProcesses(a server.Server) func() []observe.ProcessInfo {
	return func() []observe.ProcessInfo {
		var out []observe.ProcessInfo
		for _, p := range a.Processes() {
			if p.Role != server.RoleParent {
				out = append(out, observe.ProcessInfo{PID: p.PID, Role: p.Role})
			}
		}
		return out
	}
}

// waitForSample waits until the observer has recorded a tick taken at or after t (any tick
// for the zero time); false after sampleWait without one.
func waitForSample(obs *observe.Observer, t time.Time) bool {
	deadline := time.Now().Add(sampleWait)
	for {
		ticks := obs.Timeline().Ticks
		if n := len(ticks); n > 0 && !ticks[n-1].T.Before(t) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noteProbeErrors notes, per probe, the samples that failed and the first reason.
func noteProbeErrors(c *results.Cell, tl observe.Timeline) {
	failed := map[string]int{}
	first := map[string]string{}
	for _, t := range tl.Ticks {
		for name, err := range t.Errors {
			if failed[name] == 0 {
				first[name] = err
			}
			failed[name]++
		}
	}
	for _, name := range slices.Sorted(maps.Keys(failed)) {
		c.Note("%s: %d of %d samples failed (first: %s)", name, failed[name], len(tl.Ticks), first[name])
	}
}

func firstError(reqs []Request) string {
	for _, r := range reqs {
		if r.Error != "" {
			return r.Error
		}
	}
	return "none"
}

// reason is the cell's one-line summary.
func (s *Result) reason(plan Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "client p99 %.1f ms vs app p99 %.2f ms (gap %.1f ms); ", s.Client.P99, s.App.P99, s.GapP99Ms)
	switch {
	case s.ColdStarts == 0:
		b.WriteString("no cold start on the request path")
	case s.ColdStarts == 1:
		b.WriteString("1 cold start (a process loading the app while a request waited)")
	default:
		fmt.Fprintf(&b, "%d cold starts (processes loading the app while a request waited)", s.ColdStarts)
	}
	fmt.Fprintf(&b, "; %d spikes > %gx median (%.1f ms): %d cold, %d beside a cold start, %d other",
		s.Spikes, plan.SpikeFactor, s.SpikeThresholdMs, s.SpikesCold, s.SpikesConcurrent, s.SpikesUnexplained)
	if s.Errors > 0 {
		fmt.Fprintf(&b, "; %d failed requests", s.Errors)
	}
	return b.String()
}
