package failover

import (
	"fmt"
	"io"
	"math"
	"regexp"
	"text/tabwriter"
	"time"

	"wsgilab/internal/fault"
	"wsgilab/internal/observe"
	"wsgilab/internal/report"
	"wsgilab/internal/results"
	"wsgilab/internal/runner"
)

func writeTable(w io.Writer, run *results.Run, p Plan, cells []CellResult) {
	fmt.Fprintf(w, "wsgilab run %s: %d cells, %s, fault %s, heartbeat timeout %ds, RPC timeout %ds, %g req/s, %.0fs in all\n\n",
		run.Scenario, len(cells), nodesLabel(cells), p.FaultDuration, p.HeartbeatTimeout, p.RPCTimeout, p.Rate, run.Elapsed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	specs := make([]runner.CellSpec, len(cells))
	for i, c := range cells {
		specs[i] = c.Spec.CellSpec
	}
	fmt.Fprintln(tw, "CELL\t"+report.ServerHeader(specs)+"\tHEARTBEAT\tFAULT\tVERDICT\tOK/SENT\tFAILED (TIMED OUT)\tMSG TIMEOUT\tLOST\tDUP\tRECV UNACKED\tDETECT (CONNS)\tRECOVER/LATENCY\tDOWNTIME\tP99 BEFORE/DURING/AFTER\tRECONNECTS")
	for _, c := range cells {
		srv, workers := report.ServerColumns(specs, c.Spec.CellSpec)
		hb := c.Spec.Heartbeat
		if c.Spec.TCPKeepalive {
			hb += fmt.Sprintf("+keepalive %ds", p.TCPKeepalive)
		}
		f := c.Findings
		rq, m, rc := f.Requests, f.Messages, f.Recovery
		row := []any{c.ID, srv, workers, hb, faultColumn(c), c.Verdict.Kind}
		if c.Verdict.Kind == results.Error {
			row = append(row, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-")
		} else {
			row = append(row,
				fmt.Sprintf("%d/%d", rq.OK, rq.Sent),
				fmt.Sprintf("%d (%d)", rq.Errors+rq.TimedOut, rq.TimedOut),
				rq.MessagingTimeouts, m.Lost, duplicates(m), m.ReceivedUnacked,
				detectColumn(f.Detect),
				secsShort(rc.RecoverS)+"/"+secsShort(rc.LatencyBackS),
				fmt.Sprintf("%.1fs", rc.DowntimeS),
				p99(rc.Before)+"/"+p99(rc.During)+"/"+p99(rc.After),
				f.Churn.Reconnects)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v\t%v\t%v\t%v\t%s\t%s\t%s\t%s\t%v\n", row...)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nThe cell's configuration: the columns up to FAULT (with how long the fault was in effect). Observed: the others.")
	fmt.Fprintln(w, "LOST: casts answered 2xx that the conductor never received; DUP: ids received twice + the conductor's \"ignoring")
	fmt.Fprintln(w, "duplicate message\" lines; RECV UNACKED: requests the client saw fail (or gave up on) that reached the conductor anyway.")
	fmt.Fprintln(w, "DETECT: fault start -> the service's first line that it lost the broker, first..last connection (noticed/open).")
	fmt.Fprintln(w, "RECOVER: fault end -> every app process answering 2xx again / latency back at the pre-fault p99. DOWNTIME: first to")
	fmt.Fprintln(w, "last failed request. Latency is from the scheduled send (open loop), failed requests included.")

	fmt.Fprintln(w, "\nEvidence:")
	for _, c := range cells {
		report.Verdict(w, &c.Cell)
		if c.Verdict.Kind != results.Error {
			fmt.Fprintf(w, "  %s\n", c.Findings.Figures())
		}
		report.Evidence(w, withoutApacheHeader(c.Findings.Evidence), maxEvidence, c.Findings.EvidenceOmitted, results.CellFile(c.ID))
	}
}

// nodesLabel says that each cell had its own node, and what the nodes cost.
func nodesLabel(cells []CellResult) string {
	lo, hi, rss, n := math.Inf(1), 0.0, 0.0, 0
	for _, c := range cells {
		if c.Broker.StartupMs <= 0 {
			continue
		}
		s := c.Broker.StartupMs / 1000
		lo, hi = math.Min(lo, s), math.Max(hi, s)
		if c.Broker.RSSMB > 0 {
			rss += c.Broker.RSSMB
			n++
		}
	}
	if hi == 0 {
		return "a private RabbitMQ node per cell"
	}
	s := fmt.Sprintf("a private RabbitMQ node per cell (ready in %.1f-%.1fs", lo, hi)
	if lo == hi {
		s = fmt.Sprintf("a private RabbitMQ node per cell (ready in %.1fs", lo)
	}
	if n > 0 {
		s += fmt.Sprintf(", %.0f MB each", rss/float64(n))
	}
	return s + ")"
}

// faultColumn is the fault and how long it was in effect (as judged: from its first effect).
func faultColumn(c CellResult) string {
	start, end := faultSpan(c)
	switch {
	case start.IsZero():
		return c.Spec.Fault
	case fault.Instant(c.Fault.Kind):
		return c.Fault.Kind
	}
	return fmt.Sprintf("%s %.1fs", c.Fault.Kind, end.Sub(start).Seconds())
}

// faultSpan is the fault as the verdict judged it (from its first effect to its end), or as
// its window says when the cell was not judged.
func faultSpan(c CellResult) (start, end time.Time) {
	if f := c.Findings; !f.FaultStart.IsZero() {
		return f.FaultStart, f.FaultEnd
	}
	return c.Fault.Start, c.Fault.End
}

func duplicates(m Messages) string {
	if m.DriverDuplicates == 0 {
		return fmt.Sprint(m.Duplicated)
	}
	return fmt.Sprintf("%d+%d", m.Duplicated, m.DriverDuplicates)
}

func detectColumn(d Detection) string {
	switch {
	case d.Connections == 0:
		return "-"
	case d.Detected == 0:
		return fmt.Sprintf("never (0/%d)", d.Connections)
	case *d.FirstS == *d.LastS:
		return fmt.Sprintf("%.1fs (%d/%d)", *d.FirstS, d.Detected, d.Connections)
	}
	return fmt.Sprintf("%.1f..%.1fs (%d/%d)", *d.FirstS, *d.LastS, d.Detected, d.Connections)
}

// p99 prints a phase's p99, "-" for a phase without requests (an instant fault's).
func p99(l Latency) string {
	if l.N == 0 {
		return "-"
	}
	return ms(l.P99Ms)
}

func secsShort(s *float64) string {
	if s == nil {
		return "never"
	}
	return fmt.Sprintf("%.1fs", *s)
}

// apacheHeader is what Apache puts before a line the app wrote to stderr; the app's own line
// that follows has its time and pid, and the message that matters would be cut off behind it.
var apacheHeader = regexp.MustCompile(`(?m)^\[[^\]]*\] \[wsgi:\w+\] \[pid \d+(?::tid \d+)?\] (?:\[(?:remote|client) [^\]]*\] )?`)

// withoutApacheHeader are the events with Apache's header taken off their lines, for the text
// report (the JSON keeps them whole).
func withoutApacheHeader(events []observe.Event) []observe.Event {
	out := make([]observe.Event, len(events))
	for i, e := range events {
		e.Line = apacheHeader.ReplaceAllString(e.Line, "")
		out[i] = e
	}
	return out
}
