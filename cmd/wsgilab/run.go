package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"wsgilab/internal/runner"
	"wsgilab/internal/scenario"
)

// run: one scenario of the registry across its matrix. This file knows no scenario: it looks
// the name up, lets the scenario add its options, and prints the run with the scenario's
// own report.

const runHeader = `Usage:
  wsgilab run [SCENARIO] [options]

Runs a scenario across a matrix of stack configurations (cells) and prints one table with a
verdict, or the figures, and the evidence per cell. Cells share one private RabbitMQ node (or the
broker given with --broker/--management), each on its own vhost, with its own Apache, ports and
directory; a scenario whose cells break their broker gives each cell a private node of its own. Results: the table on stdout (or JSON with --json), and run.json plus one JSON per cell
(with its whole timeline) under --out. A large matrix can be split over machines with --shard
I/N and joined with 'wsgilab merge' (docs/scale-out.md).

Scenarios ('wsgilab run SCENARIO --help' for each one's options):
`

// runFlags are the options every scenario has: where results go and which broker to use.
type runFlags struct {
	out, brokerURL, mgmtURL, shard *string
	noOut, asJSON, keep, quiet     *bool
	html                           *bool
}

func addRunFlags(fs *pflag.FlagSet) runFlags {
	return runFlags{
		out:       fs.String("out", "", "directory for run.json and per-cell JSON (default wsgilab-out/<scenario>-<time>)"),
		noOut:     fs.Bool("no-out", false, "write no result files"),
		asJSON:    fs.Bool("json", false, "print the run's JSON (run.json: cells without their timelines) on stdout instead of the table"),
		brokerURL: fs.String("broker", "", "use an existing broker: amqp://user:pass@host:port/ (default: start a private node)"),
		mgmtURL:   fs.String("management", "", "its management API: http://user:pass@host:port/"),
		keep:      fs.Bool("keep", false, "keep the run directory (Apache configs, logs) after the run"),
		shard:     fs.String("shard", "", "run only the I-th of N slices of the matrix (I/N, e.g. 1/4); join the outputs with 'wsgilab merge'"),
		quiet:     fs.BoolP("quiet", "q", false, "no progress lines on stderr"),
		html:      fs.Bool("html", false, "also write report.html (verdicts and charts, one self-contained page) beside run.json; see 'wsgilab report'"),
	}
}

func runRun(args []string, stdout, stderr io.Writer) int {
	sc, named := scenario.Default(), false
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		s, ok := scenario.Lookup(args[0])
		if !ok {
			fmt.Fprintf(stderr, "wsgilab run: unknown scenario %q (available: %s)\n", args[0], strings.Join(scenario.Names(), ", "))
			return 2
		}
		sc, named, args = s, true, args[1:]
	}
	name := sc.Name()
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	build := sc.Flags(fs)
	common := pflag.NewFlagSet("common", pflag.ContinueOnError)
	rf := addRunFlags(common)
	fs.AddFlagSet(common)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			writeRunUsage(stdout, sc, named, fs, common)
			return 0
		}
		fmt.Fprintf(stderr, "wsgilab run %s: %v (see 'wsgilab run %s --help')\n", name, err, name)
		return 2
	}
	if rest := fs.Args(); len(rest) > 0 {
		if _, ok := scenario.Lookup(rest[0]); ok && !named {
			fmt.Fprintf(stderr, "wsgilab run: put the scenario first: wsgilab run %s [options]\n", rest[0])
		} else if ok || named {
			fmt.Fprintf(stderr, "wsgilab run %s: one scenario at a time, got %q\n", name, rest)
		} else {
			fmt.Fprintf(stderr, "wsgilab run: unknown scenario %q (available: %s)\n", rest[0], strings.Join(scenario.Names(), ", "))
		}
		return 2
	}
	plan, err := build()
	if err != nil {
		fmt.Fprintf(stderr, "wsgilab run %s: %v\n", name, err)
		return 2
	}
	o := runner.Options{BrokerURL: *rf.brokerURL, ManagementURL: *rf.mgmtURL, Keep: *rf.keep}
	if *rf.shard != "" {
		if o.Shard, err = runner.ParseShard(*rf.shard); err != nil {
			fmt.Fprintf(stderr, "wsgilab run %s: %v\n", name, err)
			return 2
		}
	}
	if *rf.html && *rf.noOut {
		fmt.Fprintf(stderr, "wsgilab run %s: --html writes report.html beside run.json: not with --no-out\n", name)
		return 2
	}
	switch {
	case *rf.noOut:
	case *rf.out != "":
		o.OutDir = *rf.out
	default:
		o.OutDir = filepath.Join("wsgilab-out", name+"-"+time.Now().Format("20060102-150405"))
		if o.Shard.Count > 0 {
			o.OutDir += fmt.Sprintf("-shard-%d-of-%d", o.Shard.Index, o.Shard.Count)
		}
	}
	// Checked once the output directory is known: it is written at the end of the run, and
	// a bad one must fail before anything starts, like any other argument.
	if _, err := runner.Check(plan, o); err != nil {
		fmt.Fprintf(stderr, "wsgilab run %s: %v\n", name, err)
		return 2
	}
	if !*rf.quiet {
		o.Progress = stderr
	}

	ctx, cleanup := signalContext(stderr)
	defer cleanup()
	out, err := runner.Run(ctx, name, plan, o)
	if out == nil {
		fmt.Fprintf(stderr, "wsgilab run %s: %v\n", name, err)
		return 1
	}
	if *rf.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out.Run)
	} else {
		if werr := sc.WriteText(stdout, out.Run); werr != nil && err == nil {
			err = werr
		}
		if o.OutDir != "" {
			fmt.Fprintf(stdout, "\nResults: %s/run.json and one JSON per cell (timelines, evidence).\n", o.OutDir)
		}
		// The failed cells' reasons point at their logs, which are kept for that.
		for _, d := range out.Kept {
			fmt.Fprintf(stdout, "Kept: %s (a failed cell's configs and logs; remove it when done).\n", d)
		}
	}
	if *rf.html && o.OutDir != "" {
		path, herr := writeRunReport(out.Run, o.OutDir)
		if herr != nil {
			fmt.Fprintf(stderr, "wsgilab run %s: report: %v\n", name, herr)
			if err == nil {
				return 1
			}
		} else if !*rf.asJSON {
			fmt.Fprintf(stdout, "Report: %s\n", path)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsgilab run %s: %v\n", name, err)
		return 1
	}
	return 0
}

// writeRunUsage prints `wsgilab run [SCENARIO] --help`: what run does, the scenarios, and the
// options of the scenario asked about (the default one when none was named) and of every run.
func writeRunUsage(w io.Writer, sc runner.Scenario, named bool, fs, common *pflag.FlagSet) {
	if named {
		fmt.Fprintf(w, "Usage:\n  wsgilab run %s [options]\n\n%s\n", sc.Name(), sc.Usage())
	} else {
		fmt.Fprint(w, runHeader)
		for i, s := range scenario.All() {
			def := ""
			if i == 0 {
				def = " (default)"
			}
			fmt.Fprintf(w, "  %s%s\n      %s\n", s.Name(), def, s.Summary())
		}
		fmt.Fprintf(w, "\nThe default scenario, %s:\n\n%s\n", sc.Name(), sc.Usage())
	}
	own := pflag.NewFlagSet("own", pflag.ContinueOnError)
	fs.VisitAll(func(f *pflag.Flag) {
		if common.Lookup(f.Name) == nil {
			own.AddFlag(f)
		}
	})
	fmt.Fprintf(w, "Options of %s:\n%s\nOptions of every scenario:\n%s", sc.Name(), own.FlagUsages(), common.FlagUsages())
}
