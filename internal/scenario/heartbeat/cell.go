package heartbeat

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"wsgilab/internal/broker"
	"wsgilab/internal/observe"
	"wsgilab/internal/results"
	"wsgilab/internal/runner"
	"wsgilab/internal/server"
)

// CellResult is what one heartbeat cell produced. It is written as <out>/<cell id>.json;
// run.json carries it without its timeline.
//
// JSON: results.Cell's fields (id, vhost, dir, url, verdict, notes, ...) and
//
//	{"spec": runner.CellSpec,              mpm, mode, heartbeat, monkey_patch, tcp_keepalive, control
//	 "warmup", "probe": Traffic,           the two bursts, client side
//	 "status": {...},                      the fake app's /status after the probe (pid, heartbeat thread kind, ...)
//	 "findings": Findings,                 what the verdict rests on (verdict.go)
//	 "timeline": observe.Timeline}         every sample and matched log line (cell file only)
type CellResult struct {
	results.Cell
	Spec     runner.CellSpec  `json:"spec"`
	Warmup   Traffic          `json:"warmup"`
	Probe    Traffic          `json:"probe"`
	Status   json.RawMessage  `json:"status,omitempty"`
	Findings Findings         `json:"findings"`
	Timeline observe.Timeline `json:"timeline,omitzero"`

	// runtime is the app processes' observation at the end of the cell (patched.go), which
	// judge records in the findings.
	runtime []observe.Runtime
}

// Summary is the cell without its timeline, for run.json.
func (r *CellResult) Summary() any {
	s := *r
	s.Timeline = observe.Timeline{}
	return &s
}

// Phase marks in the timeline.
const (
	MarkWarmupEnd  = "warmup_end"
	MarkProbeStart = "probe_start"
	MarkProbeEnd   = "probe_end"
)

// Run runs the cells, Parallel at once.
func (p *Plan) Run(ctx context.Context, env *runner.Env, cells []runner.Cell, res []runner.CellResult) {
	env.EachCell(ctx, cells, res, p.Parallel, func(ctx context.Context, c runner.Cell, r runner.CellResult) {
		p.runCell(ctx, env, c, r.(*CellResult))
	})
}

// runCell runs the scenario on one cell and fills res; the cell's stack is stopped before it
// returns.
func (p *Plan) runCell(ctx context.Context, env *runner.Env, c runner.Cell, res *CellResult) {
	b := env.Broker
	var logOffset int64
	if b.LogPath != "" {
		if st, err := os.Stat(b.LogPath); err == nil {
			logOffset = st.Size()
		}
	}
	s := env.StartStack(ctx, c, c.Stack, &res.Cell)
	if s == nil {
		return
	}
	defer s.Stop(ctx)

	vhost := s.Vhost.Name
	target := observe.Target{
		Cell: c.ID, Vhost: vhost, BrokerPort: s.Vhost.AMQPPort,
		PIDs:            s.Server.PIDs,
		BrokerLog:       b.LogPath,
		BrokerLogOffset: logOffset,
		ClientLogs:      []observe.LogFile{server.LogFile(s.Server)},
	}
	if st := s.Server.StatusURL(); st != "" {
		target.StatusURL, target.SlotsPerProcess = st+"?auto", c.Stack.ThreadsPerChild
		if c.Stack.MPM == "prefork" {
			target.SlotsPerProcess = 0
		}
	}
	target.Connections = func(ctx context.Context) ([]broker.Connection, error) { return b.Connections(ctx, vhost) }
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
	res.Warmup = burst(ctx, s.URL(), *p, want)
	if len(res.Warmup.PIDs) < want {
		res.Note("the warm-up reached %d of %d app processes", len(res.Warmup.PIDs), want)
	}
	obs.Mark(MarkWarmupEnd, res.Warmup.Last)
	idleUntil := res.Warmup.Last.Add(p.Idle())
	select {
	case <-ctx.Done():
		res.Timeline = finishObs()
		res.Fail(fmt.Errorf("interrupted during the idle phase: %w", ctx.Err()))
		return
	case <-time.After(time.Until(idleUntil)):
	}
	obs.Mark(MarkProbeStart, time.Now())
	res.Probe = burst(ctx, s.URL(), *p, want)
	obs.Mark(MarkProbeEnd, res.Probe.Last)
	select {
	case <-ctx.Done():
	case <-time.After(p.Tail):
	}
	res.Timeline = finishObs()
	if s.FakeService {
		res.Status = appStatus(ctx, s.URL())
	}
	// The app processes' runtime, for PATCHED (patched.go): once their transient threads are
	// gone, which only a short heartbeat timeout (a short idle) makes the cell wait for.
	var pids []int
	for _, ap := range s.AppProcesses() {
		pids = append(pids, ap.PID)
	}
	loaded := appLoads(server.LogFile(s.Server), pids)
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(readyToRead(loaded, res.Warmup.PIDs, res.Warmup.Last))):
	}
	res.runtime = observeRuntime(loaded, pids)
	if ctx.Err() != nil {
		res.Fail(fmt.Errorf("interrupted: %w", ctx.Err()))
		return
	}
	res.judge()
}

// judge computes the verdict from what the cell's observer and bursts recorded.
func (r *CellResult) judge() {
	ph, err := PhasesFromTimeline(r.Timeline)
	if err != nil {
		r.Fail(err)
		return
	}
	obs := Observations{
		Timeline:      r.Timeline,
		WarmupP50Ms:   r.Warmup.P50Ms,
		ProbeMaxMs:    r.Probe.MaxMs,
		ProbeFailures: r.Probe.Errors + r.Probe.Non2xx,
		WarmPIDs:      r.Warmup.PIDs,
	}
	v := HeartbeatVerdict(obs, ph, r.Vhost)
	r.Verdict, r.Findings = v.Verdict, v.Findings
	r.Findings.Runtime = r.runtime
	r.Findings.Patched, r.Findings.PatchedBasis = judgePatched(r.Spec.Heartbeat, r.runtime,
		connectionsBeforeProbe(r.Timeline, ph.ProbeStart))
}

// appStatus fetches the fake service's /status (which process answers, its heartbeat thread
// kind, its connection); nil when it does not answer with JSON.
func appStatus(ctx context.Context, url string) json.RawMessage {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/status", nil)
	if err != nil {
		return nil
	}
	resp, err := server.NewClient(0).Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || !json.Valid(b) {
		return nil
	}
	return b
}
