// Package heartbeat is the scenario of the write-ups' first failure: does an eventlet-patched
// service's AMQP connection survive an idle period under a given server configuration? Each
// cell gets warm-up traffic that reaches every app process, an idle of several heartbeat
// timeouts, probe traffic that reaches every process again and a short tail, while an
// observe.Observer records the broker's connections, the service's sockets, the broker's and
// Apache's logs and the scoreboard; the verdict (verdict.go) is computed from that timeline.
package heartbeat

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"wsgilab/internal/observe"
	"wsgilab/internal/results"
	"wsgilab/internal/runner"
	"wsgilab/internal/stack"
)

// Scenario is the heartbeat scenario (registered in internal/scenario).
type Scenario struct{}

func (Scenario) Name() string { return "heartbeat" }

func (Scenario) Summary() string {
	return "does the service's AMQP connection survive an idle period? STABLE / DROPPED per cell, with the broker's and client's lines"
}

func (Scenario) Usage() string {
	return `Does the service's AMQP connection survive an idle period? Each cell: warm-up traffic reaching
every app process, an idle of idle-factor x heartbeat-timeout, probe traffic reaching every process
again, a short tail. Verdict per cell: STABLE, DROPPED (with time to drop and the broker/client log
lines) or ERROR.

The matrix is the product of --mpm x --mode x --heartbeat (default: 3 x 2 x green,pthread = 12
cells), plus the two control cells with --controls. Cells run --parallel at once on one broker,
each on its own vhost, with its own Apache, ports and directory.
`
}

// Plan is the shape of the heartbeat scenario: warm-up traffic that reaches every service
// process, an idle long enough for a broker to give up on a silent client, probe traffic that
// again reaches every process, and a short tail for late evidence.
//
// JSON (run.json's "plan"): {"heartbeat_timeout_s": 3, "heartbeat_rate": 0, "idle_factor": 3.5,
// "paths": ["/cast"], "burst_limit_ns": ..., "request_timeout_ns": ..., "concurrency": 4,
// "min_requests": 8, "max_requests": 200, "tail_ns": 2000000000, "parallel": 6,
// "matrix": {"mpms": [...], "modes": [...], "heartbeats": [...]}, "controls": false, "app": ""}
type Plan struct {
	// Timeout is the client's heartbeat_timeout_threshold in seconds (the broker negotiates
	// the smaller of the two, its own default being 60). Short so a cell takes seconds.
	Timeout int `json:"heartbeat_timeout_s"`
	// Rate is oslo.messaging's heartbeat_rate (checks per timeout); 0 = its default, 2.
	Rate int `json:"heartbeat_rate"`
	// IdleFactor times Timeout is the idle; the broker closes a silent connection between 2
	// and 3 timeouts after its last data, so 3 plus a margin is needed to see every drop.
	IdleFactor float64 `json:"idle_factor"`
	// Paths are the endpoints that use the broker, loaded at once. The fake service's /cast
	// sends on a pooled connection, which carries the heartbeat. Not /call by default: with
	// eventlet, a green heartbeat and more than one thread per process, oslo.messaging's reply
	// listener lives in the hub of the thread that made the first call, and calls from other
	// threads wait for their timeout (see apps/fakeservice/README.md). A user app (--app)
	// names its own (--path).
	Paths []string `json:"paths"`
	// BurstLimit bounds one warm-up or probe burst, so a service that hangs cannot hang the
	// cell; a request is abandoned after RequestTimeout.
	BurstLimit     time.Duration `json:"burst_limit_ns"`
	RequestTimeout time.Duration `json:"request_timeout_ns"`
	// Concurrency of the warm-up and probe bursts; they stop once every service process has
	// answered (and MinRequests completed), or after MaxRequests.
	Concurrency int `json:"concurrency"`
	MinRequests int `json:"min_requests"`
	MaxRequests int `json:"max_requests"`
	// Tail is the wait after the probe, so that the broker's close and the client's log lines
	// written just after it (and the management API's 1 s statistics) are seen.
	Tail time.Duration `json:"tail_ns"`
	// Parallel is how many cells run at once (they share the broker, each on its own vhost
	// and ports).
	Parallel int `json:"parallel"`

	// Matrix is expanded into the cells, unless Specs is set; Controls adds the write-ups'
	// two control cells on the first MPM and mode: the same app without
	// eventlet.monkey_patch() (green heartbeat), and heartbeat off with TCP keepalive.
	Matrix   runner.Matrix     `json:"matrix"`
	Controls bool              `json:"controls,omitempty"`
	Specs    []runner.CellSpec `json:"-"`
	// Base holds the stack options common to every cell (app, processes, threads).
	Base stack.Options `json:"-"`
	App  string        `json:"app,omitempty"`
}

// DefaultPlan takes about 20 s per cell: a 3 s heartbeat, so a 10.5 s idle, which covers the
// broker's close (2-3 timeouts after the last data) with 1.5 s to spare; the matrix is every
// MPM x mode x green,pthread.
func DefaultPlan() Plan {
	return Plan{Timeout: 3, IdleFactor: 3.5, Paths: []string{"/cast"}, BurstLimit: 30 * time.Second,
		RequestTimeout: 15 * time.Second, Concurrency: 4, MinRequests: 8, MaxRequests: 200, Tail: 2 * time.Second,
		Parallel: 6, Matrix: runner.Matrix{MPMs: runner.MPMs, Modes: runner.Modes, Heartbeats: []string{"green", "pthread"}}}
}

// Idle is how long the service gets no traffic.
func (p Plan) Idle() time.Duration {
	return time.Duration(p.IdleFactor * float64(p.Timeout) * float64(time.Second))
}

// Validate rejects plans that cannot show a drop.
func (p Plan) Validate() error {
	switch {
	case p.Timeout < 1:
		return fmt.Errorf("--heartbeat-timeout=%d: must be >= 1 s", p.Timeout)
	case p.IdleFactor < 3:
		return fmt.Errorf("--idle-factor=%g: must be >= 3 (the broker closes 2-3 timeouts after the last data)", p.IdleFactor)
	case len(p.Paths) == 0:
		return fmt.Errorf("no path to send traffic to")
	case p.Concurrency < 1 || p.MaxRequests < 1:
		return fmt.Errorf("concurrency and requests must be >= 1")
	case p.Parallel < 1:
		return fmt.Errorf("--parallel=%d: must be >= 1", p.Parallel)
	}
	for _, path := range p.Paths {
		if !strings.HasPrefix(path, "/") {
			return fmt.Errorf("--path %q: must start with /", path)
		}
	}
	return nil
}

func (Scenario) Flags(fs *pflag.FlagSet) func() (runner.Plan, error) {
	p := DefaultPlan()
	matrix := runner.MatrixFlags(fs, "prefork,worker,event", "embedded,daemon", "green,pthread")
	fs.BoolVar(&p.Controls, "controls", false, "add control cells: no eventlet.monkey_patch(); heartbeat off with TCP keepalive")
	service := runner.ServiceFlags(fs, runner.ServiceDefaults{ProcessesHelp: "default 2", ThreadsHelp: "default 2"})
	paths := fs.StringSlice("path", nil, "endpoints the warm-up and probe load at once (default /cast; / with --app)")
	fs.IntVar(&p.Timeout, "heartbeat-timeout", p.Timeout, "client heartbeat_timeout_threshold in seconds (short, so a cell takes seconds)")
	fs.IntVar(&p.Rate, "heartbeat-rate", p.Rate, "oslo.messaging heartbeat_rate (0 = its default, 2)")
	fs.Float64Var(&p.IdleFactor, "idle-factor", p.IdleFactor, "idle phase length in heartbeat timeouts (>= 3)")
	fs.IntVar(&p.Parallel, "parallel", p.Parallel, "cells run at once")
	return func() (runner.Plan, error) {
		var err error
		if p.Matrix, err = matrix(); err != nil {
			return nil, err
		}
		if p.Base, err = service(); err != nil {
			return nil, err
		}
		p.App = p.Base.AppPath
		switch {
		case len(*paths) > 0:
			p.Paths = *paths
		case p.App != "":
			p.Paths = []string{"/"}
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		return &p, nil
	}
}

// specs are the plan's cells along the matrix's dimensions, the controls last.
func (p *Plan) specs() []runner.CellSpec {
	if len(p.Specs) > 0 {
		return p.Specs
	}
	out := p.Matrix.Specs()
	if p.Controls && len(out) > 0 {
		// On the first configuration of the matrix.
		first := out[0]
		noPatch, keepalive := first, first
		noPatch.Heartbeat, noPatch.MonkeyPatch, noPatch.Control = "green", false, "no eventlet.monkey_patch()"
		keepalive.Heartbeat, keepalive.TCPKeepalive, keepalive.Control = "off", true, "heartbeat off, TCP keepalive"
		out = append(out, noPatch, keepalive)
	}
	return out
}

func (p *Plan) Cells() []runner.Cell {
	var out []runner.Cell
	for _, s := range p.specs() {
		out = append(out, runner.Cell{ID: s.Name(), Stack: p.knobs(s), Spec: s})
	}
	return out
}

// knobs sizes the stack of a heartbeat cell so that every configuration has a small, fixed
// number of processes running the app (two), which the warm-up can reach for certain: prefork
// with no spare-server churn, worker/event with two children, daemon mode with the user's
// processes x threads, two uWSGI or gunicorn workers (two threads each for gthread).
func (p *Plan) knobs(spec runner.CellSpec) stack.Options {
	o := p.Base
	processes, threads := o.Processes, o.Threads
	o.Options = spec.ServerOptions()
	o.Heartbeat = spec.Heartbeat
	o.MonkeyPatch = spec.MonkeyPatch
	o.HeartbeatTimeout, o.HeartbeatRate = p.Timeout, p.Rate
	if spec.Heartbeat == "off" {
		o.HeartbeatTimeout = 0
	}
	if spec.TCPKeepalive && o.TCPKeepalive == 0 {
		o.TCPKeepalive = 5
	}
	if !spec.IsApache() {
		// Two workers, as many threads as the worker class runs: the warm-up reaches both.
		o.Processes, o.Threads = processes, threads
		if o.Processes == 0 {
			o.Processes = 2
		}
		if o.Threads == 0 && spec.Worker == "gthread" {
			o.Threads = 2
		}
		return o
	}
	o.Processes, o.Threads = processes, threads
	switch spec.MPM {
	case "prefork":
		o.StartServers, o.MinSpareServers, o.MaxSpareServers = 2, 2, 2
		o.MaxRequestWorkers, o.ServerLimit = 2, 2
	default:
		o.StartServers, o.ServerLimit, o.ThreadsPerChild = 2, 2, 4
		o.MaxRequestWorkers, o.MinSpareThreads, o.MaxSpareThreads = 8, 4, 8
	}
	if spec.Mode == "daemon" {
		if o.Processes == 0 {
			o.Processes = 2
		}
		if o.Threads == 0 {
			o.Threads = 2
		}
	} else {
		o.Processes, o.Threads, o.Preload, o.InactivityTimeout = 0, 0, false, 0
	}
	return o
}

func (p *Plan) NewResult(c runner.Cell) runner.CellResult {
	return &CellResult{Spec: c.Spec.(runner.CellSpec), Findings: Findings{Evidence: []observe.Event{}}}
}

// WriteText prints the run as one table, a row per cell, followed by each cell's reason and
// the log lines it rests on.
func (Scenario) WriteText(w io.Writer, run *results.Run) error {
	var p Plan
	cells, err := results.Decode[CellResult](run, &p)
	if err != nil {
		return err
	}
	writeTable(w, run, p, cells)
	return nil
}
