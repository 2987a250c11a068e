package lab

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wsgilab/internal/proc"
	"wsgilab/internal/scenario"
	"wsgilab/internal/stack"
	"wsgilab/internal/testsupport"
)

// The heartbeat scenario on the real stack: a green heartbeat (eventlet monkey-patched) under
// prefork/embedded and under event/daemon, and their pthread twins, on one private broker.
// What each verdict says must be backed by what the broker and the client logged.
func TestHeartbeatScenarioOnRealStack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	b := testsupport.Broker(t, ctx)

	plan := DefaultHeartbeatPlan()
	plan.Timeout = 2
	out := t.TempDir()
	work := testsupport.Dir(t)
	cells := []CellSpec{
		{MPM: "prefork", Mode: "embedded", Heartbeat: "green", MonkeyPatch: true},
		{MPM: "prefork", Mode: "embedded", Heartbeat: "pthread", MonkeyPatch: true},
		{MPM: "event", Mode: "daemon", Heartbeat: "green", MonkeyPatch: true},
		{MPM: "event", Mode: "daemon", Heartbeat: "pthread", MonkeyPatch: true},
	}
	res, err := Run(ctx, Options{Scenario: "heartbeat", Cells: cells, Heartbeat: plan, Parallel: 4,
		OutDir: out, Broker: b, WorkDir: work, Progress: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Cells) != 4 {
		t.Fatalf("%d cells", len(res.Cells))
	}
	for _, c := range res.Cells {
		v := c.Verdict
		t.Logf("%s: %s (%s) notes=%v", c.Spec.ID, v.Kind, v.Reason, c.Notes)
		if c.AppProcesses != 2 || len(c.Warmup.PIDs) != 2 || len(c.Probe.PIDs) != 2 {
			t.Errorf("%s: bursts must reach both app processes: app=%d warm-up=%v probe=%v", c.Spec.ID,
				c.AppProcesses, c.Warmup.PIDs, c.Probe.PIDs)
		}
		if v.ConnsBefore < 2 {
			t.Errorf("%s: %d connections before the idle, want one per app process at least", c.Spec.ID, v.ConnsBefore)
		}
		if v.Heartbeat == nil || *v.Heartbeat != 2 {
			t.Errorf("%s: negotiated heartbeat %v, want 2", c.Spec.ID, v.Heartbeat)
		}
		switch c.Spec.Heartbeat {
		case "green":
			if v.Kind != scenario.VerdictDropped {
				t.Errorf("%s: verdict %s, want DROPPED", c.Spec.ID, v.Kind)
				continue
			}
			if v.MissedHeartbeats < 1 || v.TimeToDropSeconds == nil {
				t.Errorf("%s: missed=%d time-to-drop=%v", c.Spec.ID, v.MissedHeartbeats, v.TimeToDropSeconds)
			} else if d := *v.TimeToDropSeconds; d <= 0 || d > plan.Idle().Seconds() {
				t.Errorf("%s: time to drop %.1fs outside the idle (0, %.0fs]", c.Spec.ID, d, plan.Idle().Seconds())
			}
			// The evidence: the broker's own close for missed heartbeats, of this cell's
			// vhost, naming a connection of this cell's app processes.
			found := false
			for _, e := range v.Evidence {
				if e.Source == "broker" && e.Rule == "missed_heartbeats" {
					found = true
					if e.Fields.Vhost != "" && e.Fields.Vhost != c.Vhost {
						t.Errorf("%s: evidence from vhost %q", c.Spec.ID, e.Fields.Vhost)
					}
					if !strings.Contains(e.Line, "missed heartbeats from client, timeout: 2s") {
						t.Errorf("%s: evidence line %q", c.Spec.ID, e.Line)
					}
				}
			}
			if !found {
				t.Errorf("%s: no broker missed_heartbeats line in the evidence: %+v", c.Spec.ID, v.Evidence)
			}
			if v.ProbeExtraLatencyMs < 100 && v.ClientErrors == 0 {
				t.Errorf("%s: a dropped connection cost the probe nothing and the client logged nothing", c.Spec.ID)
			}
		case "pthread":
			if v.Kind != scenario.VerdictStable || v.MissedHeartbeats != 0 || v.Reconnects != 0 || v.ConnsAfter != v.ConnsBefore {
				t.Errorf("%s: verdict %s missed=%d reconnects=%d conns %d->%d, want STABLE with every connection kept",
					c.Spec.ID, v.Kind, v.MissedHeartbeats, v.Reconnects, v.ConnsBefore, v.ConnsAfter)
			}
		}
		if len(c.Timeline.Ticks) < int(plan.Idle()/time.Second) {
			t.Errorf("%s: only %d samples in the timeline", c.Spec.ID, len(c.Timeline.Ticks))
		}
	}

	// The files: run.json without timelines, each cell's with its own.
	var summary RunResult
	readJSON(t, filepath.Join(out, "run.json"), &summary)
	if len(summary.Cells) != 4 || len(summary.Cells[0].Timeline.Ticks) != 0 {
		t.Errorf("run.json: %d cells, %d ticks in the first", len(summary.Cells), len(summary.Cells[0].Timeline.Ticks))
	}
	var cell CellResult
	readJSON(t, filepath.Join(out, cells[0].ID+".json"), &cell)
	if cell.Verdict.Kind != res.Cells[0].Verdict.Kind || len(cell.Timeline.Ticks) == 0 {
		t.Errorf("%s.json: verdict %s, %d ticks", cells[0].ID, cell.Verdict.Kind, len(cell.Timeline.Ticks))
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, work)
}

// A user's app that raises at import: the cell is ERROR with the exception, and the run goes on.
func TestHeartbeatCellWithBrokenApp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := testsupport.Dir(t)
	app := filepath.Join(dir, "broken.wsgi")
	if err := os.WriteFile(app, []byte("raise ImportError('No module named novaclient (wsgilab test)')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	work := testsupport.Dir(t)
	res, err := Run(ctx, Options{Scenario: "heartbeat", WorkDir: work, Parallel: 1, Heartbeat: DefaultHeartbeatPlan(),
		Cells: []CellSpec{{MPM: "prefork", Mode: "embedded", Heartbeat: "green", MonkeyPatch: true}},
		Base:  stack.Options{AppPath: app}})
	if err != nil {
		t.Fatal(err)
	}
	v := res.Cells[0].Verdict
	if v.Kind != scenario.VerdictError || !strings.Contains(v.Reason, "novaclient") {
		t.Fatalf("verdict %s %q, want ERROR naming the import error", v.Kind, v.Reason)
	}
	assertNothingLeft(t, work)
}

// testLog sends the run's progress lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// assertNothingLeft: no process started by the run is registered, and its run directory
// (under work) is gone.
func assertNothingLeft(t *testing.T, work string) {
	t.Helper()
	if left := proc.Running(); len(left) > 0 {
		for _, p := range left {
			t.Errorf("still running: %s pid %d members %v", p.Name, p.PID, p.Members())
		}
	}
	entries, _ := os.ReadDir(work)
	for _, e := range entries {
		t.Errorf("left in the work dir: %s", e.Name())
	}
}
