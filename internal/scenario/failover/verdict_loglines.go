package failover

import (
	"slices"
	"time"

	"wsgilab/internal/observe"
)

// faultSlack is how far before the fault's recorded start a line may be and still be the
// fault's: the start is when /proc showed the broker's side of it (polled every 20 ms), and a
// client may log a closed connection a few ms before the next poll.
const faultSlack = 100 * time.Millisecond

// Evidence bounds: the story of a cell in a few lines, the timeline has them all.
const (
	maxDetectionLines = 3
	maxEvidence       = 9
)

// Rules the evidence picks lines of, besides the loss lines.
const (
	ruleMessagingTimeout = "messaging_timeout"
	// ruleDiscarded is the conductor dropping a message whose acknowledgement failed: how an
	// acknowledged cast gets lost in a restart.
	ruleDiscarded = "discarded_unacknowledged"
)

// evidence picks the lines that tell what happened, in time order: the broker's first line
// about a connection once the fault struck (a forced close, a missed-heartbeat close, a client
// that vanished), the service's first line that it lost the broker on a few connections, its
// first and last reconnect, its first MessagingTimeout, and the conductor's first "ignoring
// duplicate message" and "Discarding RPC request due to failed acknowledge". omitted is how
// many matched lines of the cell were left out.
func evidence(events []observe.Event, vhost string, ph Phases, det Detection) ([]observe.Event, int) {
	from := ph.FaultStart.Add(-faultSlack)
	inCell := func(e observe.Event) bool {
		return !e.Time.Before(from) && (ph.TrafficEnd.IsZero() || !e.Time.After(ph.TrafficEnd)) &&
			(e.Fields.Vhost == "" || e.Fields.Vhost == vhost) && e.Kind != observe.KindInfo
	}
	var picked []int
	pick := func(i int) {
		if i >= 0 && !slices.Contains(picked, i) {
			picked = append(picked, i)
		}
	}
	first := func(keep func(observe.Event) bool) int {
		return slices.IndexFunc(events, func(e observe.Event) bool { return inCell(e) && keep(e) })
	}
	pick(first(func(e observe.Event) bool { return e.Source == sourceBroker }))
	// The lines that timed the detected connections, the earliest first.
	byTime := slices.Clone(det.PerConnection)
	slices.SortStableFunc(byTime, func(a, b Conn) int {
		switch {
		case a.DetectS == nil:
			return 1
		case b.DetectS == nil:
			return -1
		case *a.DetectS < *b.DetectS:
			return -1
		case *a.DetectS > *b.DetectS:
			return 1
		}
		return 0
	})
	n := 0
	for _, c := range byTime {
		if c.line == nil || n == maxDetectionLines {
			break
		}
		i := slices.IndexFunc(events, func(e observe.Event) bool { return e.Time.Equal(c.line.Time) && e.Line == c.line.Line })
		if i >= 0 && !slices.Contains(picked, i) {
			pick(i)
			n++
		}
	}
	pick(first(func(e observe.Event) bool { return serviceLine(e) && e.Rule == ruleMessagingTimeout }))
	pick(first(func(e observe.Event) bool { return e.Rule == ruleDuplicateMessage }))
	pick(first(func(e observe.Event) bool { return e.Rule == ruleDiscarded }))
	reconnects := func(e observe.Event) bool { return serviceLine(e) && e.Rule == ruleReconnected }
	pick(first(reconnects))
	last := -1
	for i, e := range events {
		if inCell(e) && reconnects(e) {
			last = i
		}
	}
	pick(last)
	slices.Sort(picked)
	if len(picked) > maxEvidence {
		picked = picked[:maxEvidence]
	}
	out := make([]observe.Event, len(picked))
	for i, j := range picked {
		out[i] = events[j]
	}
	total := 0
	for _, e := range events {
		if inCell(e) {
			total++
		}
	}
	return out, max(0, total-len(out))
}
