package failover

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"wsgilab/internal/broker"
	"wsgilab/internal/fault"
	"wsgilab/internal/observe"
	"wsgilab/internal/results"
	"wsgilab/internal/runner"
	"wsgilab/internal/server"
)

// CellResult is what one failover cell produced. It is written as <out>/<cell id>.json;
// run.json carries it without its requests, deliveries and timeline.
//
// JSON: results.Cell's fields (id, vhost, dir, url, verdict, notes, ...) and
//
//	{"spec": CellSpec,                 the configuration and the fault
//	 "broker": Node,                   the cell's own broker node
//	 "fault": fault.Window,            when the fault was in effect, what was done
//	 "findings": Findings,             the counts and times the verdict rests on (verdict.go)
//	 "requests": [Request, ...],       every request the client sent (cell file only)
//	 "received": [Delivery, ...],      every id the conductor received, in order (cell file only)
//	 "timeline": observe.Timeline}     every sample and matched log line (cell file only)
type CellResult struct {
	results.Cell
	Spec     CellSpec         `json:"spec"`
	Broker   Node             `json:"broker"`
	Fault    fault.Window     `json:"fault"`
	Findings Findings         `json:"findings"`
	Requests []Request        `json:"requests,omitempty"`
	Received []Delivery       `json:"received,omitempty"`
	Timeline observe.Timeline `json:"timeline,omitzero"`
}

// Summary is the cell without its bulk, for run.json.
func (r *CellResult) Summary() any {
	s := *r
	s.Requests, s.Received, s.Timeline = nil, nil, observe.Timeline{}
	return &s
}

// Node is the cell's own broker node, and what it cost.
//
// JSON: {"node": "wsgilab-1a2b3c4d@localhost", "amqp_port": 35123, "startup_ms": 6900,
// "stop_ms": 450, "rss_mb": 98.5, "log": ".../rabbitmq/log/....log"}
// rss_mb is the Erlang VM's resident memory once the traffic ended.
type Node struct {
	Node      string  `json:"node,omitempty"`
	AMQPPort  int     `json:"amqp_port,omitempty"`
	StartupMs float64 `json:"startup_ms,omitempty"`
	StopMs    float64 `json:"stop_ms,omitempty"`
	RSSMB     float64 `json:"rss_mb,omitempty"`
	Log       string  `json:"log,omitempty"`
}

// Marks in the timeline.
const (
	MarkTrafficStart = "traffic_start"
	MarkFaultStart   = "fault_start"
	MarkFaultEnd     = "fault_end"
	MarkTrafficEnd   = "traffic_end"
)

// settle is how long the cell keeps observing after the last response: the conductor's
// record and the logs of what the last requests did (a late delivery, a reconnect line) land
// within it, and the management API's 1 s statistics catch up.
const settle = time.Second

// Run runs the cells, Parallel at once, each on its own broker node.
func (p *Plan) Run(ctx context.Context, env *runner.Env, cells []runner.Cell, res []runner.CellResult) {
	env.EachCell(ctx, cells, res, p.Parallel, func(ctx context.Context, c runner.Cell, r runner.CellResult) {
		p.runCell(ctx, env, c, r.(*CellResult))
	})
}

// runCell runs one cell: its node, its stack, traffic around the fault, then the verdict.
// Everything it started is stopped, and the fault undone, before it returns.
func (p *Plan) runCell(ctx context.Context, env *runner.Env, c runner.Cell, res *CellResult) {
	dir := filepath.Join(env.Dir, c.ID)
	res.Dir = dir
	cenv, err := env.PrivateBroker(ctx, filepath.Join(dir, "broker"))
	if err != nil {
		res.Fail(err)
		return
	}
	b := cenv.Broker
	res.Broker = Node{Node: b.Node, AMQPPort: b.AMQPPort, StartupMs: runner.Millis(b.StartupTime), Log: b.LogPath}
	defer func() {
		t0 := time.Now()
		if err := b.Stop(); err != nil {
			res.Note("stopping the cell's broker node: %v", err)
		}
		res.Broker.StopMs = runner.Millis(time.Since(t0))
	}()

	o := c.Stack
	receivedPath := filepath.Join(dir, ReceivedFile)
	o.Env = append(slices.Clone(o.Env), "WSGILAB_RECEIVED_LOG="+receivedPath)
	s := cenv.StartStack(ctx, c, o, &res.Cell)
	if s == nil {
		return
	}
	defer s.Stop(ctx)

	vhost := s.Vhost.Name
	target := observe.Target{
		Cell: c.ID, Vhost: vhost, BrokerPort: b.AMQPPort,
		PIDs:      s.Server.PIDs,
		BrokerLog: b.LogPath,
		ClientLogs: []observe.LogFile{server.LogFile(s.Server),
			{Path: s.ConductorLog, Source: "conductor", Format: observe.FormatPython}},
	}
	target.Connections = func(ctx context.Context) ([]broker.Connection, error) { return b.Connections(ctx, vhost) }
	obs := observe.New(target)
	obsCtx, stopObs := context.WithCancel(context.WithoutCancel(ctx))
	obsDone := make(chan struct{})
	go func() { obs.Run(obsCtx); close(obsDone) }()

	f, err := fault.New(c.Spec.(CellSpec).Fault, fault.Target{Broker: b, ClientPorts: clientPorts(b.AMQPPort, s.Server.PIDs)})
	if err != nil {
		stopObs()
		<-obsDone
		res.Fail(err)
		return
	}

	tr := newTraffic(ctx, s.URL(), p.Rate, p.RequestTimeout)
	trCtx, stopTraffic := context.WithCancel(ctx)
	defer stopTraffic()
	start := time.Now()
	obs.Mark(MarkTrafficStart, start)
	go tr.run(trCtx, start)

	wait(ctx, time.Until(start.Add(p.Before)))
	if ctx.Err() == nil {
		res.Fault = fault.Run(ctx, res.Spec.Fault, f, p.FaultDuration, func(w fault.Window) {
			obs.Mark(MarkFaultStart, w.Start)
		})
		obs.Mark(MarkFaultEnd, res.Fault.End)
		p.waitRecovered(ctx, tr, Phases{FaultStart: res.Fault.Start, FaultEnd: res.Fault.End})
	}
	res.Broker.RSSMB = rssMB(b.VMPID())
	stopTraffic()
	obs.Mark(MarkTrafficEnd, time.Now())
	res.Requests = tr.wait()
	wait(ctx, settle)
	stopObs()
	<-obsDone
	res.Timeline = obs.Timeline()
	rec, err := readReceived(receivedPath)
	res.Received = rec
	switch {
	case ctx.Err() != nil:
		res.Fail(fmt.Errorf("interrupted: %w", ctx.Err()))
		return
	case err != nil:
		res.Fail(fmt.Errorf("reading the conductor's record: %w", err))
		return
	case res.Fault.Error != "":
		res.Fail(fmt.Errorf("the fault: %s", res.Fault.Error))
		return
	}
	res.judge()
}

// afterRecovery is how long the traffic goes on once the service has recovered: late deliveries
// of messages sent during the fault, and the client's and broker's last lines, land within it.
const afterRecovery = 5 * time.Second

// waitRecovered lets the traffic run after the fault until the service has recovered as the
// verdict judges it (every app process answered again, latency back for `sustained` windows)
// and afterRecovery more, or until After: a cell that recovers in two seconds does not wait the
// whole recovery window, one that does not recover (STUCK) still gets all of it.
func (p *Plan) waitRecovered(ctx context.Context, tr *traffic, ph Phases) {
	deadline := ph.FaultEnd.Add(p.After)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		rc := recovery(tr.completed(), ph)
		if rc.RecoverS != nil && rc.LatencyBackS != nil {
			back := ph.FaultEnd.Add(time.Duration(*rc.LatencyBackS * float64(time.Second)))
			if time.Now().After(back.Add(sustained*window + afterRecovery)) {
				return
			}
		}
		wait(ctx, min(500*time.Millisecond, time.Until(deadline)))
	}
}

func wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// clientPorts lists the local ports of the service's established connections to the broker,
// read from /proc when called (the reset fault calls it as it strikes).
func clientPorts(port int, pids func() []int) func() []int {
	return func() []int {
		v, _, err := observe.NewSockets(port, pids).Sample(context.Background(), time.Now())
		if err != nil {
			return nil
		}
		var out []int
		for _, s := range v.(*observe.SocketReading).Sockets {
			if s.State == "ESTABLISHED" {
				out = append(out, s.LocalPort)
			}
		}
		return out
	}
}

// rssMB is a process's resident memory in MB (0 when it cannot be read).
func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return float64(int(kb/1024*10)) / 10
		}
	}
	return 0
}
