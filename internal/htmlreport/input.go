package htmlreport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"wsgilab/internal/bench"
	"wsgilab/internal/results"
)

// Input is what a report is made of: a run (run.json and the directory of its cell files) or
// a `wsgilab bench --json` result.
type Input struct {
	// Path is what was given; Dir the run's directory (the cell files), "" for a bench file.
	Path, Dir string
	Run       *results.Run
	Bench     *bench.Result
}

// DefaultOutput is where a report goes when -o is not given: report.html in the run's
// directory (beside run.json), or the bench file's name with .html.
func (in Input) DefaultOutput() string {
	if in.Run != nil {
		return filepath.Join(in.Dir, ReportFile)
	}
	return strings.TrimSuffix(in.Path, filepath.Ext(in.Path)) + ".html"
}

// ReportFile is the report's name in a run's output directory.
const ReportFile = "report.html"

// ErrNotResult says a file is neither a run nor a bench result.
var ErrNotResult = errors.New("not a wsgilab run (run.json, kind " + results.RunKind + ") or 'wsgilab bench --json' result")

// Load reads a run directory, a run.json, or a bench --json file.
func Load(path string) (Input, error) {
	in := Input{Path: path}
	file := path
	st, err := os.Stat(path)
	if err != nil {
		return in, err // *PathError names the path
	}
	if st.IsDir() {
		file = filepath.Join(path, results.RunFile)
		if _, err := os.Stat(file); err != nil {
			return in, fmt.Errorf("%s: a directory without %s: not a run's output directory", path, results.RunFile)
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return in, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		if !json.Valid(data) {
			return in, fmt.Errorf("%s: not JSON: %v", file, err)
		}
		return in, fmt.Errorf("%s: %w", file, ErrNotResult)
	}
	_, kind := top["kind"]
	_, cells := top["cells"]
	if kind || cells || st.IsDir() { // a run, or a run this wsgilab does not read (Parse says why)
		run, err := results.Parse(file, data)
		if err != nil {
			return in, err
		}
		in.Run, in.Dir = run, filepath.Dir(file)
		return in, nil
	}
	for _, k := range []string{"url", "timeline", "complete", "elapsed_ns"} {
		if _, ok := top[k]; !ok {
			return in, fmt.Errorf("%s: %w", file, ErrNotResult)
		}
	}
	b, err := bench.ReadResult(bytes.NewReader(data))
	if err != nil {
		return in, fmt.Errorf("%s: bench result: %v", file, err)
	}
	in.Bench = b
	return in, nil
}

// Cells decodes a run's plan into plan and its cells as C (a scenario's cell type), each from
// its cell file in dir (<id>.json: the whole cell, with its timelines and request logs) when
// there is one, else from run.json (the cell without its bulk). full[i] says which; notes say
// which cell files were missing or unreadable, for the report to show. A charter draws what
// the summary has and says what it could not draw.
func Cells[C any](run *results.Run, dir string, plan any) (cells []C, full []bool, notes []string, err error) {
	cells, err = results.Decode[C](run, plan)
	if err != nil {
		return nil, nil, nil, err
	}
	ids, err := run.CellIDs()
	if err != nil {
		return nil, nil, nil, err
	}
	full = make([]bool, len(cells))
	var missing []string
	for i, id := range ids {
		if dir == "" {
			missing = append(missing, id)
			continue
		}
		path := filepath.Join(dir, results.CellFile(id))
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			missing = append(missing, id)
			continue
		}
		var c C
		if err == nil {
			err = json.Unmarshal(data, &c)
		}
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: %v; drawn from run.json", results.CellFile(id), err))
			continue
		}
		cells[i], full[i] = c, true
	}
	if len(missing) > 0 {
		notes = append(notes, fmt.Sprintf("no cell file for %s: drawn from run.json, without timelines", strings.Join(missing, ", ")))
	}
	return cells, full, notes, nil
}
