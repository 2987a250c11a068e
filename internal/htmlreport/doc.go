// Package htmlreport writes a run (or a bench result) as one self-contained HTML page: the
// run's configuration and verdict table, then the charts that explain the verdicts, drawn in
// the browser by uPlot (vendored under assets/ and inlined, as vegeta and k6 do), with the
// charts' data inlined as JSON. The page makes no request when it is opened: it works offline,
// from a file, attached to a ticket.
//
// It knows no scenario. A scenario draws its charts by implementing Charter (in its own
// package, charts.go): it reads its run (run.json, and the cell files beside it for the
// timelines) and returns Sections of Charts: x values, series, shaded bands (phases, a fault
// window) and marks (a drop, a reconnect). This package downsamples long series (LTTB), lays
// the sections out, and renders them. `wsgilab report` and `wsgilab run --html` look the run's
// scenario up in the registry and hand it to ForRun.
//
// In the page, each chart is a <figure class="chart" data-chart="N"> that the inlined script
// fills; once uPlot has drawn it, the figure carries data-points (the data points uPlot drew,
// counted from its own data within its visible window) and data-marks (the marks placed on
// it), window.wsgilabInk(N) counts the canvas pixels of its series' colours, and <html>
// carries data-rendered (performance.now() when the last chart was drawn). The tests read
// these through Chromium; they also tell a user's script that the page is ready.
package htmlreport
