package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"
	"wsgilab/internal/apache"

	"wsgilab/internal/broker"
	"wsgilab/internal/observe"
	"wsgilab/internal/scenario"
	"wsgilab/internal/stack"
	"wsgilab/internal/stats"
)

// CellResult is everything one cell produced. It is written as <out>/<cell id>.json.
//
// JSON:
//
//	{"spec": CellSpec,                      the configuration (mpm, mode, heartbeat, monkey_patch, ...)
//	 "vhost": "wsgilab-...-prefork-...",    the broker vhost the cell's connections live in
//	 "dir": "/tmp/wsgilab-run-.../cell",    the cell's run directory (kept with --keep)
//	 "url": "http://127.0.0.1:PORT",        the service while it ran
//	 "loaded_mpm": "mpm_prefork_module (shared)",
//	 "error_log", "access_log": paths,
//	 "startup_ms", "teardown_ms",           from nothing to serving /call; stop until every PID was gone
//	 "app_processes": 2,                    processes running the app (MPM children or mod_wsgi daemons)
//	 "warmup", "probe": Traffic,            the two bursts, client side
//	 "status": {...},                       the app's /status after the probe (pid, heartbeat thread kind, ...)
//	 "verdict": Verdict,                    see scenario.Verdict
//	 "timeline": observe.Timeline,          every sample and matched log line
//	 "notes": ["..."],                      anything that went wrong around the measurement
//	 "spikes": SpikesResult,                spikes scenario only (spikes.go)
//	 "cell": "prefork-embedded-green",      throughput scenario only: the cell's id and its
//	 "metrics": [stats.Series, ...],        series, one value per measured run (req/s, p50, p99),
//	                                        where `wsgilab compare run.json` reads them
//	 "throughput": ThroughputCell}          throughput scenario only (throughput.go)
//
// In the spikes and throughput scenarios the heartbeat fields (warmup, probe, status,
// timeline) stay empty and the verdict's kind is MEASURED (or ERROR) with a one-line reason;
// the figures are in "spikes" / "throughput".
type CellResult struct {
	Spec         CellSpec         `json:"spec"`
	Vhost        string           `json:"vhost"`
	Dir          string           `json:"dir"`
	URL          string           `json:"url,omitempty"`
	LoadedMPM    string           `json:"loaded_mpm,omitempty"`
	ErrorLog     string           `json:"error_log,omitempty"`
	AccessLog    string           `json:"access_log,omitempty"`
	StartupMs    float64          `json:"startup_ms"`
	TeardownMs   float64          `json:"teardown_ms"`
	AppProcesses int              `json:"app_processes"`
	Warmup       Traffic          `json:"warmup"`
	Probe        Traffic          `json:"probe"`
	Status       json.RawMessage  `json:"status,omitempty"`
	Verdict      Verdict          `json:"verdict"`
	Timeline     observe.Timeline `json:"timeline"`
	Notes        []string         `json:"notes,omitempty"`
	Elapsed      float64          `json:"elapsed_s"`

	Spikes     *SpikesResult   `json:"spikes,omitempty"`
	Cell       string          `json:"cell,omitempty"`
	Metrics    []stats.Series  `json:"metrics,omitempty"`
	Throughput *ThroughputCell `json:"throughput,omitempty"`
}

// startStack brings the cell's stack up in dir and records in r its start-up time, URL, loaded
// MPM, log paths and app processes. When it fails, r is an ERROR whose reason is the first line
// of the error (which names the app's exception when the app failed to load) and the cell is nil.
func (r *CellResult) startStack(ctx context.Context, dir string, vhost *broker.Vhost, o stack.Options) *stack.Cell {
	began := time.Now()
	c, err := stack.Start(ctx, filepath.Join(dir, "stack"), vhost, o)
	r.StartupMs = ms(time.Since(began))
	if err != nil {
		r.fail(fmt.Errorf("setup failed: %w", err))
		return nil
	}
	r.URL, r.LoadedMPM = c.URL(), c.Apache.LoadedMPM()
	r.ErrorLog, r.AccessLog = c.Apache.ErrorLog(), c.Apache.AccessLog()
	r.AppProcesses = appProcesses(c)
	return c
}

// stopStack stops the cell's stack and records how long that took.
func (r *CellResult) stopStack(c *stack.Cell) {
	t0 := time.Now()
	if err := c.Stop(); err != nil {
		r.Notes = append(r.Notes, "teardown: "+err.Error())
	}
	r.TeardownMs = ms(time.Since(t0))
}

func (r *CellResult) fail(err error) {
	r.Verdict = Verdict{Kind: VerdictError, Reason: firstLine(err.Error())}
	r.Notes = append(r.Notes, err.Error())
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// statusFromApp fetches the fake service's /status (which process answers, its heartbeat
// thread kind, its connection); nil for a user app without one.
func statusFromApp(ctx context.Context, c *stack.Cell) json.RawMessage {
	if !c.FakeService {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", c.URL()+"/status", nil)
	if err != nil {
		return nil
	}
	resp, err := apache.NewClient(0).Do(req)
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

// Verdict is the heartbeat verdict (see scenario.Verdict for its JSON).
type Verdict = scenario.Verdict

// VerdictError is the verdict of a cell that could not be measured.
const VerdictError = scenario.VerdictError

// judgeHeartbeat computes the verdict from what the cell's observer and bursts recorded.
func (r *CellResult) judgeHeartbeat() {
	ph, err := scenario.PhasesFromTimeline(r.Timeline)
	if err != nil {
		r.fail(err)
		return
	}
	obs := scenario.Observations{
		Timeline:      r.Timeline,
		WarmupP50Ms:   r.Warmup.P50Ms,
		ProbeMaxMs:    r.Probe.MaxMs,
		ProbeFailures: r.Probe.Errors + r.Probe.Non2xx,
		WarmPIDs:      r.Warmup.PIDs,
	}
	r.Verdict = scenario.HeartbeatVerdict(obs, ph, r.Vhost)
}
