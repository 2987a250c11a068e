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
//	 "plan": HeartbeatPlan,                 timeout_s, idle_factor, ...
//	 "cells": [CellResult without its timeline, ...]}    the timelines are in the per-cell files
type RunResult struct {
	Scenario string        `json:"scenario"`
	ID       string        `json:"id"`
	Start    time.Time     `json:"start"`
	Elapsed  float64       `json:"elapsed_s"`
	Broker   BrokerInfo    `json:"broker"`
	Plan     HeartbeatPlan `json:"plan"`
	Parallel int           `json:"parallel"`
	Cells    []CellResult  `json:"cells"`
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
	if o.Scenario != "heartbeat" {
		return nil, fmt.Errorf("unknown scenario %q (available: heartbeat)", o.Scenario)
	}
	if err := o.Heartbeat.Validate(); err != nil {
		return nil, err
	}
	cells := o.Cells
	if len(cells) == 0 {
		cells = o.Matrix.Cells()
	}
	for i := range cells {
		if cells[i].ID == "" {
			cells[i].ID = cells[i].name()
		}
	}
	if len(cells) == 0 {
		return nil, errors.New("the matrix has no cells")
	}
	for _, spec := range cells {
		if err := cellKnobs(o.Base, spec).Validate(); err != nil {
			return nil, fmt.Errorf("cell %s: %w", spec.ID, err)
		}
	}
	if o.Parallel < 1 {
		o.Parallel = 1
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
		defer os.RemoveAll(runDir)
	}
	res := &RunResult{Scenario: o.Scenario, ID: id, Start: time.Now(), Plan: o.Heartbeat, Parallel: o.Parallel}

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
			runCell(ctx, b, runDir, id, o, &res.Cells[i])
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(res.Start).Seconds()
	if o.OutDir != "" {
		if err := writeResults(o.OutDir, res); err != nil {
			return res, err
		}
	}
	return res, ctx.Err()
}

func runCell(ctx context.Context, b *broker.Broker, runDir, runID string, o Options, res *CellResult) {
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
	heartbeatCell(ctx, b, vhost, res.Dir, o.Base, o.Heartbeat, res)
}

// writeResults writes run.json (cells without their timelines) and one file per cell.
func writeResults(dir string, res *RunResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	summary := *res
	summary.Cells = make([]CellResult, len(res.Cells))
	for i, c := range res.Cells {
		if err := writeJSON(filepath.Join(dir, c.Spec.ID+".json"), c); err != nil {
			return err
		}
		c.Timeline.Ticks, c.Timeline.Events = nil, nil
		summary.Cells[i] = c
	}
	return writeJSON(filepath.Join(dir, "run.json"), summary)
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
