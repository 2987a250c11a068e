package report

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"wsgilab/internal/lab"
	"wsgilab/internal/stats"
)

// ThroughputFromRun is the throughput run's samples as compare reads them from its run.json:
// the measured cells (a cell that failed, or measured nothing, is left out), their series and
// the schedule.
func ThroughputFromRun(res *lab.RunResult) (*ThroughputRun, error) {
	p := lab.DefaultThroughputPlan()
	if res.ThroughputPlan != nil {
		p = *res.ThroughputPlan
	}
	run := NewThroughputRun(p.Requests, p.Concurrency, p.Repetitions, p.WarmupRuns, p.Order)
	run.Schedule = res.Schedule
	for _, c := range res.Cells {
		if c.Cell == "" || len(c.Metrics) == 0 || len(c.Metrics[0].Values) == 0 {
			continue
		}
		run.Cells = append(run.Cells, CellSamples{Cell: c.Cell, Metrics: c.Metrics})
	}
	if err := run.Validate(); err != nil {
		return nil, err
	}
	return run, nil
}

// WriteThroughput prints a throughput run: per cell the mean of each metric with its 95%
// confidence interval, then every pair of cells compared the way benchstat does (delta of the
// means when significant, p-value, test), as `wsgilab compare run.json` prints it. path names
// the run's file in the comparison's header ("" when none was written).
func WriteThroughput(w io.Writer, res *lab.RunResult, path string, opt Options) error {
	p := lab.DefaultThroughputPlan()
	if res.ThroughputPlan != nil {
		p = *res.ThroughputPlan
	}
	fmt.Fprintf(w, "wsgilab run %s: %d cells up at once; per cell %d warm-up run(s) (discarded) then %d runs of -n %d -c %d (GET %s, no keep-alive), %s order; %.0fs in all\n\n",
		res.Scenario, len(res.Cells), p.WarmupRuns, p.Repetitions, p.Requests, p.Concurrency, p.Path, p.Order, res.Elapsed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	coldRuns := false
	fmt.Fprintln(tw, "CELL\tMPM\tMODE\tREQ/S (MEAN ± 95% CI)\tP50 MS\tP99 MS\tRUNS\tREQ/S PER RUN")
	for _, c := range res.Cells {
		t := c.Throughput
		if t == nil || len(t.Summary) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t-\t0\t-\n", c.Spec.ID, c.Spec.MPM, c.Spec.Mode, c.Verdict.Kind)
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", c.Spec.ID, c.Spec.MPM, c.Spec.Mode,
			plusMinus(rps, 1), plusMinus(t.Summary[stats.MetricP50], 2), plusMinus(t.Summary[stats.MetricP99], 2),
			rps.N, perRun)
	}
	tw.Flush()
	if coldRuns {
		fmt.Fprintln(w, "* a process loaded the app during that run (mod_wsgi \"Loading Python script file\"): Apache created it")
		fmt.Fprintln(w, "  mid-run, and the request it took waited for the import, which stretches the run's duration.")
	}
	for _, c := range res.Cells {
		if c.Verdict.Kind != lab.VerdictMeasured || len(c.Notes) > 0 {
			fmt.Fprintf(w, "\n%s: %s — %s\n", c.Spec.ID, c.Verdict.Kind, c.Verdict.Reason)
			for _, n := range c.Notes {
				fmt.Fprintf(w, "  note: %s\n", n)
			}
		}
	}

	run, err := ThroughputFromRun(res)
	if err != nil {
		fmt.Fprintf(w, "\nNo comparison: %v\n", err)
		return nil
	}
	if len(run.Cells) < 2 {
		fmt.Fprintln(w, "\nNo comparison: fewer than two cells were measured.")
		return nil
	}
	if path == "" {
		path = "(this run)"
	}
	cmp, err := ComparePairwise(path, run, opt)
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	return cmp.WriteText(w)
}

func plusMinus(s stats.Summary, dec int) string {
	m := strconv.FormatFloat(s.Mean, 'f', dec, 64)
	if s.CI == nil {
		return m
	}
	return m + " ± " + strconv.FormatFloat(s.CI.HalfWidth, 'f', dec, 64)
}
