package throughput

import (
	"fmt"
	"math"

	"wsgilab/internal/htmlreport"
	"wsgilab/internal/results"
	"wsgilab/internal/stats"
)

// Charts draws every measured run's req/s in the order the runs went (the drift and the
// outliers a single ab run hides), then each cell's mean with its 95% confidence interval, for
// req/s and for p50/p99 latency: what the comparison rests on.
func (Scenario) Charts(run *results.Run, dir string) ([]htmlreport.Section, error) {
	var p Plan
	// A throughput cell has no bulk: run.json holds all of it, so no cell file is needed.
	cells, err := results.Decode[CellResult](run, &p)
	if err != nil {
		return nil, err
	}
	sec := htmlreport.Section{
		Title: "Throughput",
		Note: fmt.Sprintf("%d requests at concurrency %d per run, %d measured runs per cell in %s order after %d warm-up runs. "+
			"Whiskers: the 95%% confidence interval of the mean (Student's t); overlapping intervals are not a difference.",
			p.Requests, p.Concurrency, p.Repetitions, p.Order, p.WarmupRuns),
		Charts: []htmlreport.Chart{runsChart(cells), ciChart(cells, "req/s", "req/s", []string{"req/s"}),
			ciChart(cells, "p50 and p99 latency", "ms", []string{"p50", "p99"})},
	}
	return []htmlreport.Section{sec}, nil
}

// runsChart is one point per measured run: x its slot in the run's schedule, one series per
// cell, and a red ring around the runs during which a process loaded the app.
func runsChart(cells []CellResult) htmlreport.Chart {
	maxSlot := 0
	for _, c := range cells {
		if c.Throughput == nil {
			continue
		}
		for _, r := range c.Throughput.Repetitions {
			maxSlot = max(maxSlot, r.Slot)
		}
	}
	ch := htmlreport.Chart{
		Title: "req/s of each run, in the order the runs went",
		Note:  "one point per measured run; ringed in red: a process loaded the app during the run (a cold start drags its req/s down)",
		X:     htmlreport.Axis{Label: "run (slot in the schedule)"},
		Y:     htmlreport.Axis{Label: "req/s", Min: htmlreport.Zero()},
	}
	for s := 1; s <= maxSlot; s++ {
		ch.Xs = append(ch.Xs, float64(s))
	}
	cold := gaps(maxSlot)
	for _, c := range cells {
		v := gaps(maxSlot)
		if c.Throughput != nil {
			for _, r := range c.Throughput.Repetitions {
				if r.Slot < 1 || r.Error != "" {
					continue
				}
				v[r.Slot-1] = r.ReqPerSec
				if r.ColdStarts > 0 {
					cold[r.Slot-1] = r.ReqPerSec
				}
			}
		}
		ch.Series = append(ch.Series, htmlreport.Series{Label: c.ID, Style: htmlreport.StylePoints, Values: v, Width: 2})
	}
	ch.Series = append(ch.Series, htmlreport.Series{Label: "with a cold start", Style: htmlreport.StylePoints, Values: cold, Color: "#d62728", Width: 4, Hollow: true, Keep: true})
	return ch
}

// ciChart is each cell's mean of the named series with its 95% CI as a whisker.
func ciChart(cells []CellResult, title, unit string, names []string) htmlreport.Chart {
	n := len(cells)
	ch := htmlreport.Chart{
		Title: title + ": mean and 95% CI per cell",
		X:     htmlreport.Axis{Label: "cell"},
		Y:     htmlreport.Axis{Label: unit, Min: htmlreport.Zero()},
		Xs:    make(htmlreport.Values, n),
	}
	for i, c := range cells {
		ch.Categories = append(ch.Categories, c.ID)
		ch.Xs[i] = float64(i)
	}
	for _, name := range names {
		mean, low, high := gaps(n), gaps(n), gaps(n)
		for i, c := range cells {
			if c.Throughput == nil {
				continue
			}
			s, ok := c.Throughput.Summary[name]
			if !ok || s.N == 0 {
				continue
			}
			mean[i] = s.Mean
			if ci := s.CI; ci != nil {
				low[i], high[i] = ci.Low, ci.High
			}
		}
		ch.Series = append(ch.Series, htmlreport.Series{Label: "mean " + name, Style: htmlreport.StylePoints, Values: mean, Width: 2.5, Low: low, High: high})
	}
	ch.Note = ciNote(cells, names[0])
	return ch
}

func ciNote(cells []CellResult, name string) string {
	note := ""
	for _, c := range cells {
		if c.Throughput == nil {
			continue
		}
		if s, ok := c.Throughput.Summary[name]; ok && s.N > 0 {
			if note != "" {
				note += "; "
			}
			note += fmt.Sprintf("%s %s", c.ID, meanCI(s))
		}
	}
	return note
}

func meanCI(s stats.Summary) string {
	// Whole numbers for req/s, three significant digits for milliseconds.
	f := "%.3g"
	if math.Abs(s.Mean) >= 100 {
		f = "%.0f"
	}
	if s.CI == nil {
		return fmt.Sprintf(f+" (n=%d)", s.Mean, s.N)
	}
	return fmt.Sprintf(f+" ± "+f+" (n=%d)", s.Mean, s.CI.HalfWidth, s.N)
}

func gaps(n int) htmlreport.Values {
	v := make(htmlreport.Values, n)
	for i := range v {
		v[i] = math.NaN()
	}
	return v
}
