// Package runner runs a scenario across the cells of a matrix: it checks every cell before
// anything starts, makes the run directory, starts (or joins) the one broker the cells share
// (a vhost each), hands the cells to the scenario (in parallel, through Env.EachCell, or all at
// once), and writes run.json and one file per cell. It knows no scenario by name: a scenario is
// a value of the Scenario interface, registered in internal/scenario.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"wsgilab/internal/broker"
	"wsgilab/internal/proc"
	"wsgilab/internal/results"
	"wsgilab/internal/stack"
)

// Scenario is one experiment wsgilab runs across a matrix: its name, its help, its options,
// and how it prints a recorded run. Its package holds the rest (plan, cell runner, analysis,
// verdict, JSON types, text report, tests); internal/scenario registers it by name.
type Scenario interface {
	// Name is what `wsgilab run NAME` selects and what run.json's "scenario" says.
	Name() string
	// Summary is one line for `wsgilab run --help`; Usage is the scenario's own --help text,
	// printed before its options.
	Summary() string
	Usage() string
	// Flags adds the scenario's options to fs and returns what builds the plan once fs is
	// parsed. An error from it is bad input: reported before anything starts.
	Flags(fs *pflag.FlagSet) func() (Plan, error)
	// WriteText prints a recorded run of this scenario (run.json, or a merge of shards): the
	// table and the evidence. Every table is printed from the recorded run, so that a live
	// run, a merged run and a golden test print the same thing from the same data.
	WriteText(w io.Writer, run *results.Run) error
}

// Plan is a scenario configured by its options. It is marshalled as run.json's "plan".
type Plan interface {
	// Cells are every cell of the matrix, in table order; a shard runs a slice of them.
	Cells() []Cell
	// NewResult is the empty result of a cell, which Run fills (and the runner marks ERROR
	// when the cell never ran).
	NewResult(c Cell) CellResult
	// Run runs cells, filling res (res[i] is cells[i]'s, made by NewResult). It returns when
	// every cell's stack is stopped. A cell that fails is an ERROR result, not an error.
	Run(ctx context.Context, env *Env, cells []Cell, res []CellResult)
}

// Cell is one configuration of the stack a scenario runs on.
type Cell struct {
	// ID names the cell in tables, file names and vhost names.
	ID string
	// Stack is what the cell's stack runs with; checked before anything starts.
	Stack stack.Options
	// Spec is the scenario's own description of the cell.
	Spec any
}

// CellResult is a scenario's result for one cell: a results.Cell and the scenario's fields.
// The whole value is the cell's file (<id>.json); Summary is what run.json carries.
type CellResult interface {
	Base() *results.Cell
	// Summary is the result without its bulk (timelines, request logs).
	Summary() any
}

// Options are a run's settings that are no scenario's own.
type Options struct {
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
	// Shard selects a slice of the matrix (zero: all of it).
	Shard Shard
	// Progress receives one line per step (nil = silent).
	Progress io.Writer
}

// Outcome is a finished run: its record (what run.json holds, and what the text report is
// printed from) and each cell's whole result.
type Outcome struct {
	Run   *results.Run
	Cells []CellResult
	// Kept are the directories left after the run without --keep: the failed cells' (their
	// configs and logs, which their reasons point at).
	Kept []string
}

// Check returns the cells this run would run (the shard's slice of the plan's), after checking
// everything that can be checked before anything starts: ids, each cell's stack options, the
// shard, the broker flags. Its errors are bad input.
func Check(plan Plan, o Options) ([]Cell, error) {
	all := plan.Cells()
	if len(all) == 0 {
		return nil, errors.New("the matrix has no cells")
	}
	seen := map[string]bool{}
	var errs []string
	for _, c := range all {
		if c.ID == "" || strings.ContainsAny(c.ID, "/ \t\n") {
			return nil, fmt.Errorf("cell id %q: must be a non-empty name without slashes or spaces", c.ID)
		}
		if seen[c.ID] {
			return nil, fmt.Errorf("cell %s appears twice", c.ID)
		}
		seen[c.ID] = true
		if err := c.Stack.Validate(); err != nil {
			errs = append(errs, fmt.Sprintf("cell %s: %s", c.ID, oneLine(err)))
		}
	}
	if len(errs) > 0 {
		return nil, errors.New(commonError(errs, len(all)))
	}
	if err := broker.CheckURLs(o.BrokerURL, o.ManagementURL); err != nil {
		return nil, err
	}
	if cellBrokers(plan) && o.BrokerURL != "" {
		return nil, errors.New("--broker: this scenario's cells each start a private broker node of their own (a cell breaks its broker), so an existing broker cannot be used")
	}
	if err := checkOutDir(o.OutDir); err != nil {
		return nil, err
	}
	cells, err := o.Shard.Select(all)
	if err != nil {
		return nil, err
	}
	return cells, nil
}

// checkOutDir checks that the results can be written where they are asked for, since they are
// written at the end of the run: the directory, or its nearest existing parent, must be a
// directory this process can write to. Nothing is created here.
func checkOutDir(dir string) error {
	if dir == "" {
		return nil
	}
	p := filepath.Clean(dir)
	for {
		st, err := os.Stat(p)
		switch {
		case err == nil && !st.IsDir():
			return fmt.Errorf("--out %s: %s is not a directory", dir, p)
		case err == nil:
			if err := syscall.Access(p, 2 /* W_OK */); err != nil {
				return fmt.Errorf("--out %s: cannot write in %s: %w", dir, p, err)
			}
			return nil
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
			return fmt.Errorf("--out %s: %w", dir, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return nil
		}
		p = parent
	}
}

// commonError says one thing once when every cell has the same problem (a missing --app is
// every cell's), and the first cell's problem otherwise.
func commonError(errs []string, cells int) string {
	_, first, _ := strings.Cut(errs[0], ": ")
	if len(errs) == cells {
		same := true
		for _, e := range errs[1:] {
			if _, msg, _ := strings.Cut(e, ": "); msg != first {
				same = false
				break
			}
		}
		if same {
			return first
		}
	}
	return errs[0]
}

// oneLine joins a multi-part error (errors.Join puts one problem per line) into one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// Run runs scenario's plan on its cells (or the shard's) and returns the outcome, cells in
// matrix order. Only errors that prevent the whole run (bad input, no broker) are returned
// without an outcome; a cell that fails gets an ERROR verdict and the run goes on. When ctx
// ends, the outcome is returned with ctx's error.
func Run(ctx context.Context, scenario string, plan Plan, o Options) (*Outcome, error) {
	cells, err := Check(plan, o)
	if err != nil {
		return nil, err
	}
	id := randomID()
	runDir, err := os.MkdirTemp(o.WorkDir, "wsgilab-run-"+id+"-")
	if err != nil {
		return nil, err
	}
	// Apache's children run as www-data and must reach their cell's files.
	if err := os.Chmod(runDir, 0o755); err != nil {
		os.RemoveAll(runDir)
		return nil, err
	}
	// kept are the failed cells' directories: their reasons point at logs in them, so they
	// outlive the run (the rest of the run directory goes, unless --keep).
	var kept []string
	if !o.Keep {
		proc.RemoveOnKill(runDir)
		defer func() { removeRunDir(runDir, kept) }()
	}
	start := time.Now()
	env := &Env{RunID: id, Dir: runDir, progress: o.Progress}

	env.Broker = o.Broker
	switch {
	case env.Broker != nil:
	case cellBrokers(plan):
		// Each cell starts its own node (Env.PrivateBroker): a shared one would go unused.
	case o.BrokerURL != "":
		env.Broker, err = broker.Existing(o.BrokerURL, o.ManagementURL)
	default:
		env.Progress("starting a private RabbitMQ node")
		env.Broker, err = broker.StartPrivate(ctx, filepath.Join(runDir, "broker"))
	}
	if err != nil {
		return nil, err
	}
	if o.Broker == nil && env.Broker != nil {
		defer env.Broker.Stop()
	}

	res := make([]CellResult, len(cells))
	for i, c := range cells {
		res[i] = plan.NewResult(c)
		res[i].Base().ID = c.ID
	}
	plan.Run(ctx, env, cells, res)
	if !o.Keep {
		kept = keepFailedCells(res)
		for _, d := range kept {
			env.Progress("kept %s: the failed cell's configs and logs", d)
		}
	}

	rec := &results.Run{Kind: results.RunKind, Scenario: scenario, ID: id, Start: start,
		Broker: results.Broker{Private: true}} // a node per cell: each cell records its own
	if b := env.Broker; b != nil && !cellBrokers(plan) {
		rec.Broker = results.Broker{Private: b.Private(), ManagementURL: b.ManagementURL(), AMQPPort: b.AMQPPort,
			StartupMs: Millis(b.StartupTime), Log: b.LogPath}
	}
	if o.Shard.Count > 0 {
		rec.Shard = &results.Shard{Index: o.Shard.Index, Count: o.Shard.Count, Matrix: ids(plan.Cells())}
	}
	if rec.Plan, err = json.Marshal(plan); err != nil {
		return nil, fmt.Errorf("encoding the plan: %w", err)
	}
	for _, r := range res {
		raw, err := json.Marshal(r.Summary())
		if err != nil {
			return nil, fmt.Errorf("encoding cell %s: %w", r.Base().ID, err)
		}
		rec.Cells = append(rec.Cells, raw)
	}
	rec.Elapsed = time.Since(start).Seconds()
	out := &Outcome{Run: rec, Cells: res, Kept: kept}
	if o.OutDir != "" {
		if err := writeResults(o.OutDir, out); err != nil {
			return out, err
		}
	}
	return out, ctx.Err()
}

// keepFailedCells returns the directories of the cells that failed (ERROR) and have one, and
// notes in each such cell that its directory is kept.
func keepFailedCells(res []CellResult) []string {
	var out []string
	for _, r := range res {
		c := r.Base()
		if c.Verdict.Kind != results.Error || c.Dir == "" {
			continue
		}
		if _, err := os.Stat(c.Dir); err != nil {
			continue
		}
		c.Note("the cell's directory is kept after the run (its configs and logs): %s", c.Dir)
		out = append(out, c.Dir)
	}
	return out
}

// removeRunDir removes the run directory, all of it when kept is empty, else everything in it
// but the kept directories (which the guard is told to leave too).
func removeRunDir(runDir string, kept []string) {
	if len(kept) == 0 {
		os.RemoveAll(runDir)
		return
	}
	proc.KeepOnExit(runDir)
	ents, _ := os.ReadDir(runDir)
	for _, e := range ents {
		p := filepath.Join(runDir, e.Name())
		if !slices.Contains(kept, p) {
			os.RemoveAll(p)
		}
	}
}

// writeResults writes one file per cell (its whole result) and run.json.
func writeResults(dir string, out *Outcome) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range out.Cells {
		if err := results.WriteJSON(filepath.Join(dir, results.CellFile(c.Base().ID)), c); err != nil {
			return err
		}
	}
	return results.WriteJSON(filepath.Join(dir, results.RunFile), out.Run)
}

func ids(cells []Cell) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = c.ID
	}
	return out
}

func randomID() string {
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Millis is d in milliseconds, to the microsecond: how results carry durations meant for people.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
