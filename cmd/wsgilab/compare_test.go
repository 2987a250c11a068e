package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"wsgilab/internal/compare"
	"wsgilab/internal/scenario"
)

// The fixtures are internal/compare's: one set of sample files for the package and the command.
func fixture(name string) string {
	return filepath.Join("..", "..", "internal", "compare", "testdata", name)
}

// recorded is the directory of a scenario's recorded run (what its golden table is printed from).
func recorded(name string) string {
	return filepath.Join("..", "..", "internal", "scenario", name, "testdata", "recorded")
}

// Any two runs of one scenario compare, whatever the scenario: its own comparison (heartbeat,
// spikes), its cells' metrics (throughput), or at least its cells' verdicts. Here each
// registered scenario's recorded run against itself: every cell paired, nothing changed.
func TestCompareRunsOfEveryScenario(t *testing.T) {
	for _, sc := range scenario.All() {
		t.Run(sc.Name(), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			dir := recorded(sc.Name())
			if code := run([]string{"compare", "--json", dir, filepath.Join(dir, "run.json")}, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			var c compare.Comparison
			if err := json.Unmarshal(stdout.Bytes(), &c); err != nil {
				t.Fatal(err)
			}
			if c.Input != sc.Name() || len(c.Cells)+len(c.Rows) == 0 {
				t.Fatalf("input %q, %d cells, %d rows", c.Input, len(c.Cells), len(c.Rows))
			}
			for _, cell := range c.Cells {
				if cell.Changed || cell.VerdictA != cell.VerdictB {
					t.Errorf("cell %s changed against itself: %+v", cell.Cell, cell)
				}
				for _, f := range cell.Figures {
					if f.Delta != nil && *f.Delta != 0 {
						t.Errorf("cell %s: %s moved by %v against itself", cell.Cell, f.Name, *f.Delta)
					}
				}
			}
			for _, r := range c.Rows {
				if r.Comparison.Significant {
					t.Errorf("%s %s: a significant difference against itself", r.Cell, r.Metric)
				}
			}
		})
	}
}

func TestCompareExitCodes(t *testing.T) {
	a, b := fixture("throughput_a.json"), fixture("throughput_b.json")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string // substring of the one error line
	}{
		{"two files", []string{a, b}, 0, ""},
		{"json", []string{"--json", a, b}, 0, ""},
		{"flags after files", []string{a, b, "--test", "welch", "--alpha", "0.01"}, 0, ""},
		{"sides split by --", []string{a, fixture("throughput_a2.json"), "--", b}, 0, ""},
		{"one run, pairwise", []string{fixture("throughput_small.json")}, 0, ""},
		{"run.json against an older result", []string{fixture("run_throughput.json"), b}, 0, ""},
		{"older result against run.json", []string{a, fixture("run_throughput.json")}, 0, ""},
		{"one run.json, pairwise", []string{fixture("run_throughput.json")}, 0, ""},
		{"help", []string{"--help"}, 0, ""},

		{"no files", nil, 2, "no files to compare"},
		{"three files without --", []string{a, a, b}, 2, `put "--" between`},
		{"empty side A", []string{"--", b}, 2, `each side of "--"`},
		{"empty side B", []string{a, "--"}, 2, `each side of "--"`},
		{"option after --", []string{a, "--", b, "--json"}, 2, "options go before the files"},
		{"unknown flag", []string{"--median", a, b}, 2, "unknown flag: --median"},
		{"bad test", []string{"--test", "ks", a, b}, 2, `unknown test "ks"`},
		{"bad alpha", []string{"--alpha", "5", a, b}, 2, "--alpha 5"},

		// Files that cannot be compared are bad input too: exit 2, one line.
		{"missing file", []string{fixture("nope.json"), b}, 2, "no such file"},
		{"not JSON", []string{fixture("notjson.json"), b}, 2, "not JSON"},
		{"unknown kind", []string{a, fixture("unknown_kind.json")}, 2, "unknown kind"},
		{"different kinds", []string{a, fixture("bench_event.json")}, 2, "compare files of one kind"},
		{"lone bench file", []string{fixture("bench_event.json")}, 2, "needs a second side"},
		{"lone run with one cell", []string{fixture("throughput_one_cell.json")}, 2, "nothing to compare"},
		{"runs of two scenarios", []string{fixture("run_no_metrics.json"), fixture("run_throughput.json")}, 2,
			"is a heartbeat run but " + fixture("run_throughput.json") + " is a throughput run: compare runs of one scenario"},
		{"run directories of two scenarios", []string{recorded("spikes"), recorded("heartbeat")}, 2,
			"is a spikes run but " + recorded("heartbeat") + " is a heartbeat run: compare runs of one scenario"},
		{"lone run without metrics", []string{fixture("run_no_metrics.json")}, 2, "its cells carry no metrics to compare"},
		{"run.json and bench file", []string{fixture("run_throughput.json"), fixture("bench_event.json")}, 2, "compare files of one kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"compare"}, tc.args...), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			if tc.code == 0 {
				if stdout.Len() == 0 || stderr.Len() != 0 {
					t.Errorf("stdout %d bytes, stderr %q", stdout.Len(), stderr.String())
				}
				return
			}
			if stdout.Len() != 0 {
				t.Errorf("wrote to stdout on error: %q", stdout.String())
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "wsgilab compare: ") || !strings.Contains(msg, tc.stderr) {
				t.Errorf("stderr = %q, want one 'wsgilab compare:' line containing %q", msg, tc.stderr)
			}
		})
	}
}

func TestCompareJSONOutput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"compare", "--json", "--test=welch", fixture("throughput_a.json"), fixture("throughput_b.json")}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var out struct {
		Kind string `json:"kind"`
		Test string `json:"test"`
		Rows []struct {
			Cell       string `json:"cell"`
			Comparison struct {
				Verdict string `json:"verdict"`
			} `json:"comparison"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout.String())
	}
	if out.Kind != "wsgilab.compare/v1" || out.Test != "Welch t" || len(out.Rows) != 6 || out.Rows[0].Comparison.Verdict == "" {
		t.Errorf("output = %+v", out)
	}
}

func TestCompareListedInUsage(t *testing.T) {
	var stdout bytes.Buffer
	run([]string{"--help"}, &stdout, &bytes.Buffer{})
	if !strings.Contains(stdout.String(), "compare ") {
		t.Errorf("usage does not list compare:\n%s", stdout.String())
	}
}
