package failover

import (
	"fmt"
	"math"
	"strings"

	"wsgilab/internal/htmlreport"
	"wsgilab/internal/results"
)

// VerdictTone colours the verdict table: recovered is the good side, stuck the bad one.
func (Scenario) VerdictTone(kind string) htmlreport.Tone {
	switch kind {
	case Recovered:
		return htmlreport.Good
	case Degraded:
		return htmlreport.Warn
	case Stuck:
		return htmlreport.Bad
	}
	return ""
}

// Charts draws, per cell, its requests through the fault second by second (latency and
// successes, the fault shaded, when the service noticed and when it was back marked), then
// across cells the times and counts the verdicts rest on.
func (Scenario) Charts(run *results.Run, dir string) ([]htmlreport.Section, error) {
	var p Plan
	cells, full, notes, err := htmlreport.Cells[CellResult](run, dir, &p)
	if err != nil {
		return nil, err
	}
	per := htmlreport.Section{
		Title: "Requests through the fault",
		Note: fmt.Sprintf("Per cell, second by second from the fault's start (%g requests/s, /cast and /call, each with its id): "+
			"the latency of the requests sent in that second (median and slowest, failed ones included: a timed-out request "+
			"counts its %s), and how many succeeded and failed. Shaded: the fault. Marked: the service's first line that it "+
			"lost the broker, its reconnects, every app process answering again, latency back at the pre-fault p99 "+
			"(dashed). Hover a mark for what it is.", p.Rate, p.RequestTimeout),
	}
	if len(notes) > 0 {
		per.Note += " " + strings.Join(notes, "; ") + "."
	}
	for i, c := range cells {
		if !full[i] || len(c.Requests) == 0 || c.Fault.Start.IsZero() {
			continue
		}
		per.Charts = append(per.Charts, requestsChart(c))
	}
	across := htmlreport.Section{
		Title: "Across cells",
		Note: "When each cell's service noticed the fault (first and last connection, from the fault's start) and when it " +
			"was back (every app process answering, latency at its pre-fault p99: from the fault's end), and the downtime " +
			"(first to last failed request). Below: what happened to the messages, against the conductor's record.",
		Charts: []htmlreport.Chart{timesChart(cells)},
		Table:  countsTable(cells),
	}
	return []htmlreport.Section{per, across}, nil
}

// requestsChart is one cell's requests per second, x in seconds from the fault's start.
func requestsChart(c CellResult) htmlreport.Chart {
	origin, faultEnd := faultSpan(c)
	first, last := math.Inf(1), math.Inf(-1)
	for _, r := range c.Requests {
		x := r.Sent.Sub(origin).Seconds()
		first, last = math.Min(first, x), math.Max(last, x)
	}
	lo, hi := int(math.Floor(first)), int(math.Floor(last))
	n := hi - lo + 1
	xs := make(htmlreport.Values, n)
	p50, slowest, ok, failed := gaps(n), gaps(n), make(htmlreport.Values, n), make(htmlreport.Values, n)
	buckets := make([][]Request, n)
	for _, r := range c.Requests {
		i := int(math.Floor(r.Sent.Sub(origin).Seconds())) - lo
		buckets[i] = append(buckets[i], r)
	}
	for i, b := range buckets {
		xs[i] = float64(lo + i)
		if len(b) == 0 {
			continue
		}
		ls := latencies(b)
		p50[i], slowest[i] = percentile(ls, 0.5), percentile(ls, 1)
		for _, r := range b {
			if r.OK() {
				ok[i]++
			} else {
				failed[i]++
			}
		}
	}
	// The pre-fault p99 as a line across the chart: given at its two ends.
	normal := gaps(n)
	if rc := c.Findings.Recovery; rc.NormalP99Ms > 0 && n > 1 {
		normal[0], normal[n-1] = rc.NormalP99Ms, rc.NormalP99Ms
	}
	f := c.Findings
	ch := htmlreport.Chart{
		Title: fmt.Sprintf("%s: %s", c.ID, c.Verdict.Kind),
		Note:  requestsNote(c),
		X:     htmlreport.Axis{Label: "s from the fault's start (by send time)"},
		Y:     htmlreport.Axis{Label: "latency ms", Scale: htmlreport.ScaleLog},
		Y2:    &htmlreport.Axis{Label: "requests", Min: htmlreport.Zero(), Integer: true},
		Xs:    xs,
		Series: []htmlreport.Series{
			{Label: "latency p50", Style: htmlreport.StyleLine, Values: p50, Color: "#1f77b4", Width: 2},
			{Label: "latency max", Style: htmlreport.StyleLine, Values: slowest, Color: "#9467bd", Width: 1},
			{Label: "pre-fault p99", Style: htmlreport.StyleLine, Values: normal, Color: "#7f7f7f", Dash: true, Connect: true},
			{Label: "succeeded", Style: htmlreport.StyleStep, Values: ok, Axis: "y2", Color: "#2ca02c", Width: 1.5},
			{Label: "failed", Style: htmlreport.StyleStep, Values: failed, Axis: "y2", Color: "#d62728", Width: 1.5},
		},
		Bands: []htmlreport.Band{{From: 0, To: faultEnd.Sub(origin).Seconds(), Label: c.Fault.Kind, Tone: htmlreport.Bad}},
	}
	end := faultEnd.Sub(origin).Seconds()
	if d := f.Detect; d.FirstS != nil {
		ch.Marks = append(ch.Marks, htmlreport.Mark{X: *d.FirstS, Label: "noticed", Tone: htmlreport.Warn,
			Detail: fmt.Sprintf("at %+.2f s, the service's first line that it lost the broker (%d of %d connections noticed, the last at %+.2f s)",
				*d.FirstS, d.Detected, d.Connections, *d.LastS)})
	}
	for _, e := range c.Timeline.Events {
		if e.Rule == ruleReconnected && serviceLine(e) && !e.Time.Before(origin) {
			x := e.Time.Sub(origin).Seconds()
			ch.Marks = append(ch.Marks, htmlreport.Mark{X: x, Label: "reconnect", Tone: htmlreport.Neutral,
				Detail: fmt.Sprintf("at %+.2f s, pid %d: %s", x, e.Fields.PID, e.Fields.ConnectionID)})
		}
	}
	if rc := f.Recovery; rc.RecoverS != nil {
		ch.Marks = append(ch.Marks, htmlreport.Mark{X: end + *rc.RecoverS, Label: "answering", Tone: htmlreport.Good,
			Detail: fmt.Sprintf("at %+.2f s, %.1f s after the fault: every app process answered 2xx again", end+*rc.RecoverS, *rc.RecoverS)})
	}
	if rc := f.Recovery; rc.LatencyBackS != nil {
		ch.Marks = append(ch.Marks, htmlreport.Mark{X: end + *rc.LatencyBackS, Label: "latency back", Tone: htmlreport.Good,
			Detail: fmt.Sprintf("at %+.2f s, %.1f s after the fault: from here every second's median at or below the pre-fault p99 (%s)",
				end+*rc.LatencyBackS, *rc.LatencyBackS, ms(rc.NormalP99Ms))})
	}
	return ch
}

func requestsNote(c CellResult) string {
	f := c.Findings
	s := fmt.Sprintf("%s %s, heartbeat %s, %s", c.Spec.MPM, c.Spec.Mode, c.Spec.Heartbeat, faultColumn(c))
	if c.Verdict.Kind == results.Error {
		return s + ": " + c.Verdict.Reason
	}
	m := f.Messages
	return s + fmt.Sprintf("; %d of %d requests succeeded; lost %d, delivered twice %s, MessagingTimeout %d, "+
		"reported failed but received %d", f.Requests.OK, f.Requests.Sent, m.Lost, duplicates(m), f.Requests.MessagingTimeouts, m.ReceivedUnacked)
}

// timesChart is each cell's detection, recovery and downtime, in seconds.
func timesChart(cells []CellResult) htmlreport.Chart {
	n := len(cells)
	ch := htmlreport.Chart{
		Title: "Noticed, back, and downtime per cell",
		Wide:  true,
		Note:  "seconds; a missing point: never (not noticed, not back by the end)",
		X:     htmlreport.Axis{Label: "cell"},
		Y:     htmlreport.Axis{Label: "s", Min: htmlreport.Zero()},
		Xs:    make(htmlreport.Values, n),
	}
	first, last, back, latency, down := gaps(n), gaps(n), gaps(n), gaps(n), gaps(n)
	set := func(v htmlreport.Values, i int, s *float64) {
		if s != nil {
			v[i] = *s
		}
	}
	for i, c := range cells {
		ch.Categories = append(ch.Categories, c.ID)
		ch.Xs[i] = float64(i)
		if c.Verdict.Kind == results.Error {
			continue
		}
		f := c.Findings
		set(first, i, f.Detect.FirstS)
		set(last, i, f.Detect.LastS)
		set(back, i, f.Recovery.RecoverS)
		set(latency, i, f.Recovery.LatencyBackS)
		down[i] = f.Recovery.DowntimeS
	}
	ch.Series = []htmlreport.Series{
		{Label: "noticed: first connection (from the fault's start)", Style: htmlreport.StylePoints, Values: first, Color: "#fdae6b", Width: 2},
		{Label: "noticed: last connection", Style: htmlreport.StylePoints, Values: last, Color: "#e6550d", Width: 2},
		{Label: "answering again (from the fault's end)", Style: htmlreport.StylePoints, Values: back, Color: "#31a354", Width: 2},
		{Label: "latency back", Style: htmlreport.StylePoints, Values: latency, Color: "#006d2c", Width: 2},
		{Label: "downtime", Style: htmlreport.StylePoints, Values: down, Color: "#d62728", Width: 2},
	}
	return ch
}

// countsTable is what happened to the messages, per cell.
func countsTable(cells []CellResult) *htmlreport.Table {
	t := &htmlreport.Table{Columns: []string{"cell", "verdict", "requests ok/sent", "timed out", "MessagingTimeout",
		"lost", "delivered twice", "received though reported failed"}, ToneColumn: 1}
	for _, c := range cells {
		f := c.Findings
		row := []string{c.ID, c.Verdict.Kind, "-", "-", "-", "-", "-", "-"}
		if c.Verdict.Kind != results.Error {
			row = []string{c.ID, c.Verdict.Kind, fmt.Sprintf("%d/%d", f.Requests.OK, f.Requests.Sent), fmt.Sprint(f.Requests.TimedOut),
				fmt.Sprint(f.Requests.MessagingTimeouts), fmt.Sprint(f.Messages.Lost), duplicates(f.Messages), fmt.Sprint(f.Messages.ReceivedUnacked)}
		}
		t.Rows = append(t.Rows, row)
		t.Tones = append(t.Tones, Scenario{}.VerdictTone(c.Verdict.Kind))
	}
	return t
}

func gaps(n int) htmlreport.Values {
	v := make(htmlreport.Values, n)
	for i := range v {
		v[i] = math.NaN()
	}
	return v
}
