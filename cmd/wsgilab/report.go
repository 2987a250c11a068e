package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"wsgilab/internal/htmlreport"
	"wsgilab/internal/results"
	"wsgilab/internal/scenario"
)

const reportUsage = `Usage:
  wsgilab report RUN_DIR [-o report.html]
  wsgilab report RUN.json [-o report.html]
  wsgilab report BENCH.json [-o bench.html]

Writes one self-contained HTML page of a run: its configuration, the verdict table, the text
report, and the charts of its scenario (heartbeat: each cell's connections through the idle with
the phases shaded and every drop and reconnect marked, and the probe latency; spikes: every
request's latency with the cold starts marked, and the processes per second and per burst;
throughput: req/s of every run and each cell's mean with its 95% confidence interval). Of a
'wsgilab bench --json' file: the per-second timeline and the latency percentile spectrum.

The page opens offline in any browser: the data and the chart library (uPlot) are inlined, and it
makes no request. Long series are downsampled (LTTB). 'wsgilab run ... --html' writes the same
page as report.html beside run.json.

Default output: RUN_DIR/report.html, or the bench file's name with .html; "-o -" writes to
standard output.

Exit status: 0 written; 1 the input could not be used (missing, not a run or a bench result, a run
of a scenario this wsgilab does not know) or the output could not be written (e.g. -o in a missing
directory); 2 wrong usage. Nothing is written when the input or the output is refused.

Options:
`

func runReport(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("report", pflag.ContinueOnError)
	out := fs.StringP("out", "o", "", "the HTML file to write (default: report.html in the run's directory; \"-\": standard output)")
	if code, done := parseFlags(fs, reportUsage, args, stdout, stderr); done {
		return code
	}
	switch len(fs.Args()) {
	case 0:
		fmt.Fprintln(stderr, "wsgilab report: no run directory or result file given (see 'wsgilab report --help')")
		return 2
	case 1:
	default:
		fmt.Fprintf(stderr, "wsgilab report: one run or result at a time, got %d (see 'wsgilab report --help')\n", len(fs.Args()))
		return 2
	}
	in, err := htmlreport.Load(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "wsgilab report: %v\n", err)
		return 1
	}
	path := *out
	if path == "" {
		path = in.DefaultOutput()
	}
	// Refuse an output that cannot be written before rendering anything.
	if path != "-" {
		if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
			fmt.Fprintf(stderr, "wsgilab report: -o %s: no directory %s to write it in\n", path, filepath.Dir(path))
			return 1
		}
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			fmt.Fprintf(stderr, "wsgilab report: -o %s: is a directory\n", path)
			return 1
		}
	}
	var page *htmlreport.Page
	if in.Bench != nil {
		page = htmlreport.ForBench(in.Path, in.Bench)
	} else if page, err = runPage(in.Run, in.Dir); err != nil {
		fmt.Fprintf(stderr, "wsgilab report: %v\n", err)
		return 1
	}
	if path == "-" {
		err = page.Write(stdout)
	} else {
		err = page.WriteFile(path)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsgilab report: %v\n", err)
		return 1
	}
	if path != "-" {
		fmt.Fprintf(stdout, "Report: %s\n", path)
	}
	return 0
}

// errUnknownScenario says a run is of a scenario this wsgilab does not have.
var errUnknownScenario = errors.New("a run of a scenario this wsgilab does not know")

// runPage makes the HTML report of a run whose cell files are in dir: the run's scenario, from
// the registry, gives the text report and, if it draws any, the charts.
func runPage(run *results.Run, dir string) (*htmlreport.Page, error) {
	sc, ok := scenario.Lookup(run.Scenario)
	if !ok {
		return nil, fmt.Errorf("%w: %q (this wsgilab has %v)", errUnknownScenario, run.Scenario, scenario.Names())
	}
	return htmlreport.ForRun(run, dir, sc)
}

// writeRunReport writes report.html of a run beside its run.json (run --html).
func writeRunReport(run *results.Run, dir string) (string, error) {
	page, err := runPage(run, dir)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, htmlreport.ReportFile)
	return path, page.WriteFile(path)
}
