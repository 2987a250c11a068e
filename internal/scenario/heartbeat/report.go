package heartbeat

import (
	"fmt"
	"io"
	"text/tabwriter"

	"wsgilab/internal/report"
	"wsgilab/internal/results"
	"wsgilab/internal/runner"
)

// maxEvidenceLines is how many evidence lines the text report shows per cell; the JSON has
// them all.
const maxEvidenceLines = 4

func writeTable(w io.Writer, run *results.Run, p Plan, cells []CellResult) {
	fmt.Fprintf(w, "wsgilab run %s: %d cells, %s, heartbeat timeout %ds, idle %.0fs, %.0fs in all\n\n",
		run.Scenario, len(cells), report.BrokerLabel(run), p.Timeout, p.Idle().Seconds(), run.Elapsed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	specs := make([]runner.CellSpec, len(cells))
	for i, c := range cells {
		specs[i] = c.Spec
	}
	fmt.Fprintln(tw, "CELL\t"+report.ServerHeader(specs)+"\tHEARTBEAT\tPATCHED\tVERDICT\tDROP AFTER\tCONNS BEFORE->AFTER\tRECONNECTS\tCLIENT ERRORS\tPROBE MAX (EXTRA)")
	for _, c := range cells {
		f := c.Findings
		hb := c.Spec.Heartbeat
		if c.Spec.TCPKeepalive {
			hb += "+keepalive"
		}
		drop := "-"
		if f.TimeToDropSeconds != nil {
			drop = fmt.Sprintf("%.1fs", *f.TimeToDropSeconds)
		}
		probe := "-"
		if c.Probe.Requests > 0 {
			probe = fmt.Sprintf("%.1fms (%+.1f)", c.Probe.MaxMs, f.ProbeExtraLatencyMs)
		}
		conns := "-"
		if c.Verdict.Kind != results.Error || c.Probe.Requests > 0 {
			conns = fmt.Sprintf("%d->%d", f.ConnsBefore, f.ConnsAfter)
		}
		srv, workers := report.ServerColumns(specs, c.Spec)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", c.ID, srv, workers, hb,
			patchedColumn(c), c.Verdict.Kind, drop, conns, f.Reconnects, f.ClientErrors, probe)
	}
	tw.Flush()
	// Which columns are the cell's configuration and which were observed.
	fmt.Fprintln(w, "\nThe cell's configuration: the columns up to HEARTBEAT. Observed: the others; PATCHED from /proc (eventlet's")
	fmt.Fprintln(w, "greenlet mapped, native threads the app started: see findings.patched_basis), \"(requested)\" when it cannot be.")

	fmt.Fprintln(w, "\nEvidence:")
	for _, c := range cells {
		report.Verdict(w, &c.Cell)
		report.Evidence(w, c.Findings.Evidence, maxEvidenceLines, c.Findings.EvidenceOmitted, results.CellFile(c.ID))
	}
}
