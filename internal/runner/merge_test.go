package runner

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"wsgilab/internal/results"
)

// writeShards writes what `run --shard I/n` of a matrix of the given cells writes: run.json
// and one file per cell, each cell's file naming its shard.
func writeShards(t *testing.T, matrix []string, n int, plan string) []string {
	t.Helper()
	var dirs []string
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("shard-%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		sel, err := Shard{Index: i, Count: n}.Select(cellsOf(matrix))
		if err != nil {
			t.Fatal(err)
		}
		r := results.Run{Kind: results.RunKind, Scenario: "demo", ID: fmt.Sprintf("id%d", i),
			Start: start.Add(time.Duration(i) * time.Second), Elapsed: 10,
			Shard: &results.Shard{Index: i, Count: n, Matrix: matrix}, Plan: json.RawMessage(plan)}
		for _, c := range sel {
			cell := map[string]any{"id": c.ID, "verdict": map[string]string{"kind": "OK", "reason": "shard " + fmt.Sprint(i)}}
			raw, _ := json.Marshal(cell)
			r.Cells = append(r.Cells, raw)
			cell["timeline"] = []int{i}
			if err := results.WriteJSON(filepath.Join(dir, results.CellFile(c.ID)), cell); err != nil {
				t.Fatal(err)
			}
		}
		if err := results.WriteJSON(filepath.Join(dir, results.RunFile), r); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	return dirs
}

// Merging the shards of a run gives every cell in the matrix's order, with each cell's file,
// whatever order the directories are given in.
func TestMergeJoinsShardsInMatrixOrder(t *testing.T) {
	matrix := []string{"a", "b", "c", "d", "e"}
	dirs := writeShards(t, matrix, 2, `{"x": 1, "y": [2]}`)
	out := filepath.Join(t.TempDir(), "merged")
	run, err := Merge([]string{dirs[1], dirs[0]}, out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := run.CellIDs()
	if err != nil || !slices.Equal(got, matrix) {
		t.Fatalf("merged cells %v (%v), want %v", got, err, matrix)
	}
	if run.Shard != nil || len(run.Merged) != 2 || run.Merged[0].Index != 1 || run.Merged[1].Dir != dirs[1] {
		t.Errorf("merged record: shard %v, parts %+v", run.Shard, run.Merged)
	}
	if run.ID != "id1+id2" || run.Elapsed != 11 {
		t.Errorf("id %q elapsed %v, want id1+id2 and 11 s (first start to last end)", run.ID, run.Elapsed)
	}
	back, err := results.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if ids, _ := back.CellIDs(); !slices.Equal(ids, matrix) {
		t.Errorf("run.json cells %v", ids)
	}
	var c map[string]any
	b, err := os.ReadFile(filepath.Join(out, "b.json"))
	if err != nil || json.Unmarshal(b, &c) != nil || c["timeline"] == nil {
		t.Errorf("b.json not copied whole: %v %v", err, c)
	}
	if _, err := Merge(dirs, out); err == nil || !strings.Contains(err.Error(), "already holds a run") {
		t.Errorf("merging over a merged run: %v", err)
	}
}

// Shards that are not the slices of one run are refused, and nothing is written.
func TestMergeRefuses(t *testing.T) {
	matrix := []string{"a", "b", "c", "d"}
	two := writeShards(t, matrix, 2, `{"x": 1}`)
	three := writeShards(t, matrix, 3, `{"x": 1}`)
	other := writeShards(t, matrix, 2, `{"x": 2}`)
	notShard := t.TempDir()
	results.WriteJSON(filepath.Join(notShard, results.RunFile), results.Run{Kind: results.RunKind, Scenario: "demo",
		Cells: []json.RawMessage{json.RawMessage(`{"id": "a"}`)}})
	for _, tc := range []struct {
		name string
		dirs []string
		want string
	}{
		{"one shard missing", two[:1], "shard 2/2 missing"},
		{"a shard twice", []string{two[0], two[0], two[1]}, "are both shard 1/2"},
		{"different counts", []string{two[0], three[1]}, "not slices of one run"},
		{"different options", []string{two[0], other[1]}, "different options"},
		{"not a sharded run", []string{notShard}, "not the output of a sharded run"},
		{"not a run", []string{t.TempDir()}, "no such file"},
		{"nothing", nil, "no shard directories"},
	} {
		out := filepath.Join(t.TempDir(), "merged")
		if _, err := Merge(tc.dirs, out); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: wrote %s", tc.name, out)
		}
	}
}
