package lab

import (
	"context"
	"fmt"
	"os"
	"time"

	"wsgilab/internal/broker"
	"wsgilab/internal/observe"
	"wsgilab/internal/stack"
)

// HeartbeatPlan is the shape of the heartbeat scenario: warm-up traffic that reaches every
// service process, an idle long enough for a broker to give up on a silent client, probe
// traffic that again reaches every process, and a short tail for late evidence.
type HeartbeatPlan struct {
	// Timeout is the client's heartbeat_timeout_threshold in seconds (the broker negotiates
	// the smaller of the two, its own default being 60). Short so a cell takes seconds.
	Timeout int
	// Rate is oslo.messaging's heartbeat_rate (checks per timeout); 0 = its default, 2.
	Rate int
	// IdleFactor times Timeout is the idle; the broker closes a silent connection between 2
	// and 3 timeouts after its last data, so 3 plus a margin is needed to see every drop.
	IdleFactor float64
	// Paths are the endpoints that use the broker, loaded at once. The fake service's /cast
	// sends on a pooled connection, which carries the heartbeat. Not /call by default: with
	// eventlet, a green heartbeat and more than one thread per process, oslo.messaging's reply
	// listener lives in the hub of the thread that made the first call, and calls from other
	// threads wait for their timeout (see apps/fakeservice/README.md). A user app (--app)
	// names its own (--path).
	Paths []string
	// BurstLimit bounds one warm-up or probe burst, so a service that hangs cannot hang the
	// cell; a request is abandoned after RequestTimeout.
	BurstLimit, RequestTimeout time.Duration
	// Concurrency of the warm-up and probe bursts; they stop once every service process has
	// answered (and MinRequests completed), or after MaxRequests.
	Concurrency, MinRequests, MaxRequests int
	// Tail is the wait after the probe, so that the broker's close and the client's log lines
	// written just after it (and the management API's 1 s statistics) are seen.
	Tail time.Duration
}

// DefaultHeartbeatPlan takes about 20 s per cell: a 3 s heartbeat, so a 10.5 s idle, which
// covers the broker's close (2-3 timeouts after the last data) with 1.5 s to spare.
func DefaultHeartbeatPlan() HeartbeatPlan {
	return HeartbeatPlan{Timeout: 3, IdleFactor: 3.5, Paths: []string{"/cast"}, BurstLimit: 30 * time.Second, RequestTimeout: 15 * time.Second, Concurrency: 4, MinRequests: 8,
		MaxRequests: 200, Tail: 2 * time.Second}
}

// Idle is how long the service gets no traffic.
func (p HeartbeatPlan) Idle() time.Duration {
	return time.Duration(p.IdleFactor * float64(p.Timeout) * float64(time.Second))
}

// Validate rejects plans that cannot show a drop.
func (p HeartbeatPlan) Validate() error {
	switch {
	case p.Timeout < 1:
		return fmt.Errorf("--heartbeat-timeout=%d: must be >= 1 s", p.Timeout)
	case p.IdleFactor < 3:
		return fmt.Errorf("--idle-factor=%g: must be >= 3 (the broker closes 2-3 timeouts after the last data)", p.IdleFactor)
	case len(p.Paths) == 0:
		return fmt.Errorf("no path to send traffic to")
	case p.Concurrency < 1 || p.MaxRequests < 1:
		return fmt.Errorf("concurrency and requests must be >= 1")
	}
	return nil
}

// cellKnobs sizes the stack of a heartbeat cell so that every configuration has a small,
// fixed number of processes running the app (two), which the warm-up can reach for certain:
// prefork with no spare-server churn, worker/event with two children, daemon mode with the
// user's processes x threads.
func cellKnobs(o stack.Options, spec CellSpec) stack.Options {
	o.MPM, o.Mode, o.Heartbeat = spec.MPM, spec.Mode, spec.Heartbeat
	o.MonkeyPatch = spec.MonkeyPatch
	if spec.TCPKeepalive && o.TCPKeepalive == 0 {
		o.TCPKeepalive = 5
	}
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

// appRole is the apache.Process role of the processes that run the app in a mod_wsgi mode.
func appRole(mode string) string {
	if mode == "daemon" {
		return "wsgi-daemon"
	}
	return "child"
}

// appProcesses counts the processes of a running cell that execute the app: the MPM children
// in embedded mode, the mod_wsgi daemon processes in daemon mode.
func appProcesses(c *stack.Cell) int {
	role := appRole(c.Options.Mode)
	n := 0
	for _, p := range c.Apache.Processes() {
		if p.Role == role {
			n++
		}
	}
	return n
}

// heartbeatCell runs the heartbeat scenario on one cell and fills res; the cell's stack is
// stopped before it returns.
func heartbeatCell(ctx context.Context, b *broker.Broker, vhost *broker.Vhost, dir string, base stack.Options,
	plan HeartbeatPlan, res *CellResult) {
	o := cellKnobs(base, res.Spec)
	o.HeartbeatTimeout, o.HeartbeatRate = plan.Timeout, plan.Rate
	if res.Spec.Heartbeat == "off" {
		o.HeartbeatTimeout = 0
	}
	var logOffset int64
	if b.LogPath != "" {
		if st, err := os.Stat(b.LogPath); err == nil {
			logOffset = st.Size()
		}
	}
	c := res.startStack(ctx, dir, vhost, o)
	if c == nil {
		return
	}
	defer res.stopStack(c)

	target := observe.Target{
		Cell: res.Spec.ID, Vhost: vhost.Name, BrokerPort: vhost.AMQPPort,
		PIDs:            c.Apache.PIDs,
		BrokerLog:       b.LogPath,
		BrokerLogOffset: logOffset,
		ClientLogs:      []observe.LogFile{{Path: c.Apache.ErrorLog(), Source: "apache", Format: observe.FormatApache}},
		StatusURL:       c.Apache.StatusURL() + "?auto",
		SlotsPerProcess: o.ThreadsPerChild,
	}
	if o.MPM == "prefork" {
		target.SlotsPerProcess = 0
	}
	target.Connections = func(ctx context.Context) ([]observe.BrokerConnection, error) {
		conns, err := b.Connections(ctx, vhost.Name)
		if err != nil {
			return nil, err
		}
		out := make([]observe.BrokerConnection, 0, len(conns))
		for _, bc := range conns {
			out = append(out, fromBroker(bc))
		}
		return out, nil
	}
	obs := observe.New(target)
	obsCtx, stopObs := context.WithCancel(context.WithoutCancel(ctx))
	obsDone := make(chan struct{})
	go func() { obs.Run(obsCtx); close(obsDone) }()
	finishObs := func() observe.Timeline {
		stopObs()
		<-obsDone
		return obs.Timeline()
	}

	want := res.AppProcesses
	res.Warmup = burst(ctx, c.URL(), plan, want)
	if len(res.Warmup.PIDs) < want {
		res.Notes = append(res.Notes, fmt.Sprintf("the warm-up reached %d of %d app processes", len(res.Warmup.PIDs), want))
	}
	obs.Mark(MarkWarmupEnd, res.Warmup.Last)
	idleUntil := res.Warmup.Last.Add(plan.Idle())
	select {
	case <-ctx.Done():
		res.Timeline = finishObs()
		res.fail(fmt.Errorf("interrupted during the idle phase: %w", ctx.Err()))
		return
	case <-time.After(time.Until(idleUntil)):
	}
	obs.Mark(MarkProbeStart, time.Now())
	res.Probe = burst(ctx, c.URL(), plan, want)
	obs.Mark(MarkProbeEnd, res.Probe.Last)
	select {
	case <-ctx.Done():
	case <-time.After(plan.Tail):
	}
	res.Timeline = finishObs()
	res.Status = statusFromApp(ctx, c)
	if ctx.Err() != nil {
		res.fail(fmt.Errorf("interrupted: %w", ctx.Err()))
		return
	}
	res.judgeHeartbeat()
}

// Phase marks in the timeline.
const (
	MarkWarmupEnd  = "warmup_end"
	MarkProbeStart = "probe_start"
	MarkProbeEnd   = "probe_end"
)

// fromBroker adapts the broker package's connection record to the observe probe's.
func fromBroker(bc broker.Connection) observe.BrokerConnection {
	return observe.BrokerConnection{
		Name: bc.Name, ClientName: bc.ClientName, Vhost: bc.Vhost, User: bc.User,
		ClientPort: bc.PeerPort, State: bc.State, Heartbeat: int(bc.Heartbeat / time.Second),
		ConnectedAt: bc.ConnectedAt, RecvOct: bc.RecvOct, SendOct: bc.SendOct, Channels: bc.Channels,
	}
}
