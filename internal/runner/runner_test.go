package runner

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wsgilab/internal/broker"
	"wsgilab/internal/results"
	"wsgilab/internal/server"
	"wsgilab/internal/stack"
)

type fakePlan struct{ cells []Cell }

func (p fakePlan) Cells() []Cell { return p.cells }
func (p fakePlan) NewResult(Cell) CellResult {
	return &fakeResult{}
}
func (p fakePlan) Run(context.Context, *Env, []Cell, []CellResult) {}

type fakeResult struct{ results.Cell }

func (r *fakeResult) Summary() any { return r }

func okStack() stack.Options {
	return stack.Options{Options: server.Options{MPM: "prefork", Mode: "embedded"}}
}

// Check refuses what would fail later, before anything starts, in one line; a problem every
// cell shares is said once, without a cell's name.
func TestCheck(t *testing.T) {
	bad := okStack()
	bad.AppPath = "/nonexistent/app.wsgi"
	for _, tc := range []struct {
		name  string
		cells []Cell
		o     Options
		want  string
	}{
		{"no cells", nil, Options{}, "no cells"},
		{"duplicate", []Cell{{ID: "a", Stack: okStack()}, {ID: "a", Stack: okStack()}}, Options{}, "cell a appears twice"},
		{"bad id", []Cell{{ID: "a/b", Stack: okStack()}}, Options{}, `cell id "a/b"`},
		{"every cell's app", []Cell{{ID: "a", Stack: bad}, {ID: "b", Stack: bad}}, Options{}, "WSGI app /nonexistent/app.wsgi does not exist"},
		{"one cell's knob", []Cell{{ID: "a", Stack: okStack()}, {ID: "b", Stack: stack.Options{Options: server.Options{MPM: "turbo", Mode: "embedded"}}}}, Options{}, "cell b: unknown MPM"},
		{"broker without management", []Cell{{ID: "a", Stack: okStack()}}, Options{BrokerURL: "amqp://x"}, "go together"},
		{"empty shard", []Cell{{ID: "a", Stack: okStack()}}, Options{Shard: Shard{Index: 2, Count: 2}}, "has none"},
	} {
		_, err := Check(fakePlan{tc.cells}, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line containing %q", tc.name, err, tc.want)
		}
		if tc.name == "every cell's app" && strings.Contains(err.Error(), "cell a") {
			t.Errorf("%s: %q names a cell for a problem they all share", tc.name, err)
		}
	}
	cells, err := Check(fakePlan{[]Cell{{ID: "a", Stack: okStack()}, {ID: "b", Stack: okStack()}}}, Options{Shard: Shard{Index: 2, Count: 2}})
	if err != nil || len(cells) != 1 || cells[0].ID != "b" {
		t.Errorf("shard 2/2 of two cells: %v %v", cells, err)
	}
}

// EachCell runs at most parallel cells at once, records each one's time and verdict line, and
// marks the cells it never started when the context ended.
func TestEachCell(t *testing.T) {
	var progress bytes.Buffer
	env := &Env{progress: &progress}
	cells := []Cell{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}}
	res := make([]CellResult, len(cells))
	for i := range res {
		res[i] = &fakeResult{}
	}
	var running, most atomic.Int32
	var mu sync.Mutex
	var order []string
	env.EachCell(context.Background(), cells, res, 2, func(ctx context.Context, c Cell, r CellResult) {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		mu.Lock()
		order = append(order, c.ID)
		mu.Unlock()
		r.Base().Verdict = results.Verdict{Kind: "OK"}
	})
	if most.Load() != 2 || len(order) != 4 {
		t.Errorf("%d at once (want 2), %d cells run", most.Load(), len(order))
	}
	for _, r := range res {
		if r.Base().Elapsed < 0.02 || r.Base().Verdict.Kind != "OK" {
			t.Errorf("result %+v", r.Base())
		}
	}
	if !strings.Contains(progress.String(), "wsgilab: cell c: OK (") {
		t.Errorf("progress:\n%s", progress.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	for i := range res {
		res[i] = &fakeResult{}
	}
	ran := 0
	env.EachCell(ctx, cells, res, 1, func(ctx context.Context, c Cell, r CellResult) {
		ran++
		cancel()
	})
	if ran != 1 || res[1].Base().Verdict.Kind != results.Error || !strings.Contains(res[3].Base().Verdict.Reason, "not started") {
		t.Errorf("after cancel: ran %d, then %+v", ran, res[1].Base().Verdict)
	}
}

// failingPlan gives every cell a directory with a log in the run directory, as StartStack does,
// and fails the cells named in fail.
type failingPlan struct {
	fakePlan
	fail map[string]bool
}

func (p failingPlan) Run(_ context.Context, env *Env, cells []Cell, res []CellResult) {
	for i, c := range cells {
		b := res[i].Base()
		b.Dir = filepath.Join(env.Dir, c.ID)
		os.MkdirAll(filepath.Join(b.Dir, "logs"), 0o755)
		os.WriteFile(filepath.Join(b.Dir, "logs", "error.log"), []byte("ImportError: no module named settings\n"), 0o644)
		if p.fail[c.ID] {
			b.Fail(fmt.Errorf("setup failed: app failed (see %s)", filepath.Join(b.Dir, "logs", "error.log")))
		} else {
			b.Verdict = results.Verdict{Kind: results.Measured}
		}
	}
}

// A failed cell's reason points at its logs: its directory outlives the run, the rest of the
// run directory does not, and the cell says where its directory is.
func TestFailedCellDirectoryIsKept(t *testing.T) {
	work := t.TempDir()
	plan := failingPlan{fakePlan{[]Cell{{ID: "ok", Stack: okStack()}, {ID: "broken", Stack: okStack()}}}, map[string]bool{"broken": true}}
	var progress bytes.Buffer
	out, err := Run(context.Background(), "fake", plan, Options{Broker: &broker.Broker{}, WorkDir: work, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Kept) != 1 || filepath.Base(out.Kept[0]) != "broken" {
		t.Fatalf("kept %v, want the broken cell's directory", out.Kept)
	}
	if _, err := os.Stat(filepath.Join(out.Kept[0], "logs", "error.log")); err != nil {
		t.Errorf("the failed cell's log is gone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(out.Kept[0]), "ok")); !os.IsNotExist(err) {
		t.Errorf("the measured cell's directory is still there: %v", err)
	}
	broken := out.Cells[1].Base()
	if !slices.ContainsFunc(broken.Notes, func(n string) bool { return strings.Contains(n, "kept") && strings.Contains(n, broken.Dir) }) {
		t.Errorf("the cell does not say its directory is kept: %q", broken.Notes)
	}
	if !strings.Contains(progress.String(), "kept "+broken.Dir) {
		t.Errorf("progress does not say so:\n%s", progress.String())
	}

	// With every cell measured, nothing is left.
	out, err = Run(context.Background(), "fake", failingPlan{plan.fakePlan, nil}, Options{Broker: &broker.Broker{}, WorkDir: work})
	if err != nil || len(out.Kept) != 0 {
		t.Fatalf("kept %v, %v", out.Kept, err)
	}
	os.RemoveAll(filepath.Dir(broken.Dir))
	if ents, _ := os.ReadDir(work); len(ents) != 0 {
		t.Errorf("left in the work directory: %v", ents)
	}
}
