package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"wsgilab/internal/broker"
	"wsgilab/internal/proc"
	"wsgilab/internal/stack"
)

// Options of one `wsgilab run`.
type Options struct {
	Scenario string
	Matrix   Matrix
	// Cells, when set, is run instead of the matrix's product.
	Cells []CellSpec
	// Base holds the stack knobs common to every cell (app path, processes, threads, ...);
	// the matrix and the scenario set the rest.
	Base stack.Options
	// Heartbeat is the heartbeat scenario's plan.
	Heartbeat HeartbeatPlan
	// Spikes is the spikes scenario's plan, SpikesCells its cells (DefaultSpikesCells when
	// empty; the spikes scenario has its own dimensions: spare settings, preload).
	Spikes      SpikesPlan
	SpikesCells []SpikesCell
	// Throughput is the throughput scenario's plan; its cells are Cells or the Matrix's.
	Throughput ThroughputPlan
	// Parallel is how many cells run at once (they share the broker, each on its own vhost
	// and ports).
	Parallel int
	// OutDir receives run.json and one JSON per cell; "" writes nothing.
	OutDir string
	// BrokerURL and ManagementURL select an existing broker; empty starts a private node.
	BrokerURL, ManagementURL string
	// Broker, when set, is a broker already started by the caller (who stops it).
	Broker *broker.Broker
	// WorkDir is where the run directory is made ("" = the system temp dir); Keep leaves the
	// run directory (configs, logs) in place.
	WorkDir string
	Keep    bool
	// Progress receives one line per cell as it starts and ends (nil = silent).
	Progress io.Writer
}

// RunResult is a whole run. It is written as <out>/run.json.
//
// JSON:
//
//	{"scenario": "heartbeat", "id": "a1b2c3",
//	 "start": "...", "elapsed_s": 131.2,
//	 "broker": {"private": true, "management_url": "...", "startup_ms": 5900, "log": "..."},
//	 "plan": HeartbeatPlan,                 timeout_s, idle_factor, ... (heartbeat scenario)
//	 "cells": [CellResult without its timeline, ...]}    the timelines are in the per-cell files
//
// The spikes scenario writes "spikes_plan": SpikesPlan instead of "plan"; its cells in run.json
// lack their request log and process events (in the per-cell files).
//
// The throughput scenario's run.json is also a "wsgilab.throughput/v1" file that `wsgilab
// compare run.json` reads (internal/report/doc.go): "kind", the ThroughputPlan's fields at the
// top level (requests, concurrency, repetitions, warmup_runs, order, path,
// request_timeout_ns), "schedule" (cell ids of the measured runs in the order they ran), and
// per cell "cell" and "metrics".
type RunResult struct {
	Kind     string        `json:"kind,omitempty"`
	Scenario string        `json:"scenario"`
	ID       string        `json:"id"`
	Start    time.Time     `json:"start"`
	Elapsed  float64       `json:"elapsed_s"`
	Broker   BrokerInfo    `json:"broker"`
	Plan     HeartbeatPlan `json:"plan,omitzero"`
	Spikes   *SpikesPlan   `json:"spikes_plan,omitempty"`
	*ThroughputPlan
	Schedule []string     `json:"schedule,omitempty"`
	Parallel int          `json:"parallel"`
	Cells    []CellResult `json:"cells"`
}

// BrokerInfo says which broker the run used.
type BrokerInfo struct {
	Private       bool    `json:"private"`
	ManagementURL string  `json:"management_url"`
	AMQPPort      int     `json:"amqp_port"`
	StartupMs     float64 `json:"startup_ms,omitempty"`
	Log           string  `json:"log,omitempty"`
}

// Run runs the scenario on every cell of the matrix and returns the results in matrix order.
// Only errors that prevent the whole run (no broker, bad options) are returned; a cell that
// fails gets an ERROR verdict and the run goes on.
func Run(ctx context.Context, o Options) (*RunResult, error) {
	cells, spikesCells, err := o.scenarioCells()
	if err != nil {
		return nil, err
	}
	if o.Parallel < 1 {
		o.Parallel = 1
	}
	switch o.Scenario {
	case "spikes":
		// Cells measure latency: one at a time.
		o.Parallel = 1
	case "throughput":
		// Every cell is up at once; the runs themselves go one at a time.
		o.Parallel = len(cells)
	}
	id := randomID()
	runDir, err := os.MkdirTemp(o.WorkDir, "wsgilab-run-"+id+"-")
	if err != nil {
		return nil, err
	}
	// Apache's children run as www-data and must reach their cell's files.
	if err := os.Chmod(runDir, 0o755); err != nil {
		return nil, err
	}
	if !o.Keep {
		proc.RemoveOnKill(runDir)
		defer os.RemoveAll(runDir)
	}
	res := &RunResult{Scenario: o.Scenario, ID: id, Start: time.Now(), Parallel: o.Parallel}
	switch o.Scenario {
	case "heartbeat":
		res.Plan = o.Heartbeat
	case "spikes":
		res.Spikes = &o.Spikes
	case "throughput":
		res.Kind, res.ThroughputPlan = ThroughputKind, &o.Throughput
	}

	b := o.Broker
	switch {
	case b != nil:
	case o.BrokerURL != "" || o.ManagementURL != "":
		if o.BrokerURL == "" || o.ManagementURL == "" {
			return nil, errors.New("--broker and --management go together")
		}
		b, err = broker.Existing(o.BrokerURL, o.ManagementURL)
	default:
		progress(o.Progress, "starting a private RabbitMQ node")
		b, err = broker.StartPrivate(ctx, filepath.Join(runDir, "broker"))
	}
	if err != nil {
		return nil, err
	}
	if o.Broker == nil {
		defer b.Stop()
	}
	res.Broker = BrokerInfo{Private: b.Private(), ManagementURL: b.ManagementURL(), AMQPPort: b.AMQPPort,
		StartupMs: ms(b.StartupTime), Log: b.LogPath}

	res.Cells = make([]CellResult, len(cells))
	if o.Scenario == "throughput" {
		for i, spec := range cells {
			res.Cells[i].Spec = spec
		}
		runThroughput(ctx, b, runDir, id, o, res)
		return finishRun(ctx, o, res)
	}
	if o.Parallel == 1 {
		// One at a time, in matrix order (the table's), so that a run reads like its plan.
		for i, spec := range cells {
			res.Cells[i].Spec = spec
			if ctx.Err() != nil {
				res.Cells[i].fail(fmt.Errorf("not started: %w", ctx.Err()))
				continue
			}
			runCell(ctx, b, runDir, id, o, spikesCells[spec.ID], &res.Cells[i])
		}
		return finishRun(ctx, o, res)
	}
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i, spec := range cells {
		res.Cells[i].Spec = spec
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				res.Cells[i].fail(fmt.Errorf("not started: %w", ctx.Err()))
				return
			}
			defer func() { <-sem }()
			runCell(ctx, b, runDir, id, o, spikesCells[spec.ID], &res.Cells[i])
		}()
	}
	wg.Wait()
	return finishRun(ctx, o, res)
}

// scenarioCells returns the run's cells, checked: the matrix's (or Cells) for the heartbeat
// and throughput scenarios, the spikes scenario's own (SpikesCells, by id too).
func (o Options) scenarioCells() ([]CellSpec, map[string]SpikesCell, error) {
	var cells []CellSpec
	spikesCells := map[string]SpikesCell{}
	switch o.Scenario {
	case "heartbeat", "throughput":
		// Named in place: callers (the heartbeat test) read the ids from their own slice.
		cells = o.Cells
		if len(cells) == 0 {
			cells = o.Matrix.Cells()
		}
		for i := range cells {
			if cells[i].ID == "" {
				cells[i].ID = cells[i].name()
			}
		}
	case "spikes":
		sc := o.SpikesCells
		if len(sc) == 0 {
			sc = DefaultSpikesCells()
		}
		for _, c := range sc {
			if c.ID == "" {
				c.ID = c.name()
			}
			if _, dup := spikesCells[c.ID]; dup {
				return nil, nil, fmt.Errorf("cell %s appears twice", c.ID)
			}
			spikesCells[c.ID] = c
			cells = append(cells, CellSpec{ID: c.ID, MPM: c.MPM, Mode: c.Mode, Heartbeat: o.Base.Heartbeat,
				MonkeyPatch: o.Base.MonkeyPatch})
		}
	default:
		return nil, nil, fmt.Errorf("unknown scenario %q (available: heartbeat, spikes, throughput)", o.Scenario)
	}
	if len(cells) == 0 {
		return nil, nil, errors.New("the matrix has no cells")
	}
	var err error
	switch o.Scenario {
	case "heartbeat":
		err = o.Heartbeat.Validate()
	case "spikes":
		err = o.Spikes.Validate()
	case "throughput":
		err = o.Throughput.Validate()
	}
	if err != nil {
		return nil, nil, err
	}
	for _, spec := range cells {
		var knobs stack.Options
		switch o.Scenario {
		case "heartbeat":
			knobs = cellKnobs(o.Base, spec)
		case "spikes":
			knobs = spikesKnobs(o.Base, spikesCells[spec.ID], o.Spikes)
		case "throughput":
			knobs = throughputKnobs(o.Base, spec)
		}
		if err := knobs.Validate(); err != nil {
			return nil, nil, fmt.Errorf("cell %s: %w", spec.ID, err)
		}
	}
	return cells, spikesCells, nil
}

// finishRun stamps the run's duration and writes its files.
func finishRun(ctx context.Context, o Options, res *RunResult) (*RunResult, error) {
	res.Elapsed = time.Since(res.Start).Seconds()
	if o.OutDir != "" {
		if err := writeResults(o.OutDir, res); err != nil {
			return res, err
		}
	}
	return res, ctx.Err()
}

// runCell runs one cell of the heartbeat or spikes scenario (spikes is the cell's spikes
// configuration, unused by heartbeat).
func runCell(ctx context.Context, b *broker.Broker, runDir, runID string, o Options, spikes SpikesCell, res *CellResult) {
	began := time.Now()
	defer func() { res.Elapsed = time.Since(began).Seconds() }()
	res.Dir = filepath.Join(runDir, res.Spec.ID)
	progress(o.Progress, "cell %s: starting", res.Spec.ID)
	defer func() {
		progress(o.Progress, "cell %s: %s (%.1fs)", res.Spec.ID, res.Verdict.Kind, time.Since(began).Seconds())
	}()
	if err := os.MkdirAll(res.Dir, 0o755); err != nil {
		res.fail(err)
		return
	}
	vhost, err := b.NewVhost(ctx, "wsgilab-"+runID+"-"+res.Spec.ID)
	if err != nil {
		res.fail(fmt.Errorf("creating the cell's vhost: %w", err))
		return
	}
	res.Vhost = vhost.Name
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		vhost.Delete(dctx)
	}()
	if o.Scenario == "spikes" {
		spikesCell(ctx, vhost, res.Dir, o.Base, o.Spikes, spikes, res)
		return
	}
	heartbeatCell(ctx, b, vhost, res.Dir, o.Base, o.Heartbeat, res)
}

// Summary is the run without the cells' timelines (which the per-cell files hold): what
// run.json and `wsgilab run --json` carry. Spikes cells lose their request log and process
// events the same way.
func (r *RunResult) Summary() RunResult {
	sum := *r
	sum.Cells = make([]CellResult, len(r.Cells))
	for i, c := range r.Cells {
		c.Timeline.Ticks, c.Timeline.Events = nil, nil
		if c.Spikes != nil {
			sp := *c.Spikes
			sp.RequestLog, sp.Events = nil, nil
			c.Spikes = &sp
		}
		sum.Cells[i] = c
	}
	return sum
}

// writeResults writes run.json (the Summary) and one file per cell, with its timeline.
func writeResults(dir string, res *RunResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range res.Cells {
		if err := writeJSON(filepath.Join(dir, c.Spec.ID+".json"), c); err != nil {
			return err
		}
	}
	return writeJSON(filepath.Join(dir, "run.json"), res.Summary())
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func progress(w io.Writer, format string, args ...any) {
	if w == nil {
		return
	}
	fmt.Fprintf(w, "wsgilab: "+format+"\n", args...)
}

func randomID() string {
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}
