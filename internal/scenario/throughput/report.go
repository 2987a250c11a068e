package throughput

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"wsgilab/internal/compare"
	"wsgilab/internal/report"
	"wsgilab/internal/results"
	"wsgilab/internal/runner"
	"wsgilab/internal/stats"
)

// Scenario is the throughput scenario (registered in internal/scenario).
type Scenario struct{}

func (Scenario) Name() string { return "throughput" }

func (Scenario) Summary() string {
	return "ab -c 10 runs of 2 s, R per cell, interleaved after a warm-up that loads the app everywhere: mean req/s with a 95% CI, each pair's ratio with its CI and a significance test"
}

func (Scenario) Usage() string {
	return `The write-ups compared MPMs with one 'ab -n 1000 -c 10' per configuration (563 vs 531 req/s)
although such numbers drift by ±20% from run to run. This scenario starts every cell of the
matrix at once (each its own server on its own port) and warms each up with ab-like runs that are
thrown away, until a run loads the app in no process (--warmup to --max-warmup runs of
--warmup-duration: the first requests of each process load the interpreter and the app). Then
--reps measured runs of --duration per cell (-n instead, to mimic the write-ups' 1000 requests,
which last a fraction of a second here), in an interleaved order that cancels the machine's
drift (balanced: A B B A A B ...), then one more run of every cell while a cell's req/s 95% CI
is wider than --ci-target % of its mean, up to --max-reps; one run at a time, without keep-alive, on --path (default "/",
the fake service's cheap page). Every run starts once the app processes of every cell are idle
(an import, or a request the previous run abandoned at its end, still running would take its
CPU). A measured run during which a process loaded the app (mod_wsgi's log: prefork forked a
child mid-run, whose first request waited for the import) is run again, up to --max-reruns times;
the run it replaces is reported, not counted.

Per cell: mean req/s with its 95% confidence interval (Student's t) and the interval's half-width
in percent of the mean, mean p50 and p99; then each pair of cells compared the way benchstat
does: the difference of the means when it is significant ("~" when it is not), the ratio of the
means with its 95% confidence interval (Fieller's), the p-value and the test (Mann-Whitney U by
default, --test welch for Welch's t). Below the table: how much of the machine's CPU processes
other than wsgilab's took during the measured runs (/proc: the machine's busy time less that of
wsgilab and what it started; a busy machine gives lower, noisier req/s and can move the ratio),
and any cell still wider than --ci-target. Each cell of run.json carries its series ("metrics"):
'wsgilab compare run.json' prints the same comparison, 'wsgilab compare A B' compares two runs.

Default: --mpm prefork,event --mode embedded (the write-up's comparison), MPM settings at Apache's
defaults except prefork's spare servers: it starts 2 x -c + 5 children (a -c 10 run
without keep-alive kept 26 busy here: a child also holds a closing connection) and keeps every
child it forks (MaxSpareServers 256). With Apache's (--mpm-defaults: 5 children, 5 to 10 spare), a -c 10 load
keeps prefork forking children and reaping them all through a run, each new child loading the
app (a second or more of CPU), so that a run's req/s depends on how many it created (the spikes
scenario's subject). -c 10, warm-up runs of 1 s, then 6 to 10 runs of 2 s per cell (until every req/s CI is within 5%).

`
}

func (Scenario) Flags(fs *pflag.FlagSet) func() (runner.Plan, error) {
	p := DefaultPlan()
	matrix := runner.MatrixFlags(fs, "prefork,event", "embedded", "green")
	fs.IntVarP(&p.Requests, "requests", "n", p.Requests, "requests per run (ab -n), instead of --duration")
	fs.DurationVar(&p.Duration, "duration", p.Duration, "length of each measured run")
	fs.IntVarP(&p.Concurrency, "concurrency", "c", p.Concurrency, "requests in flight (ab -c)")
	fs.IntVar(&p.Repetitions, "reps", p.Repetitions, "measured runs per cell, at least")
	fs.IntVar(&p.MaxRepetitions, "max-reps", p.MaxRepetitions, "measured runs per cell at most, while a cell's req/s CI is wider than --ci-target")
	fs.Float64Var(&p.TargetHalfWidthPct, "ci-target", p.TargetHalfWidthPct, "req/s CI half-width to reach, in % of the mean: one more round of runs while a cell's is wider (0: exactly --reps runs)")
	fs.IntVar(&p.WarmupRuns, "warmup", p.WarmupRuns, "discarded runs per cell before the measured ones, at least")
	fs.IntVar(&p.MaxWarmupRuns, "max-warmup", p.MaxWarmupRuns, "warm-up runs per cell at most, while runs still load the app")
	fs.DurationVar(&p.WarmupDuration, "warmup-duration", p.WarmupDuration, "length of each warm-up run (with -n: -n requests)")
	fs.IntVar(&p.MaxReruns, "max-reruns", p.MaxReruns, "re-runs of a measured run during which a process loaded the app")
	fs.BoolVar(&p.MPMDefaults, "mpm-defaults", false, "keep Apache's spare-server defaults for prefork (5 children, 5-10 spare; default: 2 x -c + 5 children, every child kept): prefork then forks and reaps children all through a -c 10 run")
	fs.StringVar(&p.Order, "order", p.Order, "order of the measured runs: balanced (A B B A ...) or interleaved (A B A B ...)")
	fs.StringVar(&p.Path, "path", p.Path, "endpoint to load")
	importCost := p.Base.ImportCost
	service := runner.ServiceFlags(fs, runner.ServiceDefaults{ProcessesHelp: "default mod_wsgi's 1",
		ThreadsHelp: "default mod_wsgi's 15", ImportCost: &importCost, MonkeyPatch: true})
	testName := fs.String("test", "utest", "two-sample test: utest (Mann-Whitney U, as benchstat) or welch (Welch's t)")
	fs.Float64Var(&p.Alpha, "alpha", p.Alpha, "significance level: a difference is reported when p < alpha")
	return func() (runner.Plan, error) {
		var err error
		// -n alone replaces the default duration; both given is refused by Validate.
		if fs.Changed("requests") {
			if p.Requests < 1 {
				return nil, fmt.Errorf("-n %d: must be >= 1", p.Requests)
			}
			if !fs.Changed("duration") {
				p.Duration = 0
			}
		}
		if p.Matrix, err = matrix(); err != nil {
			return nil, err
		}
		if p.Test, err = stats.ParseTest(*testName); err != nil {
			return nil, fmt.Errorf("--test: %w", err)
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		if p.Base, err = service(); err != nil {
			return nil, err
		}
		p.App, p.MonkeyPatch = p.Base.AppPath, p.Base.MonkeyPatch
		return &p, nil
	}
}

// WriteText prints a throughput run: per cell the mean of each metric with its 95%
// confidence interval, then every pair of cells compared the way benchstat does (delta of the
// means when significant, p-value, test), as `wsgilab compare run.json` prints it.
func (Scenario) WriteText(w io.Writer, run *results.Run) error {
	var p Plan
	cells, err := results.Decode[CellResult](run, &p)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "wsgilab run %s: %d cells up at once; per cell warm-up runs until one loads the app in no process (discarded),\nthen %s runs of %s at -c %d (GET %s, no keep-alive), %s order, a run during which a process loaded the app run again; %.0fs in all\n",
		run.Scenario, len(cells), p.repsText(), p.runLength(), p.Concurrency, p.Path, p.Order, run.Elapsed)
	for _, c := range cells {
		if t := c.Throughput; t != nil && t.MaxSpareServers > 0 {
			fmt.Fprintf(w, "%s: StartServers %d, MaxSpareServers %d: prefork keeps the children it forks (--mpm-defaults: Apache's 5 and 10)\n",
				c.ID, t.StartServers, t.MaxSpareServers)
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	coldRuns, replacedRuns := false, false
	specs := make([]runner.CellSpec, len(cells))
	for i, c := range cells {
		specs[i] = c.Spec
	}
	fmt.Fprintln(tw, "CELL\t"+report.ServerHeader(specs)+"\tREQ/S (MEAN ± 95% CI)\tP50 MS\tP99 MS\tRUNS\tREQ/S PER RUN")
	for _, c := range cells {
		t := c.Throughput
		if t == nil || len(t.Summary) == 0 {
			srv, workers := report.ServerColumns(specs, c.Spec)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t-\t0\t-\n", c.ID, srv, workers, c.Verdict.Kind)
			continue
		}
		var perRun string
		for _, r := range t.Repetitions {
			if r.Error != "" {
				continue
			}
			if perRun != "" {
				perRun += " "
			}
			v := strconv.FormatFloat(r.ReqPerSec, 'f', 0, 64)
			if r.ColdStarts > 0 {
				v += "*"
				coldRuns = true
			}
			if r.Replaced {
				v = "(" + v + ")"
				replacedRuns = true
			}
			perRun += v
		}
		rps := t.Summary[stats.MetricThroughput]
		srv, workers := report.ServerColumns(specs, c.Spec)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", c.ID, srv, workers,
			report.PlusMinus(rps, 1)+ciPercent(rps), report.PlusMinus(t.Summary[stats.MetricP50], 2), report.PlusMinus(t.Summary[stats.MetricP99], 2),
			rps.N, perRun)
	}
	tw.Flush()
	_, last, _ := strings.Cut(report.ServerHeader(specs), "\t")
	fmt.Fprintf(w, "\nThe cell's configuration: the columns up to %s. Measured: the others; (%%): the CI's half-width in %% of the mean.\n", last)
	if coldRuns {
		fmt.Fprintln(w, "* a process loaded the app during that run (mod_wsgi \"Loading Python script file\"): Apache created it")
		fmt.Fprintln(w, "  mid-run, and the request it took waited for the import, which stretches the run's duration.")
	}
	if replacedRuns {
		fmt.Fprintln(w, "(...) a run replaced by a re-run because a process loaded the app during it; not in the sample.")
	}
	for _, c := range cells {
		if c.Verdict.Kind != results.Measured || len(c.Notes) > 0 {
			report.Verdict(w, &c.Cell)
			for _, n := range c.Notes {
				fmt.Fprintf(w, "  note: %s\n", n)
			}
		}
	}

	writeConditions(w, p, cells)

	samples, err := compare.FromRun(run)
	if err != nil {
		fmt.Fprintf(w, "\nNo comparison: %v\n", err)
		return nil
	}
	if len(samples.Cells) < 2 {
		fmt.Fprintln(w, "\nNo comparison: fewer than two cells were measured.")
		return nil
	}
	cmp, err := compare.ComparePairwise("this run ("+run.ID+")", samples, compare.Options{Test: p.Test, Alpha: p.Alpha})
	if err != nil {
		return err
	}
	writeRatios(w, cmp)
	fmt.Fprintln(w)
	return cmp.WriteText(w)
}

// writeRatios prints each pair's req/s ratio with its 95% CI next to the test's verdict, the
// answer to "is event faster than prefork, and by how much": "event-embedded-green /
// prefork-embedded-green = 0.88 [0.84, 0.92]  p=0.002 (Mann-Whitney U): B slower".
func writeRatios(w io.Writer, cmp *compare.Comparison) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\nreq/s, each pair (B / A, the ratio of the means with its 95% CI, Fieller):")
	for _, r := range cmp.Rows {
		if r.Metric != stats.MetricThroughput || r.Comparison.Ratio == nil {
			continue
		}
		c := r.Comparison
		verdict := "no difference shown"
		if c.Significant {
			verdict = "B faster"
			if c.Ratio.Estimate < 1 {
				verdict = "B slower"
			}
		}
		ratio := c.Ratio.String()
		if c.Ratio.Note != "" {
			ratio += " (" + c.Ratio.Note + ")"
		}
		fmt.Fprintf(tw, "  %s / %s\t= %s\tp=%.3f (%s, n=%d+%d): %s\n", r.CellB, r.Cell, ratio, c.P, c.Test, c.NA, c.NB, verdict)
	}
	tw.Flush()
}

// ciPercent is " (1.8%)": the 95% CI's half-width in percent of the mean ("" without a CI).
func ciPercent(s stats.Summary) string {
	if s.CI == nil || s.Mean == 0 {
		return ""
	}
	return fmt.Sprintf(" (%.1f%%)", 100*s.CI.HalfWidth/s.Mean)
}

// busyPct is how much of the machine's CPU other processes may take during the measured runs
// before the report warns: a few % is a shell, an editor, the kernel's own threads.
const busyPct = 10

// writeConditions says what the measured runs ran under: how busy the rest of the machine was
// (Rep.OtherCPUPct), and which cells ended wider than the CI target. Measured here: one busy
// loop beside the default run took 50% of this 2-core machine, cut req/s by 10-20% and moved
// event/prefork from 0.83 to 0.89; a user comparing two runs must know.
func writeConditions(w io.Writer, p Plan, cells []CellResult) {
	if other := otherCPU(cells); len(other) > 0 {
		mean := stats.Mean(other)
		fmt.Fprintf(w, "\nOther processes on this machine used %.0f%% of its CPU during the measured runs (mean; %.0f-%.0f%%)",
			mean, slices.Min(other), slices.Max(other))
		if mean < busyPct {
			fmt.Fprintln(w, ": a quiet machine.")
		} else {
			fmt.Fprintln(w, ":\nreq/s is lower and noisier than on a quiet machine, and the cells' ratio can move: compare this")
			fmt.Fprintln(w, "run only with runs made under the same load, or run again on a quiet machine.")
		}
	}
	if p.TargetHalfWidthPct <= 0 {
		return
	}
	for _, c := range cells {
		if hw := c.halfWidthPct(); hw > p.TargetHalfWidthPct {
			fmt.Fprintf(w, "%s: its req/s CI (± %.1f%%) is still wider than the %g%% target after %d runs (--max-reps %d).\n",
				c.ID, hw, p.TargetHalfWidthPct, len(c.Metrics[0].Values), p.MaxRepetitions)
		}
	}
}

// otherCPU lists Rep.OtherCPUPct of every counted run (replaced and failed runs left out) of
// every cell; empty for a run recorded before it was measured.
func otherCPU(cells []CellResult) []float64 {
	var out []float64
	for _, c := range cells {
		if c.Throughput == nil {
			continue
		}
		for _, r := range c.Throughput.Repetitions {
			if r.OtherCPUPct != nil && !r.Replaced && r.Error == "" {
				out = append(out, *r.OtherCPUPct)
			}
		}
	}
	return out
}

// CompareNotes warns, when two throughput runs are compared (compare.RunNoter), that the
// machine was busy during either's measured runs, or busier during one than the other: their
// req/s then differ for that alone (measured here: one busy loop cut req/s by 10-20%).
func (Scenario) CompareNotes(a, b *results.Run) []string {
	var p Plan
	ca, errA := results.Decode[CellResult](a, &p)
	cb, errB := results.Decode[CellResult](b, &p)
	if errA != nil || errB != nil {
		return nil
	}
	oa, ob := otherCPU(ca), otherCPU(cb)
	if len(oa) == 0 || len(ob) == 0 {
		return nil
	}
	ma, mb := stats.Mean(oa), stats.Mean(ob)
	if max(ma, mb) < busyPct && math.Abs(ma-mb) < busyPct {
		return nil
	}
	return []string{fmt.Sprintf("other processes used %.0f%% of the machine's CPU during A's measured runs and %.0f%% during B's "+
		"(means): a busy machine lowers req/s and widens its spread by itself; compare runs made under the same load", ma, mb)}
}
