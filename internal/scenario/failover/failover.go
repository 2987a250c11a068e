// Package failover is the scenario the write-ups ended on: what the broker's failure does to
// the service, per heartbeat mode. When nova-api's heartbeat was disabled to work around the
// eventlet starvation ("rely on TCP keepalives instead"), the reply was to verify it "with an
// advanced destructive/failover testing": the failure would be "greatly increased 'Timed out
// waiting for a reply' everywhere" (seed 002).
//
// Each cell runs the service on a private RabbitMQ node of its own (a fault breaks the node,
// and must break no other cell's), sends open-loop /cast and /call traffic with a unique id per
// request before, during and after a fault (internal/fault: restart, hang, blackhole, reset),
// and judges from the client's record of every request, the conductor's record of every id it
// received, and an observe.Observer's timeline (the broker's connections, the service's
// sockets, the broker's, the server's and the conductor's logs): RECOVERED, DEGRADED (losses,
// duplicates, timeouts), STUCK or ERROR.
package failover

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"wsgilab/internal/fault"
	"wsgilab/internal/results"
	"wsgilab/internal/runner"
	"wsgilab/internal/stack"
)

// Scenario is the failover scenario (registered in internal/scenario).
type Scenario struct{}

func (Scenario) Name() string { return "failover" }

func (Scenario) Summary() string {
	return "what a broker failure (restart, hang, blackhole, reset) does to the service, per heartbeat mode: RECOVERED / DEGRADED / STUCK, with lost and duplicated messages, time to detect and to recover"
}

func (Scenario) Usage() string {
	return `What a broker failure does to the service, per heartbeat mode. Each cell: open-loop /cast and
/call traffic (--rate, every request with a unique id the conductor records) before, during and
after a fault of --fault-duration:
  restart    rabbitmqctl stop_app, then start_app (connections closed, listener down)
  hang       SIGSTOP of the node's Erlang VM, then SIGCONT (TCP stays up: only heartbeats notice)
  blackhole  iptables DROP of the node's AMQP port on lo (no FIN, no RST), then removed
  reset      the service's AMQP connections reset (ss -K) while the broker stays up (an instant)
Verdict per cell: RECOVERED (nothing lost or duplicated, recovered within the tail), DEGRADED
(recovered, with losses, duplicates or timeouts: which), STUCK (not recovered by the end) or
ERROR, with the requests' and the conductor's counts, time to detect and to recover, downtime,
latency before/during/after, and the broker's and client's lines.

Each cell runs on a private RabbitMQ node of its own, so that its fault breaks no other cell's
broker and cells can run --parallel at once: a node costs its start (6-11 s alone, 10-18 s when
three start at once on a 2-core machine; part of the cell's time) and ~140 MB of memory while
the cell runs. blackhole and reset need root (iptables, ss -K). Timings are scaled down like
the heartbeat scenario's: a 5 s heartbeat and a 5 s RPC timeout against a 20 s fault. A restart
strikes 2-11 s after stop_app runs and its start_app takes 2-12 s: the FAULT column says how
long each fault was in effect.

The matrix is --server (default Apache: event MPM, mod_wsgi daemon mode, 2 processes x 1 thread,
the write-ups' recommended nova-api layout) x --heartbeat (green, pthread, off: off keeps
py-amqp's default TCP keepalive; --tcp-keepalive N adds off with an N s keepalive) x --fault
(default restart,hang,blackhole = 9 cells).
`
}

// CellSpec is one failover cell: a configuration of the stack and a fault.
//
// JSON: runner.CellSpec's fields (server, mpm, mode, heartbeat, monkey_patch, tcp_keepalive,
// ...) and {"fault": "hang"}.
type CellSpec struct {
	runner.CellSpec
	Fault string `json:"fault"`
}

// Name is the cell id: the configuration's, then the fault ("event-daemon-green-restart").
func (c CellSpec) Name() string { return c.CellSpec.Name() + "-" + c.Fault }

// Plan is the shape of a failover cell: traffic for Before, the fault for FaultDuration (then
// undone), traffic for After the fault ended, then the requests still in flight are waited for.
//
// JSON (run.json's "plan"): {"faults": ["restart", ...], "fault_duration_ns": 2e10,
// "before_ns": 5e9, "after_ns": 2e10, "rate": 10, "request_timeout_ns": 1e10,
// "heartbeat_timeout_s": 5, "rpc_timeout_s": 5, "tcp_keepalive_s": 0, "parallel": 3,
// "processes": 2, "threads": 1, "matrix": {...}}
type Plan struct {
	Faults        []string      `json:"faults"`
	FaultDuration time.Duration `json:"fault_duration_ns"`
	// Before is the traffic before the fault: the service's normal (its latency p99 is what
	// "recovered" means for latency) and its connections, all open.
	Before time.Duration `json:"before_ns"`
	// After is the traffic after the fault ended, at most: the time the service has to recover.
	// A cell ends sooner once the service has recovered (every app process answered again,
	// latency back for three seconds) and five seconds more.
	// oslo.messaging's reconnect back-off sleeps 1, 3, 5, 7, ... s (rabbit_retry_interval 1,
	// rabbit_retry_backoff 2), so a connection retries n² s after it failed: after a 20-25 s
	// outage its next try may be 11 s away (36 s), and the backlog of requests queued meanwhile
	// takes a few seconds more to drain.
	After time.Duration `json:"after_ns"`
	// Rate is the requests per second, /cast and /call alternately; RequestTimeout is when the
	// client gives up on one (a request abandoned by the client may still reach the conductor).
	Rate           float64       `json:"rate"`
	RequestTimeout time.Duration `json:"request_timeout_ns"`
	// HeartbeatTimeout is oslo.messaging's heartbeat_timeout_threshold in the green and
	// pthread cells (the broker takes the smaller of its 60 and this): the client gives up
	// after two silent intervals, and oslo sets TCP_USER_TIMEOUT to it.
	HeartbeatTimeout int `json:"heartbeat_timeout_s"`
	// RPCTimeout is how long /call waits for the conductor's reply (MessagingTimeout after).
	RPCTimeout int `json:"rpc_timeout_s"`
	// TCPKeepalive > 0 adds, per server configuration and fault, a cell with heartbeats off and
	// the kernel's keepalive after TCPKeepalive s idle (3 probes, a third of that apart).
	TCPKeepalive int `json:"tcp_keepalive_s,omitempty"`
	// Parallel is how many cells run at once (each on its own node).
	Parallel  int           `json:"parallel"`
	Processes int           `json:"processes"`
	Threads   int           `json:"threads"`
	Matrix    runner.Matrix `json:"matrix"`
	// Specs, when set, are the cells (tests); otherwise the matrix x Faults.
	Specs []CellSpec `json:"-"`
	// Base holds the stack options common to every cell.
	Base stack.Options `json:"-"`
}

// DefaultPlan: the write-ups' nova-api layout under each heartbeat mode and the three faults
// that matter most; a cell takes ~60 s alone (node start, stack start, 5 s + 20 s + 20 s of
// traffic, teardown), 60-75 s three at a time on a 2-core machine.
func DefaultPlan() Plan {
	return Plan{
		Faults: []string{fault.Restart, fault.Hang, fault.Blackhole}, FaultDuration: 20 * time.Second,
		Before: 5 * time.Second, After: 20 * time.Second, Rate: 10, RequestTimeout: 10 * time.Second,
		HeartbeatTimeout: 5, RPCTimeout: 5, Parallel: 3, Processes: 2, Threads: 1,
		Matrix: runner.Matrix{MPMs: []string{"event"}, Modes: []string{"daemon"}, Heartbeats: []string{"green", "pthread", "off"}},
	}
}

// CellBrokers: every cell starts its own node (runner.CellBrokers), since its fault breaks it.
func (p *Plan) CellBrokers() bool { return true }

// Validate rejects plans that cannot be run or cannot show a recovery, and faults this
// machine cannot inject, before anything starts.
func (p Plan) Validate() error {
	switch {
	case len(p.Faults) == 0:
		return errors.New("--fault: no fault given")
	case p.FaultDuration <= 0:
		return fmt.Errorf("--fault-duration=%v: must be > 0", p.FaultDuration)
	case p.Before < time.Second:
		return fmt.Errorf("--before=%v: must be >= 1s (the service's normal latency is measured there)", p.Before)
	case p.After < sustained*window:
		return fmt.Errorf("--after=%v: must be >= %v (the recovery is measured there: latency back for %d s in a row)", p.After, sustained*window, sustained)
	case p.Rate < 1 || p.Rate > 200:
		return fmt.Errorf("--rate=%g: must be between 1 and 200 requests per second", p.Rate)
	case p.RequestTimeout <= 0:
		return fmt.Errorf("--request-timeout=%v: must be > 0", p.RequestTimeout)
	case p.HeartbeatTimeout < 1:
		return fmt.Errorf("--heartbeat-timeout=%d: must be >= 1 s", p.HeartbeatTimeout)
	case p.RPCTimeout < 1:
		return fmt.Errorf("--rpc-timeout=%d: must be >= 1 s", p.RPCTimeout)
	case p.TCPKeepalive < 0:
		return fmt.Errorf("--tcp-keepalive=%d: must be >= 0 (0: no keepalive cells)", p.TCPKeepalive)
	case p.Parallel < 1:
		return fmt.Errorf("--parallel=%d: must be >= 1", p.Parallel)
	}
	for _, f := range p.Faults {
		if err := fault.Check(f); err != nil {
			return err
		}
	}
	return nil
}

func (Scenario) Flags(fs *pflag.FlagSet) func() (runner.Plan, error) {
	p := DefaultPlan()
	matrix := runner.MatrixFlags(fs, "event", "daemon", "green,pthread,off")
	service := runner.ServiceFlags(fs, runner.ServiceDefaults{ProcessesHelp: "default 2", ThreadsHelp: "default 1"})
	faults := fs.String("fault", strings.Join(p.Faults, ","), "faults: "+strings.Join(fault.Kinds, ", ")+" (comma-separated)")
	fs.DurationVar(&p.FaultDuration, "fault-duration", p.FaultDuration, "how long each fault lasts (reset is an instant)")
	fs.DurationVar(&p.Before, "before", p.Before, "traffic before the fault")
	fs.DurationVar(&p.After, "after", p.After, "traffic after the fault ended, at most: the time the service has to recover (a cell that recovered ends 5 s after its latency was back)")
	fs.Float64Var(&p.Rate, "rate", p.Rate, "requests per second, half /cast and half /call in a fixed random order (open loop)")
	fs.DurationVar(&p.RequestTimeout, "request-timeout", p.RequestTimeout, "the client gives up on a request after this")
	fs.IntVar(&p.HeartbeatTimeout, "heartbeat-timeout", p.HeartbeatTimeout, "oslo.messaging heartbeat_timeout_threshold in s (green and pthread cells)")
	fs.IntVar(&p.RPCTimeout, "rpc-timeout", p.RPCTimeout, "seconds /call waits for the conductor's reply (then MessagingTimeout)")
	fs.IntVar(&p.TCPKeepalive, "tcp-keepalive", p.TCPKeepalive, "also run heartbeat off with TCP keepalive after N s idle (0: not)")
	fs.IntVar(&p.Parallel, "parallel", p.Parallel, "cells run at once (each on its own broker node)")
	return func() (runner.Plan, error) {
		var err error
		if p.Matrix, err = matrix(); err != nil {
			return nil, err
		}
		if p.Base, err = service(); err != nil {
			return nil, err
		}
		if p.Base.AppPath != "" {
			return nil, errors.New("--app: the failover scenario counts messages through the fake service and its conductor (ids per request); it cannot run your own app")
		}
		if p.Base.Processes > 0 {
			p.Processes = p.Base.Processes
		}
		if p.Base.Threads > 0 {
			p.Threads = p.Base.Threads
		}
		if p.Faults, err = runner.ParseList("fault", *faults, fault.Kinds); err != nil {
			return nil, err
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		return &p, nil
	}
}

// specs are the plan's cells: per server configuration, each heartbeat mode (then the
// keepalive variant) under each fault.
func (p *Plan) specs() []CellSpec {
	if len(p.Specs) > 0 {
		return p.Specs
	}
	// Same server configuration, whatever the heartbeat (the matrix varies it innermost).
	sameConfig := func(a, b runner.CellSpec) bool {
		a.Heartbeat, b.Heartbeat = "", ""
		return a == b
	}
	var configs []runner.CellSpec
	all := p.Matrix.Specs()
	for i, s := range all {
		configs = append(configs, s)
		// The keepalive variant after the last heartbeat mode of its server configuration.
		if p.TCPKeepalive > 0 && (i == len(all)-1 || !sameConfig(s, all[i+1])) {
			ka := s
			ka.Heartbeat, ka.TCPKeepalive = "off", true
			configs = append(configs, ka)
		}
	}
	var out []CellSpec
	for _, c := range configs {
		for _, f := range p.Faults {
			out = append(out, CellSpec{CellSpec: c, Fault: f})
		}
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

// knobs sizes a cell's stack: the app in Processes x Threads (mod_wsgi daemon processes, or
// uWSGI/gunicorn workers); in mod_wsgi daemon mode Apache's own children keep its defaults,
// since they only pass requests on (a request waiting on a broken broker holds one of them);
// in embedded mode the MPM's children run the app, two of them as in the heartbeat scenario.
func (p *Plan) knobs(spec CellSpec) stack.Options {
	o := p.Base
	o.Options = spec.ServerOptions()
	o.Heartbeat, o.MonkeyPatch = spec.Heartbeat, spec.MonkeyPatch
	o.HeartbeatTimeout, o.RPCTimeout = p.HeartbeatTimeout, p.RPCTimeout
	if spec.Heartbeat == "off" {
		o.HeartbeatTimeout = 0
	}
	o.TCPKeepalive = 0
	if spec.TCPKeepalive {
		o.TCPKeepalive = p.TCPKeepalive
	}
	o.Processes, o.Threads = p.Processes, p.Threads
	if !spec.IsApache() {
		if spec.Worker == "gthread" && o.Threads < 2 {
			o.Threads = 2
		}
		return o
	}
	if spec.Mode == "daemon" {
		return o
	}
	o.Processes, o.Threads, o.Preload, o.InactivityTimeout = 0, 0, false, 0
	switch spec.MPM {
	case "prefork":
		o.StartServers, o.MinSpareServers, o.MaxSpareServers = 2, 2, 2
		o.MaxRequestWorkers, o.ServerLimit = 2, 2
	default:
		o.StartServers, o.ServerLimit, o.ThreadsPerChild = 2, 2, 4
		o.MaxRequestWorkers, o.MinSpareThreads, o.MaxSpareThreads = 8, 4, 8
	}
	return o
}

func (p *Plan) NewResult(c runner.Cell) runner.CellResult {
	return &CellResult{Spec: c.Spec.(CellSpec)}
}

// WriteText prints the run as one table, a row per cell, then each cell's verdict, its
// figures in words and the log lines they rest on.
func (Scenario) WriteText(w io.Writer, run *results.Run) error {
	var p Plan
	cells, err := results.Decode[CellResult](run, &p)
	if err != nil {
		return err
	}
	writeTable(w, run, p, cells)
	return nil
}
