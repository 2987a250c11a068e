package heartbeat

import (
	"math"
	"testing"

	"wsgilab/internal/htmlreport"
)

// A cell's connections chart, on the verdict fixtures (real recordings): x is seconds from
// the warm-up's end, so the first missed-heartbeats close sits at the verdict's time to drop;
// every such close of the cell is marked, and no other cell's (other-vhost: cellB's close is
// in cellA's broker log); the idle is shaded from 0 to the probe; the series hold what the
// ticks hold.
func TestConnectionsChart(t *testing.T) {
	for _, name := range []string{"green-drop", "green-drop-unattributed", "reconnect-before-probe",
		"pthread-stable", "heartbeat-off", "other-vhost", "other-vhost-unattributed"} {
		t.Run(name, func(t *testing.T) {
			fx := load(t, name)
			v := fx.verdict()
			c := CellResult{Timeline: fx.Observations.Timeline, Findings: v.Findings}
			c.Vhost, c.Verdict = fx.Vhost, v.Verdict
			ch, ok := connectionsChart(c)
			if !ok {
				t.Fatal("no chart")
			}
			count := map[string]int{}
			var firstClose *htmlreport.Mark
			for i, m := range ch.Marks {
				count[m.Label]++
				if m.Label == MarkLabelHeartbeatClose && firstClose == nil {
					firstClose = &ch.Marks[i]
				}
			}
			if count[MarkLabelHeartbeatClose] != v.MissedHeartbeats {
				t.Errorf("%d heartbeat-close marks, the verdict counts %d missed-heartbeat closes: %+v", count[MarkLabelHeartbeatClose], v.MissedHeartbeats, ch.Marks)
			}
			if v.DropSeenBy == byBrokerLog && (firstClose == nil || math.Abs(firstClose.X-*v.TimeToDropSeconds) > 0.001) {
				t.Errorf("first heartbeat close at %+v, the verdict's time to drop is %.3f s", firstClose, *v.TimeToDropSeconds)
			}
			if v.Kind == Dropped && count[MarkLabelClientError] == 0 {
				t.Errorf("a drop without the client's error marked: %+v", ch.Marks)
			}
			if v.Kind == Stable && count[MarkLabelClientError]+count[MarkLabelReconnect] > 0 {
				t.Errorf("a stable cell with client errors or reconnects marked: %+v", ch.Marks)
			}
			var idle *htmlreport.Band
			for i, b := range ch.Bands {
				if b.Label == "idle" {
					idle = &ch.Bands[i]
				}
			}
			wantTo := fx.Phases.ProbeStart.Sub(fx.Phases.WarmupEnd).Seconds()
			if idle == nil || idle.From != 0 || math.Abs(idle.To-wantTo) > 0.001 {
				t.Errorf("idle band %+v, want 0 to %.3f", idle, wantTo)
			}
			if len(ch.Xs) != len(c.Timeline.Ticks) || len(ch.Series) < 2 {
				t.Fatalf("%d x values for %d ticks, %d series", len(ch.Xs), len(c.Timeline.Ticks), len(ch.Series))
			}
			for i, tk := range c.Timeline.Ticks {
				if tk.Sockets != nil && ch.Series[1].Values[i] != float64(tk.Sockets.Established) {
					t.Fatalf("tick %d: sockets %v, the tick has %d", i, ch.Series[1].Values[i], tk.Sockets.Established)
				}
			}
		})
	}
}
