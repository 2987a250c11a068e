package compare

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"wsgilab/internal/bench"
	"wsgilab/internal/results"
)

// Input kinds a comparison can read.
const (
	InputBench = "bench" // `wsgilab bench --json` output (bench.Result)
	InputRun   = "run"   // a run's per-cell series (RunSamples): a run.json, or an older throughput result
)

// Input is one loaded result file.
type Input struct {
	Path string
	// Kind is InputBench or InputRun.
	Kind string
	// Exactly one of these is set, according to Kind.
	Run   *RunSamples
	Bench *bench.Result
}

// what names the input's kind in errors: "bench result", "throughput run".
func (in Input) what() string {
	if in.Kind == InputRun {
		return in.Run.Scenario + " run"
	}
	return in.Kind + " result"
}

// Load reads a result file (or a run directory's run.json) and tells its kind. A file is a run when its "kind" is
// results.RunKind (run.json: its cells' metrics, FromRun) or ThroughputKind (an older
// throughput result), and a bench result when it looks like `wsgilab bench --json` output (see
// looksLikeBench). The errors name the file and say what was wrong with it.
func Load(path string) (Input, error) {
	// A run directory stands for its run.json, as everywhere else a run is read.
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, results.RunFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Input{}, err // *PathError already names the file
	}
	return parse(path, data)
}

func parse(path string, data []byte) (Input, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		if !json.Valid(data) {
			return Input{}, fmt.Errorf("%s: not JSON: %v", path, err)
		}
		return Input{}, fmt.Errorf("%s: not a JSON object (a saved wsgilab result is one)", path)
	}
	var kind string
	if raw, ok := top["kind"]; ok {
		if err := json.Unmarshal(raw, &kind); err != nil {
			return Input{}, fmt.Errorf("%s: \"kind\" is not a string", path)
		}
	}
	switch {
	case kind == results.RunKind:
		run, err := results.Parse(path, data) // its errors name the file
		if err != nil {
			return Input{}, err
		}
		r, err := FromRun(run)
		if err != nil {
			return Input{}, fmt.Errorf("%s: %w", path, err)
		}
		return Input{Path: path, Kind: InputRun, Run: r}, nil
	case kind == ThroughputKind:
		r, err := parseLegacyThroughput(data)
		if err != nil {
			return Input{}, fmt.Errorf("%s: %w", path, err)
		}
		return Input{Path: path, Kind: InputRun, Run: r}, nil
	case kind == CompareKind:
		return Input{}, fmt.Errorf("%s: is the output of 'wsgilab compare', not a result to compare", path)
	case strings.HasPrefix(kind, "wsgilab.run/"):
		return Input{}, fmt.Errorf("%s: unsupported version %q (this wsgilab reads %q)", path, kind, results.RunKind)
	case strings.HasPrefix(kind, "wsgilab.throughput/"):
		return Input{}, fmt.Errorf("%s: unsupported version %q (this wsgilab reads %q)", path, kind, ThroughputKind)
	case kind == "" && looksLikeBench(top):
		b, err := parseBench(data)
		if err != nil {
			return Input{}, fmt.Errorf("%s: bench result: %v", path, err)
		}
		return Input{Path: path, Kind: InputBench, Bench: b}, nil
	case kind != "":
		return Input{}, fmt.Errorf("%s: unknown kind %q (want 'wsgilab bench --json' output or a run.json)", path, kind)
	}
	return Input{}, fmt.Errorf("%s: not a wsgilab result (no \"kind\", and not 'wsgilab bench --json' output)", path)
}

func loadAll(paths []string) ([]Input, error) {
	out := make([]Input, 0, len(paths))
	for _, p := range paths {
		in, err := Load(p)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}
