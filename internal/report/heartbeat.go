package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"wsgilab/internal/lab"
)

// maxEvidenceLines is how many evidence lines the text report shows per cell; the JSON has
// them all.
const maxEvidenceLines = 4

// maxLineWidth shortens long log lines in the text report (the JSON keeps them whole).
const maxLineWidth = 200

// WriteHeartbeat prints the heartbeat run as one table, a row per cell, followed by each cell's
// reason and the log lines it rests on.
func WriteHeartbeat(w io.Writer, res *lab.RunResult) {
	broker := "existing broker"
	if res.Broker.Private {
		broker = "private RabbitMQ node"
	}
	fmt.Fprintf(w, "wsgilab run %s: %d cells, %s, heartbeat timeout %ds, idle %.0fs, %.0fs in all\n\n",
		res.Scenario, len(res.Cells), broker, res.Plan.Timeout, res.Plan.Idle().Seconds(), res.Elapsed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CELL\tMPM\tMODE\tHEARTBEAT\tPATCHED\tVERDICT\tDROP AFTER\tCONNS BEFORE->AFTER\tRECONNECTS\tCLIENT ERRORS\tPROBE MAX (EXTRA)")
	for _, c := range res.Cells {
		v := c.Verdict
		hb := c.Spec.Heartbeat
		if c.Spec.TCPKeepalive {
			hb += "+keepalive"
		}
		drop := "-"
		if v.TimeToDropSeconds != nil {
			drop = fmt.Sprintf("%.1fs", *v.TimeToDropSeconds)
		}
		probe := "-"
		if c.Probe.Requests > 0 {
			probe = fmt.Sprintf("%.1fms (%+.1f)", c.Probe.MaxMs, v.ProbeExtraLatencyMs)
		}
		conns := "-"
		if v.Kind != lab.VerdictError || c.Probe.Requests > 0 {
			conns = fmt.Sprintf("%d->%d", v.ConnsBefore, v.ConnsAfter)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", c.Spec.ID, c.Spec.MPM, c.Spec.Mode, hb,
			yesNo(c.Spec.MonkeyPatch), v.Kind, drop, conns, v.Reconnects, v.ClientErrors, probe)
	}
	tw.Flush()

	fmt.Fprintln(w, "\nEvidence:")
	for _, c := range res.Cells {
		fmt.Fprintf(w, "\n%s: %s — %s\n", c.Spec.ID, c.Verdict.Kind, c.Verdict.Reason)
		ev := c.Verdict.Evidence
		for i, e := range ev {
			if i == maxEvidenceLines {
				fmt.Fprintf(w, "  ... %d more in %s.json\n", len(ev)-i+c.Verdict.EvidenceOmitted, c.Spec.ID)
				break
			}
			// A record may span lines (RabbitMQ writes a missed-heartbeats close as two);
			// show each, shortened, under the rule that matched.
			fmt.Fprintf(w, "  [%s %s]\n", e.Source, e.Rule)
			for _, line := range strings.Split(e.Line, "\n") {
				if len(line) > maxLineWidth {
					line = line[:maxLineWidth-3] + "..."
				}
				fmt.Fprintf(w, "    %s\n", line)
			}
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
