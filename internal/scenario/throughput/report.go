package throughput

import (
	"fmt"
	"io"
	"strconv"
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
	return "ab -n 1000 -c 10, R times per cell, interleaved: mean req/s with a 95% CI and a benchstat-like comparison of every pair"
}

func (Scenario) Usage() string {
	return `The write-ups compared MPMs with one 'ab -n 1000 -c 10' per configuration (563 vs 531 req/s)
although such numbers drift by ±20% from run to run. This scenario starts every cell of the
matrix at once (each its own Apache on its own port), runs --warmup ab-like runs per cell that
are thrown away (the first requests load the interpreter and the app), then --reps measured runs
per cell in an interleaved order that cancels the machine's drift (balanced: A B B A A B ...),
one run at a time, without keep-alive, on --path (default "/", the fake service's cheap page).

Per cell: mean req/s with its 95% confidence interval (Student's t), mean p50 and p99; then each
pair of cells compared the way benchstat does: the difference of the means when it is
significant ("~" when it is not), the p-value and the test (Mann-Whitney U by default, --test
welch for Welch's t). Each cell of run.json carries its series ("metrics"): 'wsgilab compare
run.json' prints the same comparison, 'wsgilab compare A/run.json B/run.json' compares two runs.

Default: --mpm prefork,event --mode embedded (the write-up's comparison), MPM settings at Apache's
defaults, 1 warm-up + 5 runs of -n 1000 -c 10 per cell.

Runs during which a process loaded the app (mod_wsgi's log) are marked "*": prefork keeps forking
children when fewer than MinSpareServers are idle, and a fresh child's first request waits for the
import, stretching the run; such runs are part of the configuration's behaviour, and of its sample.

`
}

func (Scenario) Flags(fs *pflag.FlagSet) func() (runner.Plan, error) {
	p := DefaultPlan()
	matrix := runner.MatrixFlags(fs, "prefork,event", "embedded", "green")
	fs.IntVarP(&p.Requests, "requests", "n", p.Requests, "requests per run (ab -n)")
	fs.IntVarP(&p.Concurrency, "concurrency", "c", p.Concurrency, "requests in flight (ab -c)")
	fs.IntVar(&p.Repetitions, "reps", p.Repetitions, "measured runs per cell")
	fs.IntVar(&p.WarmupRuns, "warmup", p.WarmupRuns, "discarded runs per cell before the measured ones")
	fs.StringVar(&p.Order, "order", p.Order, "order of the measured runs: balanced (A B B A ...) or interleaved (A B A B ...)")
	fs.StringVar(&p.Path, "path", p.Path, "endpoint to load")
	importCost := p.Base.ImportCost
	service := runner.ServiceFlags(fs, runner.ServiceDefaults{ProcessesHelp: "default mod_wsgi's 1",
		ThreadsHelp: "default mod_wsgi's 15", ImportCost: &importCost, MonkeyPatch: true})
	testName := fs.String("test", "utest", "two-sample test: utest (Mann-Whitney U, as benchstat) or welch (Welch's t)")
	fs.Float64Var(&p.Alpha, "alpha", p.Alpha, "significance level: a difference is reported when p < alpha")
	return func() (runner.Plan, error) {
		var err error
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
	fmt.Fprintf(w, "wsgilab run %s: %d cells up at once; per cell %d warm-up run(s) (discarded) then %d runs of -n %d -c %d (GET %s, no keep-alive), %s order; %.0fs in all\n\n",
		run.Scenario, len(cells), p.WarmupRuns, p.Repetitions, p.Requests, p.Concurrency, p.Path, p.Order, run.Elapsed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	coldRuns := false
	specs := make([]runner.CellSpec, len(cells))
	for i, c := range cells {
		specs[i] = c.Spec
	}
	fmt.Fprintln(tw, "CELL\t"+report.ServerHeader(specs)+"\tREQ/S (MEAN ± 95% CI)\tP50 MS\tP99 MS\tRUNS\tREQ/S PER RUN")
	for _, c := range cells {
		t := c.Throughput
		if t == nil || len(t.Summary) == 0 {
			srv, workers := c.Spec.Columns()
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
			perRun += strconv.FormatFloat(r.ReqPerSec, 'f', 0, 64)
			if r.ColdStarts > 0 {
				perRun += "*"
				coldRuns = true
			}
		}
		rps := t.Summary[stats.MetricThroughput]
		srv, workers := c.Spec.Columns()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", c.ID, srv, workers,
			report.PlusMinus(rps, 1), report.PlusMinus(t.Summary[stats.MetricP50], 2), report.PlusMinus(t.Summary[stats.MetricP99], 2),
			rps.N, perRun)
	}
	tw.Flush()
	if coldRuns {
		fmt.Fprintln(w, "* a process loaded the app during that run (mod_wsgi \"Loading Python script file\"): Apache created it")
		fmt.Fprintln(w, "  mid-run, and the request it took waited for the import, which stretches the run's duration.")
	}
	for _, c := range cells {
		if c.Verdict.Kind != results.Measured || len(c.Notes) > 0 {
			fmt.Fprintf(w, "\n%s: %s — %s\n", c.ID, c.Verdict.Kind, c.Verdict.Reason)
			for _, n := range c.Notes {
				fmt.Fprintf(w, "  note: %s\n", n)
			}
		}
	}

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
	fmt.Fprintln(w)
	return cmp.WriteText(w)
}
