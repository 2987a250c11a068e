// Package report holds what the scenarios' text reports share: how a log line, a latency, a
// mean with its interval and the broker are printed, and how evidence lines are listed under
// a cell. Each scenario's table is its own (in its package); comparisons are internal/compare's.
package report

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"wsgilab/internal/observe"
	"wsgilab/internal/results"
	"wsgilab/internal/runner"
	"wsgilab/internal/stats"
)

// MaxLineWidth shortens long log lines in text reports (the JSON keeps them whole).
const MaxLineWidth = 200

// Line shortens a log line to MaxLineWidth.
func Line(s string) string {
	if len(s) > MaxLineWidth {
		return s[:MaxLineWidth-3] + "..."
	}
	return s
}

// YesNo prints a boolean setting.
func YesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Ms prints a latency in milliseconds with a precision that suits its size.
func Ms(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 1:
		return fmt.Sprintf("%.1fms", v)
	default:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".") + "ms"
	}
}

// PlusMinus prints a mean with its 95% confidence interval's half-width ("561.8 ± 10.7"), or
// the mean alone when there is no interval (one value).
func PlusMinus(s stats.Summary, dec int) string {
	m := strconv.FormatFloat(s.Mean, 'f', dec, 64)
	if s.CI == nil {
		return m
	}
	return m + " ± " + strconv.FormatFloat(s.CI.HalfWidth, 'f', dec, 64)
}

// BrokerLabel says which kind of broker a run used.
func BrokerLabel(run *results.Run) string {
	if run.Broker.Private {
		return "private RabbitMQ node"
	}
	return "existing broker"
}

// Evidence lists at most max of a cell's evidence lines, each under the source and rule that
// matched it (a record may span lines: RabbitMQ writes a missed-heartbeats close as two), and
// says how many more (omitted: those the cell's JSON has beyond events) are in file.
func Evidence(w io.Writer, events []observe.Event, max, omitted int, file string) {
	for i, e := range events {
		if i == max {
			fmt.Fprintf(w, "  ... %d more in %s\n", len(events)-i+omitted, file)
			return
		}
		fmt.Fprintf(w, "  [%s %s]\n", e.Source, e.Rule)
		for _, line := range strings.Split(e.Line, "\n") {
			fmt.Fprintf(w, "    %s\n", Line(line))
		}
	}
}

// ServerHeader is the header of the two columns runner.CellSpec.Columns fills: "MPM\tMODE" when
// every cell runs Apache (the write-ups' question), "SERVER\tWORKERS" when any runs another
// server.
func ServerHeader(specs []runner.CellSpec) string {
	if mixedServers(specs) {
		return "SERVER\tWORKERS"
	}
	return "MPM\tMODE"
}

// ServerColumns are spec's two server columns in a table of specs (under ServerHeader's
// header): an Apache cell among other servers reads "apache event" under SERVER, its mod_wsgi
// mode under WORKERS, rather than an MPM's name where a server's is expected.
func ServerColumns(specs []runner.CellSpec, spec runner.CellSpec) (server, workers string) {
	server, workers = spec.Columns()
	if spec.IsApache() && mixedServers(specs) {
		server = "apache " + server
	}
	return server, workers
}

func mixedServers(specs []runner.CellSpec) bool {
	return slices.ContainsFunc(specs, func(s runner.CellSpec) bool { return !s.IsApache() })
}

// maxStartEvidenceLines is how many lines of a failed start's evidence a table shows.
const maxStartEvidenceLines = 4

// Verdict prints a cell's verdict line, "ID: KIND — reason", and the lines behind an ERROR it
// got before its scenario could observe it (c.Evidence: the server's account of a failed start).
func Verdict(w io.Writer, c *results.Cell) {
	fmt.Fprintf(w, "\n%s: %s — %s\n", c.ID, c.Verdict.Kind, c.Verdict.Reason)
	Evidence(w, c.Evidence, maxStartEvidenceLines, 0, results.CellFile(c.ID))
}
