package spikes

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"wsgilab/internal/htmlreport"
	"wsgilab/internal/results"
)

// Charts draws, per cell, every request's latency over the bursts as the client, Apache (%D)
// and the app saw it, with the cold starts marked (the spikes and what caused them), then the
// processes Apache and mod_wsgi ran second by second and burst by burst (why there were cold
// starts).
func (Scenario) Charts(run *results.Run, dir string) ([]htmlreport.Section, error) {
	var p Plan
	cells, full, notes, err := htmlreport.Cells[CellResult](run, dir, &p)
	if err != nil {
		return nil, err
	}
	reqs := htmlreport.Section{
		Title: "Every request's latency",
		Note: fmt.Sprintf("Per cell: each request at the time it started (s from the first burst), its latency as the client "+
			"measured it, as Apache logged it (%%D) and as the app timed itself (log scale). Red: cold starts, requests "+
			"that waited while their process loaded the app. Dashed: the spike threshold (%gx the median). Shaded: the bursts.", p.SpikeFactor),
	}
	if len(notes) > 0 {
		reqs.Note += " " + strings.Join(notes, "; ") + "."
	}
	procs := htmlreport.Section{
		Title: "Processes",
		Note: "Per cell: the app processes alive in each second (Apache children, mod_wsgi daemons), those that appeared " +
			"and exited, and the cold starts; then per burst, the processes before it and at most during it.",
	}
	for i, c := range cells {
		if c.Spikes == nil {
			continue
		}
		if full[i] && len(c.Spikes.RequestLog) > 0 {
			reqs.Charts = append(reqs.Charts, requestChart(c))
		}
		if len(c.Spikes.Timeline) > 0 {
			procs.Charts = append(procs.Charts, processChart(c))
		}
		if len(c.Spikes.Bursts) > 0 {
			procs.Charts = append(procs.Charts, burstChart(c))
		}
	}
	return []htmlreport.Section{reqs, procs}, nil
}

func nan(n int) htmlreport.Values {
	v := make(htmlreport.Values, n)
	for i := range v {
		v[i] = math.NaN()
	}
	return v
}

// requestChart is one point per request and view (client, Apache, app), x its start.
func requestChart(c CellResult) htmlreport.Chart {
	sp := c.Spikes
	log := slices.Clone(sp.RequestLog)
	slices.SortStableFunc(log, func(a, b Request) int {
		switch {
		case a.TMs < b.TMs:
			return -1
		case a.TMs > b.TMs:
			return 1
		}
		return 0
	})
	n := len(log)
	xs := make(htmlreport.Values, n)
	client, apache, app, cold, threshold := nan(n), nan(n), nan(n), nan(n), nan(n)
	for i, r := range log {
		xs[i] = r.TMs / 1000
		if r.Error == "" {
			client[i] = r.LatencyMs
		}
		if r.ApacheMs != nil {
			apache[i] = *r.ApacheMs
		}
		if r.AppMs != nil {
			app[i] = *r.AppMs
		}
		if r.ColdStart {
			cold[i] = r.LatencyMs
		}
	}
	if sp.SpikeThresholdMs > 0 && n > 0 {
		threshold[0], threshold[n-1] = sp.SpikeThresholdMs, sp.SpikeThresholdMs
	}
	ch := htmlreport.Chart{
		Title: fmt.Sprintf("%s: %d cold starts, %d spikes", c.ID, sp.ColdStarts, sp.Spikes),
		Note: fmt.Sprintf("client p50 %.1f ms, p99 %.1f ms, max %.1f ms; app p99 %.1f ms; %d requests",
			sp.Client.P50, sp.Client.P99, sp.Client.Max, sp.App.P99, sp.Requests),
		X:  htmlreport.Axis{Label: "s from the first burst's start"},
		Y:  htmlreport.Axis{Label: "ms", Scale: htmlreport.ScaleLog},
		Xs: xs,
		Series: []htmlreport.Series{
			{Label: "client", Style: htmlreport.StylePoints, Values: client, Color: "#1f77b4"},
			{Label: "Apache %D", Style: htmlreport.StylePoints, Values: apache, Color: "#2ca02c", Width: 1},
			{Label: "app", Style: htmlreport.StylePoints, Values: app, Color: "#9467bd", Width: 1},
			{Label: "cold start", Style: htmlreport.StylePoints, Values: cold, Color: "#d62728", Width: 2.5, Keep: true},
			{Label: "spike threshold", Style: htmlreport.StyleLine, Values: threshold, Color: "#7f7f7f", Dash: true, Connect: true, Keep: true},
		},
	}
	for _, b := range sp.Bursts {
		ch.Bands = append(ch.Bands, htmlreport.Band{From: b.StartS, To: b.StartS + b.DurationS, Label: fmt.Sprintf("burst %d", b.Burst), Tone: htmlreport.Info})
	}
	return ch
}

// processChart is the cell's per-second process counts.
func processChart(c CellResult) htmlreport.Chart {
	tl := c.Spikes.Timeline
	n := len(tl)
	xs := make(htmlreport.Values, n)
	children, daemons, spawned, exited, cold := nan(n), nan(n), nan(n), nan(n), nan(n)
	anyDaemons := false
	for i, s := range tl {
		xs[i] = float64(s.T)
		children[i], daemons[i] = float64(s.Children), float64(s.Daemons)
		spawned[i], exited[i], cold[i] = float64(s.Spawned), float64(s.Exited), float64(s.ColdStarts)
		anyDaemons = anyDaemons || s.Daemons > 0
	}
	ch := htmlreport.Chart{
		Title: fmt.Sprintf("%s: processes per second", c.ID),
		Note:  fmt.Sprintf("%d processes appeared and %d exited during the traffic", c.Spikes.Spawned, c.Spikes.Exited),
		X:     htmlreport.Axis{Label: "s from the first burst's start"},
		Y:     htmlreport.Axis{Label: "processes", Min: htmlreport.Zero(), Integer: true},
		Xs:    xs,
		Series: []htmlreport.Series{
			{Label: "Apache children", Style: htmlreport.StyleStep, Values: children, Width: 2, Color: "#1f77b4"},
		},
	}
	if anyDaemons {
		ch.Series = append(ch.Series, htmlreport.Series{Label: "mod_wsgi daemons", Style: htmlreport.StyleStep, Values: daemons, Width: 2, Color: "#17becf"})
	}
	ch.Series = append(ch.Series,
		htmlreport.Series{Label: "appeared", Style: htmlreport.StyleStep, Values: spawned, Color: "#2ca02c"},
		htmlreport.Series{Label: "exited", Style: htmlreport.StyleStep, Values: exited, Color: "#7f7f7f"},
		htmlreport.Series{Label: "cold starts", Style: htmlreport.StyleStep, Values: cold, Color: "#d62728"},
	)
	for _, b := range c.Spikes.Bursts {
		ch.Bands = append(ch.Bands, htmlreport.Band{From: b.StartS, To: b.StartS + b.DurationS, Label: fmt.Sprintf("burst %d", b.Burst), Tone: htmlreport.Info})
	}
	return ch
}

// burstChart is the cell's processes, cold starts and spikes per burst.
func burstChart(c CellResult) htmlreport.Chart {
	bs := c.Spikes.Bursts
	n := len(bs)
	ch := htmlreport.Chart{
		Title: fmt.Sprintf("%s: per burst", c.ID),
		Note:  "processes alive before each burst and at most during it; the burst's cold starts and spikes",
		X:     htmlreport.Axis{Label: "burst"},
		Y:     htmlreport.Axis{Label: "count", Min: htmlreport.Zero(), Integer: true},
		Xs:    make(htmlreport.Values, n),
	}
	before, most, cold, spikes := nan(n), nan(n), nan(n), nan(n)
	for i, b := range bs {
		ch.Categories = append(ch.Categories, fmt.Sprintf("burst %d", b.Burst))
		ch.Xs[i] = float64(i)
		before[i], most[i] = float64(b.ProcessesBefore), float64(b.ProcessesMax)
		cold[i], spikes[i] = float64(b.ColdStarts), float64(b.Spikes)
	}
	ch.Series = []htmlreport.Series{
		{Label: "processes before", Style: htmlreport.StyleLine, Values: before, Color: "#9ecae1", Width: 2},
		{Label: "processes at most", Style: htmlreport.StyleLine, Values: most, Color: "#1f77b4", Width: 2},
		{Label: "cold starts", Style: htmlreport.StyleLine, Values: cold, Color: "#d62728", Width: 2},
		{Label: "spikes", Style: htmlreport.StyleLine, Values: spikes, Color: "#ff7f0e", Width: 2, Dash: true},
	}
	return ch
}
