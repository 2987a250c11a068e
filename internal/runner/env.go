package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"wsgilab/internal/broker"
	"wsgilab/internal/observe"
	"wsgilab/internal/results"
	"wsgilab/internal/stack"
)

// Env is what a scenario gets to run its cells with: the run's broker and directory, and the
// runner's ways to run cells in parallel and to start and stop a cell's stack.
type Env struct {
	Broker *broker.Broker
	// RunID names the run's vhosts; Dir is the run directory (each cell gets Dir/<id>).
	RunID string
	Dir   string

	progress io.Writer
	mu       sync.Mutex
}

// Progress prints one progress line ("wsgilab: ...").
func (e *Env) Progress(format string, args ...any) {
	if e.progress == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(e.progress, "wsgilab: "+format+"\n", args...)
}

// EachCell runs run on every cell, parallel of them at once (one at a time, in matrix order,
// when parallel is 1), and says when each starts and ends. A cell not started because ctx
// ended is an ERROR. Each cell's elapsed time is recorded in its result.
func (e *Env) EachCell(ctx context.Context, cells []Cell, res []CellResult, parallel int,
	run func(ctx context.Context, c Cell, r CellResult)) {
	one := func(i int) {
		r := res[i]
		if ctx.Err() != nil {
			r.Base().Fail(fmt.Errorf("not started: %w", ctx.Err()))
			return
		}
		began := time.Now()
		e.Progress("cell %s: starting", cells[i].ID)
		run(ctx, cells[i], r)
		r.Base().Elapsed = time.Since(began).Seconds()
		e.Progress("cell %s: %s (%.1fs)", cells[i].ID, r.Base().Verdict.Kind, time.Since(began).Seconds())
	}
	if parallel <= 1 {
		for i := range cells {
			one(i)
		}
		return
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range cells {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done(): // one() records it as not started
			}
			one(i)
		})
	}
	wg.Wait()
}

// Stack is one cell's running stack on its own vhost.
type Stack struct {
	*stack.Cell
	base *results.Cell
}

// StartStack creates the cell's vhost and starts its stack with o (the cell's Stack options,
// as the scenario adjusted them) in Dir/<id>, recording in base its directory, vhost, start-up
// time, URL, server, log paths and app processes. When anything fails, base is an ERROR
// whose reason is the error's first line (which names the app's exception when the app failed
// to load), nothing is left running, and the result is nil.
func (e *Env) StartStack(ctx context.Context, c Cell, o stack.Options, base *results.Cell) *Stack {
	base.Dir = filepath.Join(e.Dir, c.ID)
	vhost, err := e.Broker.NewVhost(ctx, "wsgilab-"+e.RunID+"-"+c.ID)
	if err != nil {
		base.Fail(fmt.Errorf("creating the cell's vhost: %w", err))
		return nil
	}
	base.Vhost = vhost.Name
	began := time.Now()
	sc, err := stack.Start(ctx, filepath.Join(base.Dir, "stack"), vhost, o)
	base.StartupMs = Millis(time.Since(began))
	if err != nil {
		base.Fail(fmt.Errorf("setup failed: %w", err))
		var se *stack.StartError
		if errors.As(err, &se) {
			base.Evidence = startEvidence(se.Log)
		}
		deleteVhost(ctx, vhost)
		return nil
	}
	base.URL, base.Server, base.Loaded = sc.URL(), sc.Server.Kind(), sc.Server.Loaded()
	base.Log, base.AccessLog = sc.Server.Log(), sc.Server.AccessLog()
	base.AppProcesses = len(sc.AppProcesses())
	return &Stack{Cell: sc, base: base}
}

// Stop stops the stack, records how long that took, and deletes the cell's vhost.
func (s *Stack) Stop(ctx context.Context) {
	t0 := time.Now()
	if err := s.Cell.Stop(); err != nil {
		s.base.Note("teardown: %v", err)
	}
	s.base.TeardownMs = Millis(time.Since(t0))
	deleteVhost(ctx, s.Vhost)
}

func deleteVhost(ctx context.Context, v *broker.Vhost) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	v.Delete(dctx)
}

// maxStartEvidence keeps a failed start's evidence readable: the last lines are the ones that say
// why (the server's log has them all).
const maxStartEvidence = 8

// startEvidence is what a failed start's server log says went wrong: its lines that match a
// signature rule other than context (a worker timed out or died, the app raised), the last ones.
func startEvidence(lf observe.LogFile) []observe.Event {
	events, _ := observe.ReadEvents(lf, observe.Rules)
	var out []observe.Event
	for _, e := range events {
		if e.Kind != observe.KindInfo {
			out = append(out, e)
		}
	}
	if len(out) > maxStartEvidence {
		out = out[len(out)-maxStartEvidence:]
	}
	return out
}
