package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"wsgilab/internal/compare"
	"wsgilab/internal/results"
	"wsgilab/internal/scenario"
	"wsgilab/internal/stats"
)

const compareUsage = `Usage:
  wsgilab compare [options] A.json B.json
  wsgilab compare [options] A1.json A2.json ... -- B1.json B2.json ...
  wsgilab compare [options] RUN.json

Compares saved results: what changed from A (the baseline) to B, and whether the difference is
more than noise. For samples (repetitions): the mean of each side with its 95% confidence
interval (Student's t), the difference of the means in percent when it is significant ("~"
when it is not), the ratio B/A with its 95% confidence interval (Fieller), the p-value and the
test that gave it, the way benchstat does.

Inputs are 'wsgilab bench --json' outputs, run.json files (or run directories) of 'wsgilab
run', of any scenario, or older throughput results (kind "wsgilab.throughput/v1"), which compare
with run.json files like them. All files must be of one kind, and runs of one scenario.
  - two runs of a scenario that compares its runs (heartbeat, spikes): each cell's verdict on
    both sides (changed or not) and the figures it measured once (time to drop, probe latency;
    p99, cold starts), as differences; and the scenario's repetitions as samples (spikes: each
    burst's p99 and cold starts);
  - runs whose cells carry metrics (throughput): cells are paired by id and metrics by name,
    each value of a metric being one repetition of the cell;
  - one bench file per side: the samples are the runs' per-second timelines (req/s of each
    full second, p50/p99 of each second); seconds of one run are not independent
    repetitions, so prefer several runs per side;
  - several files on a side (put "--" between the sides): each bench file is one repetition
    (its req/s, p50, p99); runs pool the repetitions of each cell (runs with metrics only);
  - one run.json alone: every pair of its cells is compared (runs with metrics; a lone bench
    file is an error).

Exit status: 0 compared; 2 wrong usage or input files that cannot be compared (missing, not JSON,
unknown or mixed kinds, runs of two scenarios, nothing in common), in one line on stderr, with
nothing on standard output; 1 writing the output failed.

Options:
`

func runCompare(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("compare", pflag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the comparison as JSON (kind \"wsgilab.compare/v1\")")
	testName := fs.String("test", "utest", "two-sample test: utest (Mann-Whitney U, as benchstat) or welch (Welch's t)")
	alpha := fs.Float64("alpha", stats.Alpha, "significance level: a difference is reported when p < alpha")
	if code, done := parseFlags(fs, compareUsage, args, stdout, stderr); done {
		return code
	}
	test, err := stats.ParseTest(*testName)
	if err != nil {
		return compareUsageError(stderr, "--test: "+err.Error())
	}
	if !(*alpha > 0 && *alpha < 1) {
		return compareUsageError(stderr, fmt.Sprintf("--alpha %v: want a number between 0 and 1", *alpha))
	}
	opt := compare.Options{Test: test, Alpha: *alpha}

	files := fs.Args()
	var aFiles, bFiles []string
	if dash := fs.ArgsLenAtDash(); dash >= 0 {
		aFiles, bFiles = files[:dash], files[dash:]
		if len(aFiles) == 0 || len(bFiles) == 0 {
			return compareUsageError(stderr, "need at least one file on each side of \"--\"")
		}
		// After "--" every word is a file; an option there is a slip, not a file name.
		for _, f := range bFiles {
			if strings.HasPrefix(f, "-") {
				return compareUsageError(stderr, fmt.Sprintf("%q after \"--\": options go before the files", f))
			}
		}
	} else {
		switch len(files) {
		case 0:
			return compareUsageError(stderr, "no files to compare")
		case 1:
		case 2:
			aFiles, bFiles = files[:1], files[1:]
		default:
			return compareUsageError(stderr, fmt.Sprintf("%d files and no \"--\": put \"--\" between side A's files and side B's", len(files)))
		}
	}

	var cmp *compare.Comparison
	switch {
	case aFiles == nil:
		cmp, err = comparePairwise(files[0], opt)
	case len(aFiles) == 1 && len(bFiles) == 1:
		ra, errA := results.Load(aFiles[0])
		rb, errB := results.Load(bFiles[0])
		if errA == nil && errB == nil {
			cmp, err = compareScenarioRuns(aFiles[0], bFiles[0], ra, rb, opt)
		}
		if cmp == nil && err == nil {
			cmp, err = compare.CompareFiles(aFiles, bFiles, opt)
		}
		if err == nil && errA == nil && errB == nil {
			cmp.Notes = append(cmp.Notes, conditionNotes(ra, rb)...)
		}
	default:
		cmp, err = compare.CompareFiles(aFiles, bFiles, opt)
	}
	if err != nil {
		// Every error here is about the files given: bad input, like a bad option.
		fmt.Fprintf(stderr, "wsgilab compare: %v\n", err)
		return 2
	}
	// Render fully before writing so that a failure cannot leave half a table behind.
	var out bytes.Buffer
	if *asJSON {
		err = cmp.WriteJSON(&out)
	} else {
		err = cmp.WriteText(&out)
	}
	if err == nil {
		_, err = stdout.Write(out.Bytes())
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsgilab compare: %v\n", err)
		return 1
	}
	return 0
}

// compareScenarioRuns compares two runs, ra read from a and rb from b, of one scenario: the
// scenario's own comparison when it has one (compare.RunComparer, looked up in the registry:
// verdicts, single figures, its own samples), else the cells' verdicts when the cells carry no
// metrics. It returns nil and no error for runs whose cells carry metrics, for CompareFiles to
// compare their samples.
func compareScenarioRuns(a, b string, ra, rb *results.Run, opt compare.Options) (*compare.Comparison, error) {
	if ra.Scenario != rb.Scenario {
		return nil, fmt.Errorf("%s is a %s run but %s is a %s run: compare runs of one scenario", a, ra.Scenario, b, rb.Scenario)
	}
	var cmp *compare.Comparison
	var err error
	sc, _ := scenario.Lookup(ra.Scenario)
	if rc, ok := sc.(compare.RunComparer); ok {
		cmp, err = rc.CompareRuns(ra, rb, opt)
	} else {
		_, errA := compare.FromRun(ra)
		_, errB := compare.FromRun(rb)
		if errA == nil && errB == nil {
			return nil, nil // cells with metrics: CompareFiles compares their samples
		}
		cmp, err = compare.CompareVerdicts(ra, rb, opt)
	}
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", a, b, err)
	}
	cmp.A, cmp.B = compare.RunSides(a, b)
	return cmp, nil
}

// conditionNotes are the notes of the runs' scenario about the conditions each ran under
// (compare.RunNoter), when that scenario records them; ra and rb are runs of one scenario
// (compareScenarioRuns refused any others).
func conditionNotes(ra, rb *results.Run) []string {
	sc, _ := scenario.Lookup(ra.Scenario)
	if rn, ok := sc.(compare.RunNoter); ok {
		return rn.CompareNotes(ra, rb)
	}
	return nil
}

// comparePairwise handles a lone file, which only makes sense for a run: its cells are compared
// with each other.
func comparePairwise(path string, opt compare.Options) (*compare.Comparison, error) {
	in, err := compare.Load(path)
	if err != nil {
		return nil, err
	}
	if in.Kind != compare.InputRun {
		return nil, fmt.Errorf("%s is a %s result: comparing needs a second side (wsgilab compare A.json B.json)", path, in.Kind)
	}
	return compare.ComparePairwise(path, in.Run, opt)
}

func compareUsageError(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "wsgilab compare: %s (see 'wsgilab compare --help')\n", msg)
	return 2
}
