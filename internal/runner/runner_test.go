package runner

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
