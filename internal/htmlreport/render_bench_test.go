package htmlreport_test

import (
	"testing"

	"wsgilab/internal/htmlreport"
	"wsgilab/internal/results"
	"wsgilab/internal/scenario"
)

// The Go side of a report of the default 12-cell heartbeat run: reading the run and its cell
// files, the charts, downsampling and rendering (the browser's side is measured by
// TestReportsInChromium, which logs the time to the last chart drawn).
func BenchmarkReportTwelveCellHeartbeat(b *testing.B) {
	dir := extractRun(b, "heartbeat-12cells")
	size := 0
	for b.Loop() {
		run, err := results.Load(dir)
		if err != nil {
			b.Fatal(err)
		}
		sc, _ := scenario.Lookup(run.Scenario)
		p, err := htmlreport.ForRun(run, dir, sc)
		if err != nil {
			b.Fatal(err)
		}
		html, err := p.Render()
		if err != nil {
			b.Fatal(err)
		}
		size = len(html)
	}
	b.ReportMetric(float64(size), "bytes/report")
}
