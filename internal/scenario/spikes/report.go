package spikes

import (
	"fmt"
	"io"
	"text/tabwriter"

	"wsgilab/internal/report"
	"wsgilab/internal/results"
	"wsgilab/internal/runner"
)

// maxColdEvidence is how many cold starts the text report shows with their log line per cell.
const maxColdEvidence = 2

// WriteText prints a spikes run: one row per cell with the client's, the app's and Apache's
// view of latency and the cold starts behind the spikes, then per cell its reason, its bursts
// and the log lines of its first cold starts.
func (Scenario) WriteText(w io.Writer, run *results.Run) error {
	var p Plan
	cells, err := results.Decode[CellResult](run, &p)
	if err != nil {
		return err
	}
	importCost := "none"
	for _, c := range cells {
		if c.Spikes != nil && c.Spikes.Knobs.ImportCostS > 0 {
			importCost = fmt.Sprintf("%gs of CPU", c.Spikes.Knobs.ImportCostS)
			break
		}
	}
	fmt.Fprintf(w, "wsgilab run %s: %d cells, one at a time; %d bursts of %d requests at concurrency %d, %s apart, GET %s without keep-alive; app import cost %s; %.0fs in all\n\n",
		run.Scenario, len(cells), p.Bursts, p.Requests, p.Concurrency, p.Gap, p.Path, importCost, run.Elapsed)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	var specs []runner.CellSpec
	for _, c := range cells {
		if c.Config.Other != nil {
			specs = append(specs, *c.Config.Other)
		}
	}
	fmt.Fprintf(tw, "CELL\t"+report.ServerHeader(specs)+"\tPRELOAD\tSPARE\tREQUESTS\tCLIENT P50\tCLIENT P99\tCLIENT MAX\tAPP P99\tAPACHE P99\tGAP P99\tCOLD STARTS\tSPIKES >%gx P50 (COLD/BESIDE/OTHER)\n", p.SpikeFactor)
	for _, c := range cells {
		s := c.Spikes
		if s == nil || s.Requests == 0 {
			srv, workers := c.Config.columns(specs)
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t%s\n", c.ID, srv, workers, c.Verdict.Kind)
			continue
		}
		preload, spare := "-", "-"
		switch {
		case s.Cell.Other != nil:
			if s.Cell.Other.Worker != "" {
				preload = report.YesNo(s.Cell.Other.Preload)
			}
		case s.Cell.Mode == "daemon":
			preload = report.YesNo(s.Cell.Preload)
		}
		if s.Cell.Other == nil {
			spare = spareLabel(s.Cell.Spare)
		}
		srv, workers := s.Cell.columns(specs)
		reqs := fmt.Sprint(s.Requests)
		if s.Errors > 0 {
			reqs += fmt.Sprintf(" (%d failed)", s.Errors)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d (%d/%d/%d)\n",
			c.ID, srv, workers, preload, spare, reqs,
			report.Ms(s.Client.P50), report.Ms(s.Client.P99), report.Ms(s.Client.Max), report.Ms(s.App.P99),
			report.Ms(s.Apache.P99), report.Ms(s.GapP99Ms), s.ColdStarts,
			s.Spikes, s.SpikesCold, s.SpikesConcurrent, s.SpikesUnexplained)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nThe cell's configuration: the columns up to SPARE (PRELOAD and SPARE as requested). Observed: the others.")
	fmt.Fprintln(w, "CLIENT: the load balancer's view (connect to last byte); APP: X-App-Time-Us; APACHE: %D from the access log;")
	fmt.Fprintln(w, "GAP: client p99 - app p99. A cold start is a process loading the app (mod_wsgi's \"Loading Python script")
	fmt.Fprintln(w, "file\" line of that PID) while a request it serves waits; BESIDE: a spike during a load it did not wait for")
	fmt.Fprintln(w, "itself (CPU taken by the import, or queued in the listen backlog while the children were loading).")

	for _, c := range cells {
		report.Verdict(w, &c.Cell)
		s := c.Spikes
		if s == nil || len(s.Bursts) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  burst\tat\trequests\tp50 ms\tp99 ms\tmax ms\tcold starts\tspikes\tapp processes before->max\t")
		for _, b := range s.Bursts {
			fmt.Fprintf(tw, "  %d\t%.1fs\t%d\t%.2f\t%.1f\t%.1f\t%d\t%d\t%d->%d\t\n", b.Burst, b.StartS, b.Requests,
				b.P50Ms, b.P99Ms, b.MaxMs, b.ColdStarts, b.Spikes, b.ProcessesBefore, b.ProcessesMax)
		}
		tw.Flush()
		fmt.Fprintf(w, "  processes spawned %d, exited %d during the traffic; %d app loads in the error log, %d on a request's path\n",
			s.Spawned, s.Exited, s.AppLoads, s.ColdStarts)
		writeColdEvidence(w, s)
	}
	return nil
}

// writeColdEvidence shows the first cold starts: the request that waited, and the mod_wsgi
// line of its process loading the app while it did.
func writeColdEvidence(w io.Writer, s *Result) {
	for _, r := range s.ColdEvidence {
		app, apache := "?", "?"
		if r.AppMs != nil {
			app = fmt.Sprintf("%.3f ms", *r.AppMs)
		}
		if r.ApacheMs != nil {
			apache = fmt.Sprintf("%.1f ms", *r.ApacheMs)
		}
		fmt.Fprintf(w, "  cold start: request %d.%d served by pid %d took %.1f ms (app %s, Apache %%D %s)\n",
			r.Burst, r.Seq, r.PID, r.LatencyMs, app, apache)
		if r.Line != "" {
			fmt.Fprintf(w, "    %s\n", report.Line(r.Line))
		}
	}
	if more := s.ColdStarts - len(s.ColdEvidence); more > 0 && len(s.ColdEvidence) > 0 {
		fmt.Fprintf(w, "  ... %d more cold starts in the cell's JSON (request_log, events)\n", more)
	}
}

// columns are the server columns of a cell in a table of specs (report.ServerColumns).
func (c Config) columns(specs []runner.CellSpec) (string, string) {
	if c.Other != nil {
		return c.Other.Columns()
	}
	return report.ServerColumns(specs, runner.CellSpec{MPM: c.MPM, Mode: c.Mode})
}

func spareLabel(s Spare) string {
	if s.Name == "" {
		return "default"
	}
	return s.Name
}
