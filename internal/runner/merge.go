package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"wsgilab/internal/results"
)

// Merge joins the output directories of the shards of one run (`wsgilab run ... --shard I/N`
// for every I) into one run in out: run.json with every cell in the matrix's order, as one
// unsharded run would have written it, and each cell's file copied beside it. The shards must
// be of one scenario, one plan and one matrix, each index exactly once. Nothing is written when
// an input is refused, and an existing run in out is not overwritten.
func Merge(dirs []string, out string) (*results.Run, error) {
	if len(dirs) == 0 {
		return nil, errors.New("no shard directories given")
	}
	runs := make([]*results.Run, len(dirs))
	for i, d := range dirs {
		r, err := results.Load(d)
		if err != nil {
			return nil, err
		}
		if r.Shard == nil {
			return nil, fmt.Errorf("%s: not the output of a sharded run (run it with --shard I/N)", d)
		}
		runs[i] = r
	}
	first := runs[0]
	byIndex := map[int]int{}
	cells := map[string]json.RawMessage{}
	from := map[string]string{} // cell id -> shard dir
	for i, r := range runs {
		switch {
		case r.Scenario != first.Scenario:
			return nil, fmt.Errorf("%s is a %s run but %s is a %s run", dirs[0], first.Scenario, dirs[i], r.Scenario)
		case r.Shard.Count != first.Shard.Count:
			return nil, fmt.Errorf("%s is shard %d/%d but %s is shard %d/%d: not slices of one run",
				dirs[0], first.Shard.Index, first.Shard.Count, dirs[i], r.Shard.Index, r.Shard.Count)
		case !slices.Equal(r.Shard.Matrix, first.Shard.Matrix):
			return nil, fmt.Errorf("%s and %s were run on different matrices", dirs[0], dirs[i])
		case !sameJSON(r.Plan, first.Plan):
			return nil, fmt.Errorf("%s and %s were run with different options (their plans differ)", dirs[0], dirs[i])
		}
		if j, dup := byIndex[r.Shard.Index]; dup {
			return nil, fmt.Errorf("%s and %s are both shard %d/%d", dirs[j], dirs[i], r.Shard.Index, r.Shard.Count)
		}
		byIndex[r.Shard.Index] = i
		got, err := r.CellIDs()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dirs[i], err)
		}
		want, _ := Shard{Index: r.Shard.Index, Count: r.Shard.Count}.Select(cellsOf(r.Shard.Matrix))
		if !slices.Equal(got, ids(want)) {
			return nil, fmt.Errorf("%s: its cells %v are not shard %d/%d of its matrix", dirs[i], got,
				r.Shard.Index, r.Shard.Count)
		}
		for k, id := range got {
			cells[id] = r.Cells[k]
			from[id] = dirs[i]
		}
	}
	var missing []string
	for i := 1; i <= first.Shard.Count; i++ {
		if _, ok := byIndex[i]; !ok {
			missing = append(missing, fmt.Sprintf("%d/%d", i, first.Shard.Count))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("shard %s missing: merge needs every shard of the run", strings.Join(missing, ", "))
	}
	if _, err := os.Stat(filepath.Join(out, results.RunFile)); err == nil {
		return nil, fmt.Errorf("%s already holds a run (%s): choose another --out", out, results.RunFile)
	}
	for id, dir := range from {
		if _, err := os.Stat(filepath.Join(dir, results.CellFile(id))); err != nil {
			return nil, fmt.Errorf("%s: cell %s's file is missing: %v", dir, id, err)
		}
	}

	merged := &results.Run{Kind: results.RunKind, Scenario: first.Scenario, Plan: first.Plan}
	var end time.Time
	var idParts []string
	for i := 1; i <= first.Shard.Count; i++ {
		k := byIndex[i]
		r := runs[k]
		merged.Merged = append(merged.Merged, results.Part{Index: i, Count: r.Shard.Count, Dir: dirs[k], ID: r.ID,
			Start: r.Start, Elapsed: r.Elapsed, Broker: r.Broker})
		if merged.Start.IsZero() || r.Start.Before(merged.Start) {
			merged.Start = r.Start
		}
		if e := r.Start.Add(time.Duration(r.Elapsed * float64(time.Second))); e.After(end) {
			end = e
		}
		idParts = append(idParts, r.ID)
	}
	merged.ID = strings.Join(idParts, "+")
	merged.Broker = runs[byIndex[1]].Broker
	// From the first shard's start to the last one's end: the wall-clock time of the whole
	// run when the shards ran side by side.
	merged.Elapsed = end.Sub(merged.Start).Seconds()
	for _, id := range first.Shard.Matrix {
		merged.Cells = append(merged.Cells, cells[id])
	}

	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, &OutputError{err}
	}
	for _, id := range first.Shard.Matrix {
		if err := copyFile(filepath.Join(from[id], results.CellFile(id)), filepath.Join(out, results.CellFile(id))); err != nil {
			return nil, &OutputError{err}
		}
	}
	if err := results.WriteJSON(filepath.Join(out, results.RunFile), merged); err != nil {
		return nil, &OutputError{err}
	}
	return merged, nil
}

// OutputError is a failure of Merge while writing its output, after every input was accepted;
// any other error of Merge is about its arguments (a shard directory, --out).
type OutputError struct{ Err error }

func (e *OutputError) Error() string { return e.Err.Error() }
func (e *OutputError) Unwrap() error { return e.Err }

// sameJSON compares two JSON documents as values (key order and spacing aside).
func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return bytes.Equal(ca, cb)
}

func cellsOf(ids []string) []Cell {
	out := make([]Cell, len(ids))
	for i, id := range ids {
		out[i] = Cell{ID: id}
	}
	return out
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
