package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"wsgilab/internal/runner"
	"wsgilab/internal/scenario"
)

const mergeUsage = `Usage:
  wsgilab merge SHARD_DIR... --out DIR [--json]

Joins the output directories of every shard of one run ('wsgilab run ... --shard I/N' for I = 1..N,
on one machine or many) into DIR: run.json with every cell in the matrix's order, as one unsharded
run would have written it, and each cell's JSON copied beside it; then prints the run's table.
The shards must be of one scenario, one set of options and one matrix, each index exactly once.
See docs/scale-out.md for Kubernetes and ssh/GNU parallel examples.

Exit status: 0 merged; 2 wrong usage, a shard directory that cannot be used (missing, not a
sharded run, from another run, a shard missing or given twice) or a DIR that already holds a run;
1 writing DIR failed. Nothing is written when an input is refused.

Options:
`

func runMerge(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("merge", pflag.ContinueOnError)
	out := fs.StringP("out", "o", "", "directory for the merged run.json and cell files (required)")
	asJSON := fs.Bool("json", false, "print the merged run.json on stdout instead of the table")
	if code, done := parseFlags(fs, mergeUsage, args, stdout, stderr); done {
		return code
	}
	switch {
	case len(fs.Args()) == 0:
		fmt.Fprintln(stderr, "wsgilab merge: no shard directories given (see 'wsgilab merge --help')")
		return 2
	case *out == "":
		fmt.Fprintln(stderr, "wsgilab merge: --out DIR is required (see 'wsgilab merge --help')")
		return 2
	}
	run, err := runner.Merge(fs.Args(), *out)
	if err != nil {
		fmt.Fprintf(stderr, "wsgilab merge: %v\n", err)
		// A shard directory or --out that cannot be used is bad input, like a bad option.
		if _, writing := errors.AsType[*runner.OutputError](err); writing {
			return 1
		}
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(run)
		return 0
	}
	sc, ok := scenario.Lookup(run.Scenario)
	if !ok {
		fmt.Fprintf(stderr, "wsgilab merge: merged into %s, but this wsgilab has no %q scenario to print it\n", *out, run.Scenario)
		return 1
	}
	if err := sc.WriteText(stdout, run); err != nil {
		fmt.Fprintf(stderr, "wsgilab merge: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "\nMerged %d shards into %s/run.json.\n", len(run.Merged), *out)
	return 0
}
