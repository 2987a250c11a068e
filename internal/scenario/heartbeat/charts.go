package heartbeat

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"wsgilab/internal/broker"
	"wsgilab/internal/htmlreport"
	"wsgilab/internal/observe"
	"wsgilab/internal/results"
)

// VerdictTone colours the verdict table: a connection that survived is the good side.
func (Scenario) VerdictTone(kind string) htmlreport.Tone {
	switch kind {
	case Stable:
		return htmlreport.Good
	case Dropped:
		return htmlreport.Bad
	}
	return ""
}

// Charts draws, per cell, the connections over the cell's phases (what the verdict is read
// from), and across cells the probe's latency (what a drop costs the next request).
func (Scenario) Charts(run *results.Run, dir string) ([]htmlreport.Section, error) {
	var p Plan
	cells, full, notes, err := htmlreport.Cells[CellResult](run, dir, &p)
	if err != nil {
		return nil, err
	}
	conns := htmlreport.Section{
		Title: "Connections through the idle",
		Note: fmt.Sprintf("Per cell: the vhost's AMQP connections as the broker's management API lists them (the fake "+
			"conductor's included) and the service's sockets to the broker as /proc shows them, in all and per process, "+
			"against seconds from the last warm-up request. Shaded: warm-up, idle (%s), probe. Marked: the broker's "+
			"missed-heartbeat closes, the client's connection errors and its reconnects, from the logs (hover a mark, or "+
			"open the list under the chart, for the line).", p.Idle()),
	}
	if len(notes) > 0 {
		conns.Note += " " + strings.Join(notes, "; ") + "."
	}
	for i, c := range cells {
		if !full[i] {
			continue
		}
		if ch, ok := connectionsChart(c); ok {
			conns.Charts = append(conns.Charts, ch)
		}
	}
	probe := htmlreport.Section{
		Title: "Probe latency",
		Note: "The first requests after the idle pay for a dropped connection: a reconnect takes about a second " +
			"(oslo.messaging's retry interval). Warm-up and probe bursts, median and slowest request, per cell.",
		Charts: []htmlreport.Chart{probeChart(cells)},
	}
	return []htmlreport.Section{conns, probe}, nil
}

// connectionsChart is one cell's connections over time; false when the cell recorded no
// timeline (it failed before the observer started).
func connectionsChart(c CellResult) (htmlreport.Chart, bool) {
	tl := c.Timeline
	if len(tl.Ticks) == 0 {
		return htmlreport.Chart{}, false
	}
	ph, phErr := PhasesFromTimeline(tl)
	origin := tl.Start
	if phErr == nil {
		origin = ph.WarmupEnd
	}
	x := func(t time.Time) float64 { return htmlreport.Seconds(t, origin) }

	// Processes that held a socket to the broker at some point, in order of appearance.
	var pids []int
	for _, tk := range tl.Ticks {
		if tk.Sockets == nil {
			continue
		}
		for _, s := range tk.Sockets.Sockets {
			for _, pid := range s.PIDs {
				if s.State == "ESTABLISHED" && !slices.Contains(pids, pid) {
					pids = append(pids, pid)
				}
			}
		}
	}
	n := len(tl.Ticks)
	xs := make(htmlreport.Values, n)
	brokerConns, sockets := make(htmlreport.Values, n), make(htmlreport.Values, n)
	perPID := make([]htmlreport.Values, len(pids))
	for j := range perPID {
		perPID[j] = make(htmlreport.Values, n)
	}
	for i, tk := range tl.Ticks {
		xs[i] = x(tk.T)
		brokerConns[i], sockets[i] = math.NaN(), math.NaN()
		if tk.Broker != nil {
			brokerConns[i] = float64(tk.Broker.Count)
		}
		for j := range perPID {
			perPID[j][i] = math.NaN()
		}
		if tk.Sockets == nil {
			continue
		}
		sockets[i] = float64(tk.Sockets.Established)
		for j, pid := range pids {
			k := 0
			for _, s := range tk.Sockets.Sockets {
				if s.State == "ESTABLISHED" && slices.Contains(s.PIDs, pid) {
					k++
				}
			}
			perPID[j][i] = float64(k)
		}
	}
	ch := htmlreport.Chart{
		Title: fmt.Sprintf("%s: %s", c.ID, c.Verdict.Kind),
		Note:  connectionsNote(c),
		X:     htmlreport.Axis{Label: "s from the last warm-up request"},
		Y:     htmlreport.Axis{Label: "connections", Min: htmlreport.Zero(), Integer: true},
		Xs:    xs,
		Series: []htmlreport.Series{
			{Label: "broker: vhost connections", Style: htmlreport.StyleStep, Values: brokerConns, Width: 2.5, Color: "#1f77b4"},
			{Label: "sockets (/proc)", Style: htmlreport.StyleStep, Values: sockets, Width: 2, Color: "#ff7f0e", Dash: true},
		},
	}
	for j, pid := range pids {
		ch.Series = append(ch.Series, htmlreport.Series{Label: fmt.Sprintf("pid %d", pid), Style: htmlreport.StyleStep, Values: perPID[j], Width: 1})
	}
	if phErr == nil {
		if !c.Warmup.First.IsZero() {
			ch.Bands = append(ch.Bands, htmlreport.Band{From: x(c.Warmup.First), To: 0, Label: "warm-up", Tone: htmlreport.Info})
		}
		ch.Bands = append(ch.Bands, htmlreport.Band{From: 0, To: x(ph.ProbeStart), Label: "idle", Tone: htmlreport.Neutral})
		end := ph.ProbeStart
		for _, m := range tl.Marks {
			if m.Name == MarkProbeEnd {
				end = m.T
			}
		}
		ch.Bands = append(ch.Bands, htmlreport.Band{From: x(ph.ProbeStart), To: x(end), Label: "probe", Tone: htmlreport.Good})
	}
	var end time.Time
	if phErr == nil {
		end = ph.End
	}
	ch.Marks = connectionMarks(tl, c.Vhost, end, x)
	return ch, true
}

func connectionsNote(c CellResult) string {
	f := c.Findings
	s := fmt.Sprintf("%s %s, heartbeat %s", c.Spec.MPM, c.Spec.Mode, c.Spec.Heartbeat)
	if c.Verdict.Kind == results.Error {
		return s + ": " + c.Verdict.Reason
	}
	s += fmt.Sprintf("; connections %d -> %d", f.ConnsBefore, f.ConnsAfter)
	if f.TimeToDropSeconds != nil {
		s += fmt.Sprintf(", first drop %.1f s after the last traffic", *f.TimeToDropSeconds)
	}
	if f.Reconnects > 0 {
		s += fmt.Sprintf(", %d reconnects", f.Reconnects)
	}
	return s
}

// connectionMarks are the cell's log lines that say a connection went or came back, up to the
// end of observation (the verdict's window): the broker's closes (of this cell's vhost or
// client ports: the broker is shared by the run's cells) and the client's errors and
// reconnects. A close for missed heartbeats is the drop the verdict is about; a close the
// client's side made (a process that exited) is shown as such.
func connectionMarks(tl observe.Timeline, vhost string, end time.Time, x func(time.Time) float64) []htmlreport.Mark {
	ports := views(tl, vhost).ports
	var marks []htmlreport.Mark
	for _, e := range tl.Events {
		if e.Kind != observe.KindDrop && e.Kind != observe.KindReconnect {
			continue
		}
		if !end.IsZero() && e.Time.After(end) {
			continue
		}
		if e.Source == "broker" && !attributed(e, vhost, ports) {
			continue
		}
		m := htmlreport.Mark{X: x(e.Time)}
		switch {
		case e.Kind == observe.KindReconnect:
			m.Label, m.Tone = MarkLabelReconnect, htmlreport.Good
		case e.Source == "broker" && e.Rule == ruleMissedHeartbeats:
			m.Label, m.Tone = MarkLabelHeartbeatClose, htmlreport.Bad
		case e.Source == "broker":
			m.Label, m.Tone = MarkLabelClosed, htmlreport.Neutral
		default:
			m.Label, m.Tone = MarkLabelClientError, htmlreport.Warn
		}
		m.Detail = fmt.Sprintf("at %+.2f s, %s %s%s", m.X, e.Source, strings.ReplaceAll(e.Rule, "_", " "), markWho(e))
		marks = append(marks, m)
	}
	return marks
}

// Labels of the connections chart's marks.
const (
	MarkLabelHeartbeatClose = "heartbeat close" // the broker closed it for missed heartbeats
	MarkLabelClosed         = "closed"          // the broker saw the client's side close it
	MarkLabelClientError    = "client error"    // the client logged a failed connection
	MarkLabelReconnect      = "reconnect"       // the client logged a replacement connection
)

// markWho names the connection and process a log line is about, when it says.
func markWho(e observe.Event) string {
	var parts []string
	if e.Fields.ClientPort != 0 {
		parts = append(parts, fmt.Sprintf("port %d", e.Fields.ClientPort))
	}
	pid := e.Fields.PID
	if pid == 0 {
		pid = broker.KombuPID(e.Fields.ClientName)
	}
	if pid != 0 {
		parts = append(parts, fmt.Sprintf("pid %d", pid))
	}
	if e.Fields.Error != "" {
		parts = append(parts, e.Fields.Error)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// probeChart is each cell's warm-up and probe latency, median and slowest request.
func probeChart(cells []CellResult) htmlreport.Chart {
	n := len(cells)
	ch := htmlreport.Chart{
		Title: "Warm-up and probe latency per cell",
		Wide:  true,
		Note:  "median and slowest request of each burst (ms, log scale); a probe max near 1000 ms is a reconnect",
		X:     htmlreport.Axis{Label: "cell"},
		Y:     htmlreport.Axis{Label: "ms", Scale: htmlreport.ScaleLog},
		Xs:    make(htmlreport.Values, n),
	}
	wp50, wmax, pp50, pmax := make(htmlreport.Values, n), make(htmlreport.Values, n), make(htmlreport.Values, n), make(htmlreport.Values, n)
	for i, c := range cells {
		ch.Categories = append(ch.Categories, c.ID)
		ch.Xs[i] = float64(i)
		wp50[i], wmax[i], pp50[i], pmax[i] = math.NaN(), math.NaN(), math.NaN(), math.NaN()
		if c.Warmup.Requests > 0 {
			wp50[i], wmax[i] = c.Warmup.P50Ms, c.Warmup.MaxMs
		}
		if c.Probe.Requests > 0 {
			pp50[i], pmax[i] = c.Probe.P50Ms, c.Probe.MaxMs
		}
	}
	ch.Series = []htmlreport.Series{
		{Label: "warm-up p50", Style: htmlreport.StylePoints, Values: wp50, Color: "#9ecae1"},
		{Label: "warm-up max", Style: htmlreport.StylePoints, Values: wmax, Color: "#1f77b4"},
		{Label: "probe p50", Style: htmlreport.StylePoints, Values: pp50, Color: "#fdae6b", Width: 2},
		{Label: "probe max", Style: htmlreport.StylePoints, Values: pmax, Color: "#d62728", Width: 2},
	}
	return ch
}
