package heartbeat

import (
	"fmt"
	"math"
	"strings"
	"time"

	"wsgilab/internal/observe"
	"wsgilab/internal/results"
)

// Verdict kinds of a heartbeat cell (and results.Error when it could not be judged).
const (
	// Stable: every connection alive when the idle began survived it, the broker closed
	// none for missed heartbeats and the client did not reconnect.
	Stable = "STABLE"
	// Dropped: connections were lost during the idle (or found dead by the probe).
	Dropped = "DROPPED"
)

// Phases are the boundaries of a heartbeat scenario.
//
// JSON: {"warmup_end": "...", "probe_start": "...", "end": "..."}
type Phases struct {
	// WarmupEnd is the last traffic before the idle: the moment heartbeats alone must keep
	// the connections up.
	WarmupEnd time.Time `json:"warmup_end"`
	// ProbeStart ends the idle.
	ProbeStart time.Time `json:"probe_start"`
	// End is the end of observation, before teardown (whose closes are not drops).
	End time.Time `json:"end"`
}

// PhasesFromTimeline reads the phases from the timeline's marks "warmup_end" and
// "probe_start"; End is the mark "end" when there is one, otherwise the timeline's end.
func PhasesFromTimeline(tl observe.Timeline) (Phases, error) {
	var ph Phases
	for _, m := range tl.Marks {
		switch m.Name {
		case "warmup_end":
			ph.WarmupEnd = m.T
		case "probe_start":
			ph.ProbeStart = m.T
		case "end":
			ph.End = m.T
		}
	}
	if ph.End.IsZero() {
		ph.End = tl.End
	}
	if ph.WarmupEnd.IsZero() || ph.ProbeStart.IsZero() {
		return ph, fmt.Errorf("timeline has no warmup_end/probe_start marks")
	}
	return ph, nil
}

// Observations is what a heartbeat verdict is computed from.
//
// JSON:
//
//	{"timeline": observe.Timeline,
//	 "warmup_p50_ms": 0.5,        median latency of the warm-up requests (the cell's normal)
//	 "probe_max_ms": 1009.9,      slowest probe request (the one that paid a reconnect, if any)
//	 "probe_failures": 0,         probe requests that failed or were not 2xx
//	 "setup_error": ""}           why the cell did not come up, when it did not
type Observations struct {
	Timeline      observe.Timeline `json:"timeline"`
	WarmupP50Ms   float64          `json:"warmup_p50_ms"`
	ProbeMaxMs    float64          `json:"probe_max_ms"`
	ProbeFailures int64            `json:"probe_failures,omitempty"`
	SetupError    string           `json:"setup_error,omitempty"`
	// WarmPIDs are the service processes that answered the warm-up. The time to drop is
	// measured on their connections only: a connection of a process that served no warm-up
	// request (a child the MPM is retiring, hung in Python's shutdown) has been silent since
	// before the warm-up, so its close says nothing about how long an idle service survives.
	// Empty: every connection of the cell counts.
	WarmPIDs []int `json:"warm_pids,omitempty"`
}

// Verdict is the judgement of one heartbeat cell: its kind and reason (results.Verdict, what
// every scenario's cell has) and the findings they rest on.
type Verdict struct {
	results.Verdict
	Findings
}

// Findings are the numbers and lines a heartbeat verdict rests on (a cell's "findings").
//
// JSON:
//
//	{"heartbeat_s": 2,                  negotiated heartbeat of the connections (0 = off); null if unknown
//	 "conns_before": 1,                 connections alive when the idle began (management API and /proc)
//	 "conns_after": 0,                  ... when it ended
//	 "dropped_conns": 1,                connections lost other than by a normal close, plus broker closes for missed heartbeats
//	 "missed_heartbeats": 1,            the broker's "missed heartbeats from client" closes of this cell
//	 "time_to_drop_s": 6.0,             last traffic -> first drop (broker close line, else the connection
//	                                    vanishing from /proc or the management API); null without a drop
//	 "drop_seen_by": "broker_log",      broker_log | sockets | broker_connections: what timed it
//	 "reconnects": 1,                   the client's reconnections (oslo's "Reconnected" lines, and new
//	                                    connections under the name of a lost one)
//	 "client_errors": 1,                client log lines of kind drop or error during idle and probe
//	 "probe_failures": 0,
//	 "probe_extra_latency_ms": 1009.4,  slowest probe request minus the warm-up median
//	 "evidence": [observe.Event, ...],  the broker and client lines, in time order (at most 12)
//	 "evidence_omitted": 0,             how many more there were
//	 "patched": "yes",                  eventlet.monkey_patch() as observed from outside: yes, no, mixed,
//	                                    or "" when it cannot be told (patched.go)
//	 "patched_basis": "...",            what that rests on, in words
//	 "runtime": [observe.Runtime, ...]} each app process at the end of the cell: eventlet's greenlet
//	                                    mapped, native threads, of them started by the app
type Findings struct {
	Heartbeat           *int            `json:"heartbeat_s"`
	ConnsBefore         int             `json:"conns_before"`
	ConnsAfter          int             `json:"conns_after"`
	DroppedConns        int             `json:"dropped_conns"`
	MissedHeartbeats    int             `json:"missed_heartbeats"`
	TimeToDropSeconds   *float64        `json:"time_to_drop_s"`
	DropSeenBy          string          `json:"drop_seen_by,omitempty"`
	Reconnects          int             `json:"reconnects"`
	ClientErrors        int             `json:"client_errors"`
	ProbeFailures       int64           `json:"probe_failures"`
	ProbeExtraLatencyMs float64         `json:"probe_extra_latency_ms"`
	Evidence            []observe.Event `json:"evidence"`
	EvidenceOmitted     int             `json:"evidence_omitted,omitempty"`
	// Patched, PatchedBasis and Runtime are the observed monkey-patching (patched.go); they
	// are set beside the verdict, which does not depend on them.
	Patched      string            `json:"patched"`
	PatchedBasis string            `json:"patched_basis,omitempty"`
	Runtime      []observe.Runtime `json:"runtime,omitempty"`
}

// maxEvidence keeps a verdict readable; the timeline has every line.
const maxEvidence = 12

// HeartbeatVerdict judges one cell of the heartbeat scenario. It is a pure function of the
// observations, the phases and the cell's vhost: broker lines of other vhosts are ignored (the
// broker is shared by the cells of a run), and a broker line whose vhost is unknown counts only
// if its client port is one of this cell's connections.
func HeartbeatVerdict(obs Observations, ph Phases, vhost string) Verdict {
	v := Verdict{Findings: Findings{ProbeFailures: obs.ProbeFailures, Evidence: []observe.Event{}}}
	tl := obs.Timeline
	if ph.End.IsZero() {
		ph.End = tl.End
	}
	if reason, ev := unjudgeable(obs, ph); reason != "" {
		v.Kind, v.Reason = results.Error, reason
		v.setEvidence(ev)
		return v
	}

	cv := views(tl, vhost)
	start := aliveAtIdleStart(cv.sockets, tl.Ticks, vhost, ph)
	lost := lossTimes(start, cv, ph.End)
	lines := classifyLogLines(tl.Events, ph, vhost, cv.ports)
	drops := droppedConnections(lost, lines.broker)

	v.Heartbeat = negotiatedHeartbeat(start, cv.known)
	v.ConnsBefore = len(start)
	v.ConnsAfter = len(aliveAtIdleEnd(cv, lost, ph.ProbeStart))
	v.DroppedConns = drops.count
	v.MissedHeartbeats = len(lines.broker.missed)
	v.Reconnects = reconnects(lines.client.reconnects, drops.ports, cv.known, start)
	v.ClientErrors = lines.client.errors
	v.TimeToDropSeconds, v.DropSeenBy = timeToDrop(ph.WarmupEnd, obs.WarmPIDs, lines.broker, drops.ports, lost, cv.known)
	v.ProbeExtraLatencyMs = probeExtraLatency(obs)
	v.setEvidence(lines.evidence)
	v.Kind, v.Reason = judge(v.Findings, drops, lines, ph.ProbeStart.Sub(ph.WarmupEnd))
	return v
}

// unjudgeable says why the cell cannot be judged on its connections, if it cannot: it did not
// come up, the driver printed no phase boundaries, or the app never loaded (its requests then
// opened no connection, and "nothing to judge" would hide why). The evidence is the app's
// load failure lines.
func unjudgeable(obs Observations, ph Phases) (reason string, evidence []observe.Event) {
	switch {
	case obs.SetupError != "":
		return "setup failed: " + obs.SetupError, nil
	case ph.WarmupEnd.IsZero() || ph.ProbeStart.IsZero():
		return "the scenario recorded no phase boundaries (warm-up end, probe start)", nil
	}
	return appLoadFailure(obs.Timeline.Events, ph.End)
}

// probeExtraLatency is what the slowest probe request paid beyond the cell's normal (the
// warm-up median): a reconnect shows there even when no log line says so. A latency below the
// normal is no extra, and without a probe timing there is nothing to compare.
func probeExtraLatency(obs Observations) float64 {
	if obs.ProbeMaxMs > 0 {
		return math.Round(math.Max(0, obs.ProbeMaxMs-obs.WarmupP50Ms)*10) / 10
	}
	return 0
}

// judge is the final classification. Any sign of a lost connection (a drop, a client
// connection error, a reconnect) makes the cell DROPPED, since each can be the only one a
// source caught; without one, a cell that had no connection to lose is an ERROR rather than
// STABLE.
func judge(f Findings, d drops, lines logLines, idle time.Duration) (kind, reason string) {
	switch {
	case f.DroppedConns > 0 || lines.client.drops > 0 || f.Reconnects > 0:
		return Dropped, dropReason(f, d, lines, idle)
	case f.ConnsBefore == 0:
		return results.Error, "no AMQP connection of this cell was open when the idle began: nothing to judge (did the warm-up reach the broker?)"
	default:
		return Stable, stableReason(f, d.normal, idle)
	}
}

// dropReason lists every sign of the drop: which ones there are tells how it happened (the
// broker gave up on heartbeats, the process exited, the connection was cut silently) and
// whether the client noticed.
func dropReason(f Findings, d drops, lines logLines, idle time.Duration) string {
	var why []string
	if f.MissedHeartbeats > 0 {
		s := fmt.Sprintf("the broker closed %s for missed heartbeats", plural(f.MissedHeartbeats, "connection"))
		if t := lines.broker.firstMissedTimeout(); t > 0 {
			s += fmt.Sprintf(" (timeout %ds)", t)
		}
		// Only a time the broker's line gave is the time of this close.
		if f.TimeToDropSeconds != nil && f.DropSeenBy == byBrokerLog {
			s += fmt.Sprintf(", the first %.1f s after the last traffic", *f.TimeToDropSeconds)
		}
		why = append(why, s)
	}
	if d.byClient > 0 {
		why = append(why, fmt.Sprintf("%s closed from the client side without an AMQP close (process exit)", plural(d.byClient, "connection")))
	}
	if d.vanished > 0 {
		why = append(why, fmt.Sprintf("%s vanished during the idle with no broker line", plural(d.vanished, "connection")))
	}
	if lines.client.drops > 0 {
		why = append(why, fmt.Sprintf("the client logged %s", plural(lines.client.drops, "connection error")))
	}
	if f.Reconnects > 0 {
		why = append(why, fmt.Sprintf("it reconnected %s", plural(f.Reconnects, "time")))
	}
	return strings.Join(why, "; ") + fmt.Sprintf(" (connections %d -> %d over %.1f s of idle)", f.ConnsBefore, f.ConnsAfter, idle.Seconds())
}

// stableReason says what survived and with which heartbeat (heartbeats off survive an idle
// trivially, which the reader must know); normal closes are named so that a lower count after
// the idle is not read as a loss.
func stableReason(f Findings, normal int, idle time.Duration) string {
	s := fmt.Sprintf("%s survived %.1f s of idle", plural(f.ConnsBefore, "connection"), idle.Seconds())
	if f.Heartbeat != nil && *f.Heartbeat == 0 {
		s += " with heartbeats off"
	} else if f.Heartbeat != nil {
		s += fmt.Sprintf(" with a %d s heartbeat", *f.Heartbeat)
	}
	if normal > 0 {
		s += fmt.Sprintf("; %s closed normally by the client", plural(normal, "connection"))
	}
	return s
}

// appLoadFailure finds mod_wsgi's report that the app did not load and the exception that
// follows it from the same process; the later attempts are kept as evidence too.
func appLoadFailure(events []observe.Event, end time.Time) (string, []observe.Event) {
	first := -1
	for i, e := range events {
		if !e.Time.After(end) && (e.Rule == "wsgi_script_failed" || e.Rule == "wsgi_no_application") {
			first = i
			break
		}
	}
	if first < 0 {
		return "", nil
	}
	e := events[first]
	reason := "the app failed to load"
	if e.Rule == "wsgi_no_application" {
		reason = "the WSGI script defines no application"
	}
	for _, f := range events[first+1:] {
		if f.Fields.PID != e.Fields.PID {
			continue
		}
		if f.Rule == "python_exception" {
			reason += ": " + f.Fields.Error
			break
		}
		if f.Rule == "wsgi_script_failed" {
			break // the next attempt: its traceback is not this one's
		}
	}
	if e.Fields.Script != "" {
		reason += " (" + e.Fields.Script + ")"
	}
	var ev []observe.Event
	for _, f := range events[first:] {
		if !f.Time.After(end) && (f.Rule == "wsgi_script_failed" || f.Rule == "wsgi_no_application" || f.Rule == "python_exception") {
			ev = append(ev, f)
		}
	}
	return reason, ev
}

// setEvidence keeps the first maxEvidence lines and counts the rest.
func (v *Verdict) setEvidence(ev []observe.Event) {
	if len(ev) > maxEvidence {
		v.EvidenceOmitted = len(ev) - maxEvidence
		ev = ev[:maxEvidence]
	}
	v.Evidence = append([]observe.Event{}, ev...)
}

// plural writes "1 connection", "2 connections".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
