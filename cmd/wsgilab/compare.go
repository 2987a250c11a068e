package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"wsgilab/internal/compare"
	"wsgilab/internal/stats"
)

const compareUsage = `Usage:
  wsgilab compare [options] A.json B.json
  wsgilab compare [options] A1.json A2.json ... -- B1.json B2.json ...
  wsgilab compare [options] RUN.json

Compares saved results the way benchstat does: for each metric, the mean of each side with its
95% confidence interval (Student's t), the difference of the means in percent when it is
significant ("~" when it is not), the p-value and the test that gave it.

Inputs are 'wsgilab bench --json' outputs, or run.json files of 'wsgilab run' (kind
"wsgilab.run/v1", of any scenario whose cells carry metrics: today the throughput scenario),
or older throughput results (kind "wsgilab.throughput/v1"), which compare with run.json files
like them. All files must be of one kind, and runs of one scenario. Side A is the baseline.
  - one bench file per side: the samples are the runs' per-second timelines (req/s of each
    full second, p50/p99 of each second); seconds of one run are not independent
    repetitions, so prefer several runs per side;
  - runs: cells are paired by id and metrics by name, each value of a metric being one
    repetition of the cell; cells without metrics are left out;
  - several files on a side (put "--" between the sides): each bench file is one repetition
    (its req/s, p50, p99); runs pool the repetitions of each cell;
  - one run.json alone: every pair of its cells is compared (a lone bench file is an error).

Exit status: 0 compared; 1 an input file could not be used (missing, not JSON, unknown or mixed
kinds, a run whose cells carry no metrics, nothing in common); 2 wrong usage. On error nothing
is written to standard output.

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
	if aFiles == nil {
		cmp, err = comparePairwise(files[0], opt)
	} else {
		cmp, err = compare.CompareFiles(aFiles, bFiles, opt)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsgilab compare: %v\n", err)
		return 1
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
