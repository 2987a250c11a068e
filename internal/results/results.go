// Package results is the one format wsgilab's runs are saved in: the versioned kinds that the
// scenarios write and that `wsgilab compare`, `wsgilab merge` and the text reports read. It
// knows no scenario: a run carries its scenario's name, its plan and its cells as JSON that the
// scenario's own package decodes (Decode), around the fields every run and every cell share.
//
// # Run (run.json, kind "wsgilab.run/v1")
//
//	{"kind": "wsgilab.run/v1",
//	 "scenario": "heartbeat",             which registered scenario wrote it
//	 "id": "a1b2c3", "start": "...", "elapsed_s": 55.2,
//	 "broker": Broker,                     which broker the cells used
//	 "shard": Shard,                       only in the output of `run --shard I/N`
//	 "merged": [Part, ...],                only in the output of `wsgilab merge`: the shards it joined
//	 "plan": {...},                        the scenario's plan (its own JSON)
//	 "cells": [Cell + the scenario's fields, ...]}   in the matrix's order; without timelines,
//	                                       request logs and other bulk, which are in <cell id>.json
//
// Older files: heartbeat and spikes runs before this format had no "kind" and are not read;
// throughput runs were "wsgilab.throughput/v1", which compare still reads (internal/compare).
package results

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"wsgilab/internal/observe"
	"wsgilab/internal/stats"
)

// RunKind is the "kind" of run.json. The version changes only when a field changes meaning, so
// that an old reader refuses a new file instead of misreading it.
const RunKind = "wsgilab.run/v1"

// Run is one `wsgilab run` (or the merge of its shards), as run.json holds it.
type Run struct {
	Kind     string    `json:"kind"`
	Scenario string    `json:"scenario"`
	ID       string    `json:"id"`
	Start    time.Time `json:"start"`
	Elapsed  float64   `json:"elapsed_s"`
	Broker   Broker    `json:"broker"`
	Shard    *Shard    `json:"shard,omitempty"`
	Merged   []Part    `json:"merged,omitempty"`
	// Plan is the scenario's plan, Cells its cells (each a Cell plus the scenario's fields).
	Plan  json.RawMessage   `json:"plan"`
	Cells []json.RawMessage `json:"cells"`
}

// Broker says which broker a run used.
//
// JSON: {"private": true, "management_url": "http://127.0.0.1:PORT/", "amqp_port": 5672,
// "startup_ms": 5900, "log": "/tmp/.../rabbit.log"}
type Broker struct {
	Private       bool    `json:"private"`
	ManagementURL string  `json:"management_url"`
	AMQPPort      int     `json:"amqp_port"`
	StartupMs     float64 `json:"startup_ms,omitempty"`
	Log           string  `json:"log,omitempty"`
}

// Shard says which slice of the matrix a sharded run ran: cell k (0-based, in matrix order) of
// the Matrix belongs to shard k mod Count + 1.
//
// JSON: {"index": 1, "count": 2, "matrix": ["prefork-embedded-green", ...]}
type Shard struct {
	Index  int      `json:"index"`
	Count  int      `json:"count"`
	Matrix []string `json:"matrix"`
}

// Part is one shard a merged run was joined from.
//
// JSON: {"index": 1, "count": 2, "dir": "out/shard-1", "id": "a1b2c3", "start": "...",
// "elapsed_s": 31.0, "broker": Broker}
type Part struct {
	Index   int       `json:"index"`
	Count   int       `json:"count"`
	Dir     string    `json:"dir"`
	ID      string    `json:"id"`
	Start   time.Time `json:"start"`
	Elapsed float64   `json:"elapsed_s"`
	Broker  Broker    `json:"broker"`
}

// Verdict kinds every scenario may give; a scenario adds its own (STABLE, DROPPED, ...).
const (
	// Error: the cell could not be measured (setup failed, the app did not load, interrupted).
	Error = "ERROR"
	// Measured: a scenario that judges nothing measured the cell; its figures are the answer.
	Measured = "MEASURED"
)

// Verdict is a cell's outcome in one word and one line; the scenario's fields hold the
// figures and the evidence it rests on.
//
// JSON: {"kind": "DROPPED", "reason": "the broker closed 3 connections for missed heartbeats ..."}
type Verdict struct {
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

// Cell is what every scenario's cell result starts with (each scenario embeds it).
//
// JSON:
//
//	{"id": "prefork-embedded-green",
//	 "vhost": "wsgilab-...-prefork-...",   the broker vhost the cell's connections live in
//	 "dir": "/tmp/wsgilab-run-.../cell",   the cell's run directory (kept with --keep, or when the cell failed)
//	 "url": "http://127.0.0.1:PORT",       the service while it ran
//	 "server": "apache",                   which server ran the app (apache, uwsgi, gunicorn)
//	 "loaded": "mpm_prefork_module (shared)",   what the server said it runs (Apache: the MPM module)
//	 "log", "access_log": paths,           the server's log (with the app's stderr) and access log
//	 "startup_ms", "teardown_ms",          from nothing to serving /call; stop until every PID was gone
//	 "app_processes": 2,                   processes running the app (MPM children, mod_wsgi daemons, workers)
//	 "verdict": Verdict,
//	 "notes": ["..."],                     anything that went wrong around the measurement
//	 "elapsed_s": 19.8,
//	 "metrics": [stats.Series, ...],
//	 "evidence": [observe.Event, ...]}     the server's lines behind a failed start       samples compare reads, e.g. {"name": "req/s", "unit": "req/s", "values": [...]}
type Cell struct {
	ID           string   `json:"id"`
	Vhost        string   `json:"vhost,omitempty"`
	Dir          string   `json:"dir,omitempty"`
	URL          string   `json:"url,omitempty"`
	Server       string   `json:"server,omitempty"`
	Loaded       string   `json:"loaded,omitempty"`
	Log          string   `json:"log,omitempty"`
	AccessLog    string   `json:"access_log,omitempty"`
	StartupMs    float64  `json:"startup_ms"`
	TeardownMs   float64  `json:"teardown_ms"`
	AppProcesses int      `json:"app_processes"`
	Verdict      Verdict  `json:"verdict"`
	Notes        []string `json:"notes,omitempty"`
	Elapsed      float64  `json:"elapsed_s"`
	// Evidence are the log lines behind an ERROR a cell got before its scenario could observe
	// it (the server's or the app's own account of a failed start).
	Evidence []observe.Event `json:"evidence,omitempty"`
	// Metrics are the cell's samples, one value per repetition, that `wsgilab compare` reads
	// (any scenario may give its cells series; cells are paired by id, series by name).
	Metrics []stats.Series `json:"metrics,omitempty"`
}

// Base lets a scenario's cell result, which embeds Cell, be handled as a Cell.
func (c *Cell) Base() *Cell { return c }

// Fail makes the cell an ERROR whose reason is the error's first line; the whole error is a note.
func (c *Cell) Fail(err error) {
	msg := err.Error()
	first, _, _ := strings.Cut(msg, "\n")
	c.Verdict = Verdict{Kind: Error, Reason: first}
	c.Notes = append(c.Notes, msg)
}

// Note adds a note.
func (c *Cell) Note(format string, args ...any) {
	c.Notes = append(c.Notes, fmt.Sprintf(format, args...))
}

// Decode reads a run's plan into plan and its cells into a slice of C (a scenario's cell type).
func Decode[C any](run *Run, plan any) ([]C, error) {
	if plan != nil && len(run.Plan) > 0 {
		if err := json.Unmarshal(run.Plan, plan); err != nil {
			return nil, fmt.Errorf("%s run: plan: %w", run.Scenario, err)
		}
	}
	cells := make([]C, len(run.Cells))
	for i, raw := range run.Cells {
		if err := json.Unmarshal(raw, &cells[i]); err != nil {
			return nil, fmt.Errorf("%s run: cell %d: %w", run.Scenario, i+1, err)
		}
	}
	return cells, nil
}

// CellIDs returns the ids of the run's cells, in order.
func (r *Run) CellIDs() ([]string, error) {
	ids := make([]string, len(r.Cells))
	for i, raw := range r.Cells {
		var c Cell
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("cell %d: %w", i+1, err)
		}
		if c.ID == "" {
			return nil, fmt.Errorf("cell %d has no id", i+1)
		}
		ids[i] = c.ID
	}
	return ids, nil
}

// ErrNotRun says a file is JSON but not a run.json of this version.
var ErrNotRun = errors.New("not a wsgilab run.json")

// Parse reads a run.json's bytes; path names the file in errors.
func Parse(path string, data []byte) (*Run, error) {
	var r Run
	if err := json.Unmarshal(data, &r); err != nil {
		if !json.Valid(data) {
			return nil, fmt.Errorf("%s: not JSON: %v", path, err)
		}
		return nil, fmt.Errorf("%s: %w (%v)", path, ErrNotRun, err)
	}
	switch {
	case r.Kind == RunKind:
	case r.Kind == "":
		return nil, fmt.Errorf("%s: %w (no \"kind\"; runs of wsgilab before %s are not read)", path, ErrNotRun, RunKind)
	default:
		return nil, fmt.Errorf("%s: %w (its kind is %q, this wsgilab reads %q)", path, ErrNotRun, r.Kind, RunKind)
	}
	if r.Scenario == "" {
		return nil, fmt.Errorf("%s: a run without a scenario", path)
	}
	if _, err := r.CellIDs(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Load reads a run.json file, or the run.json of a run directory.
func Load(path string) (*Run, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, RunFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// RunFile is the name of a run's summary in its output directory; each cell's whole result is
// <cell id>.json beside it (CellFile).
const RunFile = "run.json"

// CellFile is the file of a cell's whole result in a run's output directory.
func CellFile(id string) string { return id + ".json" }

// WriteJSON writes v as indented JSON to path, atomically enough for a result file (a reader
// never sees half of it: it is written beside and renamed).
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
