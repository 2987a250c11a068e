package htmlreport

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Load takes a run directory, a run.json or a bench file, and says in one line why anything
// else is not one.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := `{"kind": "wsgilab.run/v1", "scenario": "s", "id": "1", "start": "2026-12-02T03:00:00Z", "plan": {}, "cells": [{"id": "a"}]}`
	write("run/run.json", run)
	in, err := Load(filepath.Join(dir, "run"))
	if err != nil || in.Run == nil || in.Dir != filepath.Join(dir, "run") || in.DefaultOutput() != filepath.Join(dir, "run", ReportFile) {
		t.Errorf("run dir: %+v, %v", in, err)
	}
	in, err = Load(filepath.Join(dir, "run", "run.json"))
	if err != nil || in.Run == nil || in.Dir != filepath.Join(dir, "run") {
		t.Errorf("run.json: %+v, %v", in, err)
	}
	in, err = Load(filepath.Join("testdata", "runs", "bench.json"))
	if err != nil || in.Bench == nil || in.DefaultOutput() != filepath.Join("testdata", "runs", "bench.html") {
		t.Errorf("bench: %+v, %v", in, err)
	}

	for name, c := range map[string]struct{ path, want string }{
		"missing":       {filepath.Join(dir, "nosuch"), "no such file"},
		"empty dir":     {filepath.Join(dir, "empty"), "not a run's output directory"},
		"not JSON":      {write("x.json", "{oops"), "not JSON"},
		"other JSON":    {write("other.json", `{"hello": 1}`), ErrNotResult.Error()},
		"JSON list":     {write("list.json", `[1]`), ErrNotResult.Error()},
		"other kind":    {write("cmp.json", `{"kind": "wsgilab.compare/v1"}`), "not a wsgilab run.json"},
		"old run":       {write("old/run.json", `{"scenario": "heartbeat", "cells": []}`), "no \"kind\""},
		"run, no cells": {write("bad/run.json", `{"kind": "wsgilab.run/v1", "scenario": "s", "cells": [{}]}`), "no id"},
	} {
		if name == "empty dir" {
			os.MkdirAll(c.path, 0o755)
		}
		_, err := Load(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line with %q", name, err, c.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "other.json")); !errors.Is(err, ErrNotResult) {
		t.Errorf("other JSON: %v is not ErrNotResult", err)
	}
}

// Cells reads each cell from its file when there is one, from run.json otherwise, and says
// which files were missing or unreadable.
func TestCells(t *testing.T) {
	dir := t.TempDir()
	runJSON := `{"kind": "wsgilab.run/v1", "scenario": "s", "id": "1", "start": "2026-12-02T03:00:00Z", "plan": {"n": 2},
		"cells": [{"id": "a", "x": 1}, {"id": "b", "x": 2}, {"id": "c", "x": 3}]}`
	os.WriteFile(filepath.Join(dir, "run.json"), []byte(runJSON), 0o644)
	os.WriteFile(filepath.Join(dir, "a.json"), []byte(`{"id": "a", "x": 10, "bulk": [1, 2, 3]}`), 0o644)
	os.WriteFile(filepath.Join(dir, "b.json"), []byte(`{oops`), 0o644)
	in, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	type cell struct {
		ID   string `json:"id"`
		X    int    `json:"x"`
		Bulk []int  `json:"bulk"`
	}
	var plan struct{ N int }
	cells, full, notes, err := Cells[cell](in.Run, in.Dir, &plan)
	if err != nil {
		t.Fatal(err)
	}
	if plan.N != 2 || cells[0].X != 10 || len(cells[0].Bulk) != 3 || cells[1].X != 2 || cells[2].X != 3 {
		t.Errorf("plan %+v, cells %+v", plan, cells)
	}
	if !full[0] || full[1] || full[2] {
		t.Errorf("full %v, want [true false false]", full)
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "b.json") || !strings.Contains(notes[1], "no cell file for c") {
		t.Errorf("notes %q", notes)
	}
	if _, _, notes, _ := Cells[cell](in.Run, "", nil); len(notes) != 1 || !strings.Contains(notes[0], "a, b, c") {
		t.Errorf("without a directory: notes %q", notes)
	}
}
