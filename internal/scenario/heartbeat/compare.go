package heartbeat

import (
	"bytes"
	"encoding/json"
	"fmt"

	"wsgilab/internal/compare"
	"wsgilab/internal/results"
)

// CompareRuns compares two heartbeat runs cell by cell (compare.RunComparer): each cell's
// verdict on both sides, whether it changed, and the figures it measured once per run (time to
// drop, the probe's latency, connections, reconnects, client errors). A heartbeat cell runs
// once, so these are differences without a test: 'wsgilab compare' says so in its basis line.
func (Scenario) CompareRuns(a, b *results.Run, opt compare.Options) (*compare.Comparison, error) {
	ca, cb, pairs, notes, err := compare.DecodePairs[CellResult](a, b)
	if err != nil {
		return nil, err
	}
	c := compare.NewRunComparison(a.Scenario, opt)
	c.Basis = []string{"each cell's verdict, and the figures it measured once per run: differences, no test (a heartbeat cell has no repetitions)"}
	for _, p := range pairs {
		x, y := ca[p[0]], cb[p[1]]
		c.Cells = append(c.Cells, compare.Change(&x.Cell, &y.Cell, figures(x, y)))
	}
	c.Notes = append(c.Notes, notes...)
	if !sameJSON(a.Plan, b.Plan) {
		var pa, pb Plan
		json.Unmarshal(a.Plan, &pa)
		json.Unmarshal(b.Plan, &pb)
		note := "the runs' options differ (their plans)"
		if pa.Timeout != pb.Timeout || pa.IdleFactor != pb.IdleFactor {
			note += fmt.Sprintf(": heartbeat timeout %ds, idle %.1fs in A; %ds, %.1fs in B", pa.Timeout, pa.Idle().Seconds(),
				pb.Timeout, pb.Idle().Seconds())
		}
		c.Notes = append(c.Notes, note)
	}
	return c, nil
}

// figures are what a heartbeat cell measured, on both sides; a side that has no such figure
// (no drop, no probe because the cell failed) is nil.
func figures(a, b CellResult) []compare.Figure {
	measured := func(c CellResult) bool { return c.Verdict.Kind != results.Error || c.Probe.Requests > 0 }
	probed := func(c CellResult) bool { return c.Probe.Requests > 0 }
	pick := func(c CellResult, ok func(CellResult) bool, v float64) *float64 {
		if !ok(c) {
			return nil
		}
		return compare.Value(v)
	}
	return []compare.Figure{
		compare.NewFigure("time to drop", "s", a.Findings.TimeToDropSeconds, b.Findings.TimeToDropSeconds),
		compare.NewFigure("probe max", "ms", pick(a, probed, a.Probe.MaxMs), pick(b, probed, b.Probe.MaxMs)),
		compare.NewFigure("probe extra", "ms", pick(a, probed, a.Findings.ProbeExtraLatencyMs), pick(b, probed, b.Findings.ProbeExtraLatencyMs)),
		compare.NewFigure("conns before idle", "", pick(a, measured, float64(a.Findings.ConnsBefore)), pick(b, measured, float64(b.Findings.ConnsBefore))),
		compare.NewFigure("conns after idle", "", pick(a, measured, float64(a.Findings.ConnsAfter)), pick(b, measured, float64(b.Findings.ConnsAfter))),
		compare.NewFigure("missed heartbeats", "", pick(a, measured, float64(a.Findings.MissedHeartbeats)), pick(b, measured, float64(b.Findings.MissedHeartbeats))),
		compare.NewFigure("reconnects", "", pick(a, measured, float64(a.Findings.Reconnects)), pick(b, measured, float64(b.Findings.Reconnects))),
		compare.NewFigure("client errors", "", pick(a, measured, float64(a.Findings.ClientErrors)), pick(b, measured, float64(b.Findings.ClientErrors))),
	}
}

// sameJSON compares two JSON documents as values (key order and spacing aside).
func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return bytes.Equal(ca, cb)
}
