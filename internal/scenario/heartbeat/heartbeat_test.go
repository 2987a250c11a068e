package heartbeat

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"wsgilab/internal/results"
	"wsgilab/internal/runner"
	"wsgilab/internal/runner/runnertest"
	"wsgilab/internal/stack"
	"wsgilab/internal/testsupport"
)

// The real-stack tests share one private RabbitMQ node; a machine without the stack fails them.
func TestMain(m *testing.M) { os.Exit(testsupport.Main(m)) }

// The real-stack runs of the scenario, side by side on the shared broker (most of a cell is
// waiting), and nothing left behind when they are done.
func TestHeartbeatOnRealStack(t *testing.T) {
	work := testsupport.Dir(t)
	t.Run("runs", func(t *testing.T) {
		t.Run("matrix", func(t *testing.T) { t.Parallel(); testMatrix(t, work) })
		t.Run("shards", func(t *testing.T) { t.Parallel(); testShards(t, work) })
		t.Run("servers", func(t *testing.T) { t.Parallel(); testServers(t, work) })
	})
	testsupport.AssertNothingLeft(t, work)
}

// A green heartbeat (eventlet monkey-patched) under prefork/embedded and under event/daemon,
// their pthread twins, and the same app not monkey-patched. What each verdict says must be
// backed by what the broker and the client logged; the PATCHED column is observed from /proc:
// yes where the app patched, no where it did not, the requested setting (said so) with a
// native heartbeat, where threads cannot tell.
func testMatrix(t *testing.T, work string) {
	plan := DefaultPlan()
	plan.Timeout, plan.Parallel = 2, 5
	plan.Specs = []runner.CellSpec{
		{MPM: "prefork", Mode: "embedded", Heartbeat: "green", MonkeyPatch: true},
		{MPM: "prefork", Mode: "embedded", Heartbeat: "pthread", MonkeyPatch: true},
		{MPM: "event", Mode: "daemon", Heartbeat: "green", MonkeyPatch: true},
		{MPM: "event", Mode: "daemon", Heartbeat: "pthread", MonkeyPatch: true},
		{MPM: "prefork", Mode: "embedded", Heartbeat: "green", MonkeyPatch: false, Control: "no eventlet.monkey_patch()"},
	}
	out := t.TempDir()
	outcome := runnertest.Run(t, Scenario{}.Name(), &plan, runner.Options{OutDir: out, WorkDir: work})
	if len(outcome.Cells) != 5 {
		t.Fatalf("%d cells", len(outcome.Cells))
	}
	for _, r := range outcome.Cells {
		c := r.(*CellResult)
		v := c.Findings
		t.Logf("%s: %s (%s) notes=%v", c.ID, c.Verdict.Kind, c.Verdict.Reason, c.Notes)
		if c.AppProcesses != 2 || len(c.Warmup.PIDs) != 2 || len(c.Probe.PIDs) != 2 {
			t.Errorf("%s: bursts must reach both app processes: app=%d warm-up=%+v probe=%+v", c.ID,
				c.AppProcesses, c.Warmup, c.Probe)
		}
		if v.ConnsBefore < 2 {
			t.Errorf("%s: %d connections before the idle, want one per app process at least", c.ID, v.ConnsBefore)
		}
		if v.Heartbeat == nil || *v.Heartbeat != 2 {
			t.Errorf("%s: negotiated heartbeat %v, want 2", c.ID, v.Heartbeat)
		}
		t.Logf("%s: patched %q (%s); runtime %+v", c.ID, v.Patched, v.PatchedBasis, v.Runtime)
		wantPatched := map[bool]string{true: "yes", false: "no"}[c.Spec.MonkeyPatch]
		if c.Spec.Heartbeat != "green" {
			wantPatched = ""
		}
		if v.Patched != wantPatched || len(v.Runtime) != 2 || !v.Runtime[0].Eventlet {
			t.Errorf("%s: patched %q, want %q, from eventlet in both app processes: %+v", c.ID, v.Patched, wantPatched, v.Runtime)
		}
		switch {
		case c.Spec.Heartbeat == "green" && c.Spec.MonkeyPatch:
			if c.Verdict.Kind != Dropped {
				t.Errorf("%s: verdict %s, want DROPPED", c.ID, c.Verdict.Kind)
				continue
			}
			if v.MissedHeartbeats < 1 || v.TimeToDropSeconds == nil {
				t.Errorf("%s: missed=%d time-to-drop=%v", c.ID, v.MissedHeartbeats, v.TimeToDropSeconds)
			} else if d := *v.TimeToDropSeconds; d <= 0 || d > plan.Idle().Seconds() {
				t.Errorf("%s: time to drop %.1fs outside the idle (0, %.0fs]", c.ID, d, plan.Idle().Seconds())
			}
			// The evidence: the broker's own close for missed heartbeats, of this cell's
			// vhost, naming a connection of this cell's app processes.
			found := false
			for _, e := range v.Evidence {
				if e.Source == "broker" && e.Rule == "missed_heartbeats" {
					found = true
					if e.Fields.Vhost != "" && e.Fields.Vhost != c.Vhost {
						t.Errorf("%s: evidence from vhost %q", c.ID, e.Fields.Vhost)
					}
					if !strings.Contains(e.Line, "missed heartbeats from client, timeout: 2s") {
						t.Errorf("%s: evidence line %q", c.ID, e.Line)
					}
				}
			}
			if !found {
				t.Errorf("%s: no broker missed_heartbeats line in the evidence: %+v", c.ID, v.Evidence)
			}
			if v.ProbeExtraLatencyMs < 100 && v.ClientErrors == 0 {
				t.Errorf("%s: a dropped connection cost the probe nothing and the client logged nothing", c.ID)
			}
		default: // a native heartbeat: pthread, or green without the monkey patch
			if c.Verdict.Kind != Stable || v.MissedHeartbeats != 0 || v.Reconnects != 0 || v.ConnsAfter != v.ConnsBefore {
				t.Errorf("%s: verdict %s missed=%d reconnects=%d conns %d->%d, want STABLE with every connection kept",
					c.ID, c.Verdict.Kind, v.MissedHeartbeats, v.Reconnects, v.ConnsBefore, v.ConnsAfter)
			}
		}
		if len(c.Timeline.Ticks) < int(plan.Idle()/time.Second) {
			t.Errorf("%s: only %d samples in the timeline", c.ID, len(c.Timeline.Ticks))
		}
	}

	// The files: run.json without timelines, each cell's with its own; the table printed from
	// run.json names every cell with its verdict.
	run, err := results.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	summary, err := results.Decode[CellResult](run, nil)
	if err != nil || len(summary) != 5 || len(summary[0].Timeline.Ticks) != 0 {
		t.Fatalf("run.json: %v, %d cells", err, len(summary))
	}
	first := outcome.Cells[0].(*CellResult)
	var cell CellResult
	testsupport.ReadJSON(t, filepath.Join(out, results.CellFile(first.ID)), &cell)
	if cell.Verdict.Kind != first.Verdict.Kind || len(cell.Timeline.Ticks) == 0 {
		t.Errorf("%s.json: verdict %s, %d ticks", first.ID, cell.Verdict.Kind, len(cell.Timeline.Ticks))
	}
	var text strings.Builder
	if err := (Scenario{}).WriteText(&text, run); err != nil {
		t.Fatal(err)
	}
	for _, r := range outcome.Cells {
		c := r.(*CellResult)
		if !strings.Contains(text.String(), c.ID+": "+c.Verdict.Kind+" — ") {
			t.Errorf("the table lacks %s's verdict:\n%s", c.ID, text.String())
		}
		row := text.String()[strings.Index(text.String(), "\n"+c.ID+" "):]
		row = row[:strings.Index(row[1:], "\n")+1]
		if want := patchedColumn(*c); !strings.Contains(row, " "+want+" ") {
			t.Errorf("%s's row lacks PATCHED %q: %s", c.ID, want, row)
		}
	}
}

// --shard 1/2 and --shard 2/2 of prefork x embedded,daemon x green,pthread, run side by side
// and merged: the merged run has the four cells in the matrix's order, each with the verdict the
// unsharded run gives it (green DROPPED, pthread STABLE: testMatrix and every recorded run), and
// the table printed from it lists them in that order.
func testShards(t *testing.T, work string) {
	plan := DefaultPlan()
	plan.Timeout, plan.Parallel = 2, 2
	plan.Matrix = runner.Matrix{MPMs: []string{"prefork"}, Modes: []string{"embedded", "daemon"}, Heartbeats: []string{"green", "pthread"}}
	matrix := []string{"prefork-embedded-green", "prefork-embedded-pthread", "prefork-daemon-green", "prefork-daemon-pthread"}
	dirs := []string{filepath.Join(t.TempDir(), "shard-1"), filepath.Join(t.TempDir(), "shard-2")}
	// Side by side, as on two machines; each shard is a run of its own (its own run directory
	// and vhosts; here the shared broker stands in for each machine's private one).
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	b := testsupport.SharedBroker(t)
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i := range dirs {
		wg.Go(func() {
			_, errs[i] = runner.Run(ctx, Scenario{}.Name(), &plan, runner.Options{OutDir: dirs[i], WorkDir: work,
				Broker: b, Shard: runner.Shard{Index: i + 1, Count: 2}})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("shard %d/2: %v", i+1, err)
		}
	}
	for i, d := range dirs {
		run, err := results.Load(d)
		if err != nil {
			t.Fatal(err)
		}
		if ids, _ := run.CellIDs(); len(ids) != 2 || ids[0] != matrix[i] || ids[1] != matrix[i+2] {
			t.Errorf("shard %d/2 ran %v", i+1, ids)
		}
	}
	merged, err := runner.Merge(dirs, filepath.Join(t.TempDir(), "merged"))
	if err != nil {
		t.Fatal(err)
	}
	cells, err := results.Decode[CellResult](merged, nil)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	if err := (Scenario{}).WriteText(&text, merged); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text.String())
	if len(cells) != 4 {
		t.Fatalf("merged %d cells", len(cells))
	}
	last := -1
	for i, c := range cells {
		want := Stable
		if c.Spec.Heartbeat == "green" {
			want = Dropped
		}
		if c.ID != matrix[i] || c.Verdict.Kind != want {
			t.Errorf("merged cell %d: %s %s, want %s %s", i, c.ID, c.Verdict.Kind, matrix[i], want)
		}
		row := strings.Index(text.String(), "\n"+c.ID+" ")
		if row <= last {
			t.Errorf("the merged table does not list %s in matrix order", c.ID)
		}
		last = row
	}
}

// A user's app that raises at import: the cell is ERROR with the exception, its directory is kept
// for the log its reason names, and the run goes on.
func TestHeartbeatCellWithBrokenApp(t *testing.T) {
	dir := testsupport.Dir(t)
	app := filepath.Join(dir, "broken.wsgi")
	if err := os.WriteFile(app, []byte("raise ImportError('No module named novaclient (wsgilab test)')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	work := testsupport.Dir(t)
	plan := DefaultPlan()
	plan.Parallel, plan.Base = 1, stack.Options{AppPath: app}
	plan.Specs = []runner.CellSpec{{MPM: "prefork", Mode: "embedded", Heartbeat: "green", MonkeyPatch: true}}
	outcome := runnertest.Run(t, Scenario{}.Name(), &plan, runner.Options{WorkDir: work})
	c := outcome.Cells[0].Base()
	v := c.Verdict
	if v.Kind != results.Error || !strings.Contains(v.Reason, "novaclient") {
		t.Fatalf("verdict %s %q, want ERROR naming the import error", v.Kind, v.Reason)
	}
	// The reason points at the cell's error log: the cell's directory outlives the run.
	_, logPath, ok := strings.Cut(v.Reason, "see ")
	logPath = strings.TrimRight(logPath, ")")
	if !ok || len(outcome.Kept) != 1 || outcome.Kept[0] != c.Dir || !strings.HasPrefix(logPath, c.Dir) {
		t.Fatalf("kept %v, cell dir %s, reason %q: want the cell's directory kept, holding the log the reason names", outcome.Kept, c.Dir, v.Reason)
	}
	if b, err := os.ReadFile(logPath); err != nil || !strings.Contains(string(b), "novaclient") {
		t.Errorf("the log the reason names: %v, holds the exception: %v", err, strings.Contains(string(b), "novaclient"))
	}
	os.RemoveAll(filepath.Dir(c.Dir))
	testsupport.AssertNothingLeft(t, work)
}

// The same service under uWSGI and gunicorn: uWSGI without Python threads starves even the
// native heartbeat thread (the cell drops, and uWSGI's own startup line says threads are off),
// with them the native heartbeat keeps the connections; gunicorn's sync worker waits for
// connections in eventlet's patched select, so the hub runs and even the green heartbeat does.
func testServers(t *testing.T, work string) {
	plan := DefaultPlan()
	plan.Timeout, plan.Parallel = 2, 3
	plan.Specs = []runner.CellSpec{
		{Server: "uwsgi", Threads: false, Heartbeat: "pthread", MonkeyPatch: true},
		{Server: "uwsgi", Threads: true, Heartbeat: "pthread", MonkeyPatch: true},
		{Server: "gunicorn", Worker: "sync", Heartbeat: "green", MonkeyPatch: true},
	}
	out := t.TempDir()
	outcome := runnertest.Run(t, Scenario{}.Name(), &plan, runner.Options{OutDir: out, WorkDir: work})
	want := map[string]string{"uwsgi-nothreads-pthread": Dropped, "uwsgi-threads-pthread": Stable, "gunicorn-sync-green": Stable}
	for _, r := range outcome.Cells {
		c := r.(*CellResult)
		t.Logf("%s (%s): %s (%s)", c.ID, c.Loaded, c.Verdict.Kind, c.Verdict.Reason)
		if c.Verdict.Kind != want[c.ID] {
			t.Errorf("%s: %s, want %s", c.ID, c.Verdict.Kind, want[c.ID])
		}
		if c.AppProcesses != 2 || len(c.Warmup.PIDs) != 2 || c.Server != c.Spec.Server {
			t.Errorf("%s: server %q, %d app processes, warm-up reached %v", c.ID, c.Server, c.AppProcesses, c.Warmup.PIDs)
		}
		// PATCHED is observed under every server: gunicorn's green cell started no native
		// heartbeat thread ("yes"); a native heartbeat cannot tell ("", the requested setting).
		if wantPatched := map[string]string{"green": "yes", "pthread": ""}[c.Spec.Heartbeat]; c.Findings.Patched != wantPatched {
			t.Errorf("%s: patched %q (%s), want %q: %+v", c.ID, c.Findings.Patched, c.Findings.PatchedBasis, wantPatched, c.Findings.Runtime)
		}
		if c.Spec.Server == "uwsgi" && !strings.Contains(c.Loaded, map[bool]string{true: "Python threads on", false: "Python threads off"}[c.Spec.Threads]) {
			t.Errorf("%s: uWSGI's own account %q does not say whether Python threads run", c.ID, c.Loaded)
		}
	}
	// The dropped uWSGI cell's evidence is the broker's close and the app's own lines in uWSGI's log.
	drop := outcome.Cells[0].(*CellResult)
	sources := map[string]bool{}
	for _, e := range drop.Findings.Evidence {
		sources[e.Source+" "+string(e.Kind)] = true
		sources[e.Source+" "+e.Rule] = true
	}
	if !sources["broker missed_heartbeats"] || !sources["uwsgi drop"] {
		t.Errorf("%s: evidence %v, want the broker's missed-heartbeats close and the app's own drop line from uWSGI's log", drop.ID, sources)
	}
}
