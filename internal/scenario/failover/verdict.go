package failover

import (
	"fmt"
	"strings"
	"time"

	"wsgilab/internal/fault"
	"wsgilab/internal/observe"
	"wsgilab/internal/results"
)

// Verdict kinds of a failover cell (and results.Error when it could not be judged).
const (
	// Recovered: every app process answered again after the fault, latency came back to
	// its pre-fault p99 within the tail, no acknowledged cast was lost, none was delivered
	// twice, and no call hit MessagingTimeout.
	Recovered = "RECOVERED"
	// Degraded: recovered, but with losses, duplicates or RPC timeouts (MessagingTimeout: seed
	// 002's "Timed out waiting for a reply"); the reason says which. Requests that failed or
	// hung because the broker was gone are the fault's cost, not a degradation: every cell has
	// them, and the reason, DOWNTIME and RECOVER say how many and how long.
	Degraded = "DEGRADED"
	// Stuck: not recovered by the end of the tail (a process without a success since
	// the fault ended, or requests still failing or slow at the end).
	Stuck = "STUCK"
)

// Observations are what a failover verdict is computed from: the client's record of every
// request, the conductor's record of every id it received, the fault's window and the
// observer's timeline (connections, sockets, log lines).
type Observations struct {
	Requests []Request
	Received []Delivery
	Fault    fault.Window
	Timeline observe.Timeline
	// Vhost is the cell's: broker lines of other vhosts are not its evidence.
	Vhost string
}

// Findings are the counts and times a failover verdict rests on (a cell's "findings").
//
// JSON:
//
//	{"fault_start": "...",         the fault as judged: its first effect (the broker's first line about it, or
//	 "fault_end": "...",           /proc: fault.Window's start, whichever came first), and its end
//	 "requests": Requests,         what the client saw
//	 "messages": Messages,         the client's requests against the conductor's record
//	 "detect": Detection,          when the service noticed it had lost the broker
//	 "recovery": Recovery,         when it worked again, downtime, latency before/during/after
//	 "churn": Churn,               connections lost and replaced
//	 "evidence": [observe.Event, ...],   the broker's and the client's lines, in time order (at most 12)
//	 "evidence_omitted": 0}
type Findings struct {
	FaultStart      time.Time       `json:"fault_start"`
	FaultEnd        time.Time       `json:"fault_end"`
	Requests        Requests        `json:"requests"`
	Messages        Messages        `json:"messages"`
	Detect          Detection       `json:"detect"`
	Recovery        Recovery        `json:"recovery"`
	Churn           Churn           `json:"churn"`
	Evidence        []observe.Event `json:"evidence"`
	EvidenceOmitted int             `json:"evidence_omitted,omitempty"`
}

// Verdict is the judgement of one failover cell.
type Verdict struct {
	results.Verdict
	Findings
}

// judge computes the cell's verdict from what it recorded.
func (r *CellResult) judge() {
	v := FailoverVerdict(Observations{Requests: r.Requests, Received: r.Received, Fault: r.Fault,
		Timeline: r.Timeline, Vhost: r.Vhost})
	r.Verdict, r.Findings = v.Verdict, v.Findings
}

// FailoverVerdict judges one cell. It is a pure function of the observations: the named steps
// below each compute one part of the findings (verdict_*.go), and classify reads them.
func FailoverVerdict(obs Observations) Verdict {
	v := Verdict{Findings: Findings{Evidence: []observe.Event{}}}
	if reason := unjudgeable(obs); reason != "" {
		v.Kind, v.Reason = results.Error, reason
		return v
	}
	ph := phasesOf(obs)
	v.FaultStart, v.FaultEnd = ph.FaultStart, ph.FaultEnd
	v.Requests = countRequests(obs.Requests, ph)
	v.Messages = accountMessages(obs.Requests, obs.Received, obs.Timeline.Events)
	conns := connectionsAtFault(obs.Timeline, ph.FaultStart)
	v.Detect = detection(conns, obs.Timeline.Events, ph)
	v.Recovery = recovery(obs.Requests, ph)
	v.Churn = churn(obs.Timeline, conns, ph)
	ev, omitted := evidence(obs.Timeline.Events, obs.Vhost, ph, v.Detect)
	v.Evidence, v.EvidenceOmitted = ev, omitted
	v.Kind, v.Reason = classify(v.Findings, ph)
	return v
}

// Phases are the boundaries of a failover cell.
type Phases struct {
	TrafficStart, FaultStart, FaultEnd, TrafficEnd time.Time
	Fault                                          string
}

// phasesOf reads the traffic's start and end from the timeline's marks and the fault's from
// its window, whose start is when /proc showed the fault's effect: a restart's first closes may
// be in the broker's own log a little earlier (the node closes its clients and its listener
// while rabbitmqctl still runs, and /proc is polled), and then the fault began there.
func phasesOf(obs Observations) Phases {
	ph := Phases{FaultStart: obs.Fault.Start, FaultEnd: obs.Fault.End, Fault: obs.Fault.Kind}
	if !obs.Fault.Began.IsZero() {
		for _, e := range obs.Timeline.Events {
			if e.Source == sourceBroker && (e.Kind == observe.KindDrop || e.Kind == observe.KindError) &&
				(e.Fields.Vhost == "" || e.Fields.Vhost == obs.Vhost) &&
				!e.Time.Before(obs.Fault.Began) && e.Time.Before(ph.FaultStart) {
				ph.FaultStart = e.Time
				break
			}
		}
	}
	for _, m := range obs.Timeline.Marks {
		switch m.Name {
		case MarkTrafficStart:
			ph.TrafficStart = m.T
		case MarkTrafficEnd:
			ph.TrafficEnd = m.T
		}
	}
	if ph.TrafficStart.IsZero() && len(obs.Requests) > 0 {
		ph.TrafficStart = obs.Requests[0].Sent
	}
	if ph.TrafficEnd.IsZero() {
		ph.TrafficEnd = obs.Timeline.End
	}
	return ph
}

// unjudgeable says why a cell cannot be judged, if it cannot.
func unjudgeable(obs Observations) string {
	switch {
	case obs.Fault.Start.IsZero():
		return "the fault was never injected"
	case len(obs.Requests) == 0:
		return "no request was sent"
	}
	before := 0
	for _, r := range obs.Requests {
		if r.Sent.Before(obs.Fault.Start) && r.OK() {
			before++
		}
	}
	if before == 0 {
		return "no request succeeded before the fault: the service never worked, so it cannot recover"
	}
	return ""
}

// classify is the final judgement: STUCK when the service did not recover within the tail,
// DEGRADED when it did but lost, duplicated or hit MessagingTimeout, RECOVERED otherwise. The
// reason says what the verdict rests on; Figures says what the fault cost in any case.
func classify(f Findings, ph Phases) (kind, reason string) {
	rc, m, rq := f.Recovery, f.Messages, f.Requests
	var stuck []string
	for _, p := range rc.Processes {
		if p.FirstSuccessS == nil {
			stuck = append(stuck, fmt.Sprintf("app process %d answered nothing after the fault", p.PID))
		}
	}
	if len(stuck) == 0 && rc.LatencyBackS == nil {
		stuck = append(stuck, fmt.Sprintf("its latency was not back at the pre-fault p99 (%s) by the end", ms(rc.NormalP99Ms)))
	}
	var why []string
	if m.Lost > 0 {
		why = append(why, plural(m.Lost, "acknowledged cast", "acknowledged casts")+" lost")
	}
	if d := m.Duplicated + m.DriverDuplicates; d > 0 {
		why = append(why, plural(d, "message", "messages")+" delivered twice"+duplicateDetail(m))
	}
	if rq.MessagingTimeouts > 0 {
		why = append(why, plural(rq.MessagingTimeouts, "call", "calls")+" hit MessagingTimeout")
	}
	if len(stuck) > 0 {
		reason = fmt.Sprintf("not recovered %.0f s after the fault: %s", ph.TrafficEnd.Sub(ph.FaultEnd).Seconds(), strings.Join(stuck, "; "))
		if len(why) > 0 {
			reason += "; and " + strings.Join(why, ", ")
		}
		return Stuck, reason
	}
	rec := fmt.Sprintf("recovered %s after the fault (latency back %s after)", secs(rc.RecoverS), secs(rc.LatencyBackS))
	if len(why) > 0 {
		return Degraded, rec + ", with " + strings.Join(why, ", ")
	}
	return Recovered, rec + ", nothing lost or delivered twice"
}

// Figures is what the fault cost the service whatever the verdict, in one line: when it
// noticed, what failed and for how long, the requests reported failed that happened anyway,
// and the connections' churn.
func (f Findings) Figures() string {
	var parts []string
	switch d := f.Detect; {
	case d.Connections == 0:
	case d.Detected == 0:
		parts = append(parts, fmt.Sprintf("never noticed (0 of %d connections)", d.Connections))
	case *d.FirstS == *d.LastS:
		parts = append(parts, fmt.Sprintf("noticed %s after the fault began (%d of %d connections)", secs(d.FirstS), d.Detected, d.Connections))
	default:
		parts = append(parts, fmt.Sprintf("noticed %.1f..%s after the fault began (%d of %d connections)",
			*d.FirstS, secs(d.LastS), d.Detected, d.Connections))
	}
	rq := f.Requests
	s := fmt.Sprintf("%d of %d requests failed (%d timed out", rq.Errors+rq.TimedOut, rq.Sent, rq.TimedOut)
	if rq.FailedAfter > 0 {
		s += fmt.Sprintf(", %d sent after the fault ended", rq.FailedAfter)
	}
	parts = append(parts, s+fmt.Sprintf("), downtime %.1f s, longest request %s", f.Recovery.DowntimeS, ms(f.Recovery.LongestMs)))
	if n := f.Messages.ReceivedUnacked; n > 0 {
		parts = append(parts, plural(n, "request", "requests")+" reported failed reached the conductor anyway")
	}
	ch := f.Churn
	low := "?"
	if ch.BrokerMin >= 0 {
		low = fmt.Sprint(ch.BrokerMin)
	}
	parts = append(parts, fmt.Sprintf("broker connections %d -> %s -> %d, %d reconnects", ch.BrokerBefore, low, ch.BrokerAfter, ch.Reconnects))
	return strings.Join(parts, "; ")
}

func duplicateDetail(m Messages) string {
	switch {
	case m.Duplicated > 0 && m.DriverDuplicates > 0:
		return fmt.Sprintf(" (%d processed twice, %d caught by the driver's duplicate check)", m.Duplicated, m.DriverDuplicates)
	case m.DriverDuplicates > 0:
		return " (caught by the driver's duplicate check)"
	}
	return " (processed twice)"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// secs prints a time in seconds, "never" for none.
func secs(s *float64) string {
	if s == nil {
		return "never"
	}
	return fmt.Sprintf("%.1f s", *s)
}
