package heartbeat

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"wsgilab/internal/broker"
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
//	 "evidence_omitted": 0}             how many more there were
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
}

// maxEvidence keeps a verdict readable; the timeline has every line.
const maxEvidence = 12

// conn is what the verdict knows of one connection, by client port.
type conn struct {
	name      string // client-provided name, when the management API gave it
	heartbeat int
	hasHB     bool
}

// view is one sample of one source: the connections alive, by client port, with the key that
// tells a connection from a later one on the same port.
type view struct {
	t     time.Time
	alive map[int]string
}

// HeartbeatVerdict judges one cell of the heartbeat scenario. It is a pure function of the
// observations, the phases and the cell's vhost: broker lines of other vhosts are ignored (the
// broker is shared by the cells of a run), and a broker line whose vhost is unknown counts only
// if its client port is one of this cell's connections.
func HeartbeatVerdict(obs Observations, ph Phases, vhost string) Verdict {
	v := Verdict{Findings: Findings{ProbeFailures: obs.ProbeFailures, Evidence: []observe.Event{}}}
	if obs.SetupError != "" {
		v.Kind, v.Reason = results.Error, "setup failed: "+obs.SetupError
		return v
	}
	tl := obs.Timeline
	if ph.End.IsZero() {
		ph.End = tl.End
	}
	if ph.WarmupEnd.IsZero() || ph.ProbeStart.IsZero() {
		v.Kind, v.Reason = results.Error, "the scenario recorded no phase boundaries (warm-up end, probe start)"
		return v
	}
	if reason, ev := appLoadFailure(tl.Events, ph.End); reason != "" {
		v.Kind, v.Reason = results.Error, reason
		v.setEvidence(ev)
		return v
	}

	// The two views of the cell's connections: /proc (immediate) and the management API
	// (lists a new connection up to a few seconds late, drops a closed one at once).
	var sockViews, brokerViews []view
	infos := map[int]*conn{} // everything known about each client port ever seen
	cellPorts := map[int]bool{}
	for _, tk := range tl.Ticks {
		if tk.Sockets != nil {
			vw := view{t: tk.T, alive: map[int]string{}}
			for _, s := range tk.Sockets.Sockets {
				cellPorts[s.LocalPort] = true
				if s.State == "ESTABLISHED" {
					vw.alive[s.LocalPort] = s.Key()
				}
			}
			sockViews = append(sockViews, vw)
		}
		if tk.Broker != nil {
			vw := view{t: tk.T, alive: map[int]string{}}
			for _, c := range tk.Broker.Connections {
				if vhost != "" && c.Vhost != "" && c.Vhost != vhost {
					continue
				}
				cellPorts[c.ClientPort] = true
				vw.alive[c.ClientPort] = c.Key()
				in := infos[c.ClientPort]
				if in == nil {
					in = &conn{}
					infos[c.ClientPort] = in
				}
				if c.ClientName != "" {
					in.name = c.ClientName
				}
				in.heartbeat, in.hasHB = c.Heartbeat, true
			}
			brokerViews = append(brokerViews, vw)
		}
	}

	// Connections alive when the idle began. /proc: the first sample at or after the warm-up
	// end (a connection the last request opened shows up there). Management API: every
	// connection it listed during the idle that was connected by the warm-up end.
	before := map[int]map[string]string{} // port -> source -> key
	add := func(port int, src, key string) {
		if before[port] == nil {
			before[port] = map[string]string{}
		}
		before[port][src] = key
	}
	for _, vw := range sockViews {
		if !vw.t.Before(ph.WarmupEnd) && !vw.t.After(ph.ProbeStart) {
			for p, k := range vw.alive {
				add(p, "sockets", k)
			}
			break
		}
	}
	for _, tk := range tl.Ticks {
		if tk.Broker == nil || tk.T.Before(ph.WarmupEnd) || tk.T.After(ph.ProbeStart) {
			continue
		}
		for _, c := range tk.Broker.Connections {
			if (vhost == "" || c.Vhost == "" || c.Vhost == vhost) && !c.ConnectedAt.After(ph.WarmupEnd) {
				add(c.ClientPort, "broker_connections", c.Key())
			}
		}
	}
	v.ConnsBefore = len(before)

	// When each of them was lost: the first sample of a source after the last one that still
	// had it (a source that briefly misses a connection it lists again has not lost it).
	lostAt := map[int]time.Time{}
	lostBy := map[int]string{}
	for port, srcs := range before {
		for _, src := range []string{"sockets", "broker_connections"} { // sockets first on a tie: exact
			key, ok := srcs[src]
			if !ok {
				continue
			}
			views := sockViews
			if src == "broker_connections" {
				views = brokerViews
			}
			last := -1
			for i, vw := range views {
				if vw.t.After(ph.End) {
					break
				}
				if vw.alive[port] == key {
					last = i
				}
			}
			if last >= 0 && last+1 < len(views) && !views[last+1].t.After(ph.End) {
				t := views[last+1].t
				if old, ok := lostAt[port]; !ok || t.Before(old) {
					lostAt[port], lostBy[port] = t, src
				}
			}
		}
	}

	// Connections alive when the idle ended.
	after := map[int]bool{}
	for _, views := range [][]view{sockViews, brokerViews} {
		if i := lastAtOrBefore(views, ph.ProbeStart); i >= 0 {
			for p := range views[i].alive {
				after[p] = true
			}
		}
	}
	for p, t := range lostAt {
		if !t.After(ph.ProbeStart) {
			delete(after, p)
		}
	}
	v.ConnsAfter = len(after)

	// Heartbeat negotiated by the connections of the warm-up.
	for port := range before {
		if in := infos[port]; in != nil && in.hasHB {
			if v.Heartbeat == nil || in.heartbeat < *v.Heartbeat {
				hb := in.heartbeat
				v.Heartbeat = &hb
			}
		}
	}

	// Log lines of the idle and the probe.
	var evidence []observe.Event
	closeRule := map[int]string{} // client port -> how the broker says it closed
	missedPorts := map[int]bool{}
	var firstMissed, firstWarmMissed time.Time
	missedTimeout := 0
	closedAt := map[int]time.Time{} // client port -> the broker's "client unexpectedly closed" line
	var clientDrops int
	reconnects := map[string]bool{}
	for i, e := range tl.Events {
		if !e.Time.After(ph.WarmupEnd) || e.Time.After(ph.End) {
			continue
		}
		if e.Source == "broker" {
			if !attributed(e, vhost, cellPorts) {
				continue
			}
			switch e.Rule {
			case "missed_heartbeats":
				v.MissedHeartbeats++
				if e.Fields.ClientPort != 0 {
					missedPorts[e.Fields.ClientPort] = true
				}
				if firstMissed.IsZero() || e.Time.Before(firstMissed) {
					firstMissed, missedTimeout = e.Time, e.Fields.HeartbeatTimeout
				}
				if pid := broker.KombuPID(e.Fields.ClientName); (len(obs.WarmPIDs) == 0 || pid == 0 || slices.Contains(obs.WarmPIDs, pid)) &&
					(firstWarmMissed.IsZero() || e.Time.Before(firstWarmMissed)) {
					firstWarmMissed = e.Time
				}
				closeRule[e.Fields.ClientPort] = e.Rule
			case "client_closed_tcp":
				closeRule[e.Fields.ClientPort] = e.Rule
				if _, ok := closedAt[e.Fields.ClientPort]; !ok {
					closedAt[e.Fields.ClientPort] = e.Time
				}
			case "connection_closed":
				closeRule[e.Fields.ClientPort] = e.Rule
			}
			if e.Kind != observe.KindInfo {
				evidence = append(evidence, e)
			}
			continue
		}
		switch e.Kind {
		case observe.KindDrop:
			clientDrops++
			v.ClientErrors++
		case observe.KindError:
			v.ClientErrors++
		case observe.KindReconnect:
			if e.Fields.ClientPort != 0 {
				reconnects[fmt.Sprintf("port %d", e.Fields.ClientPort)] = true
			} else {
				reconnects[fmt.Sprintf("line %d", i)] = true
			}
		}
		if e.Kind != observe.KindInfo {
			evidence = append(evidence, e)
		}
	}

	// Lost connections, by how they closed.
	dropped := map[int]bool{}
	var byClient, vanished, normal int
	for port := range lostAt {
		switch closeRule[port] {
		case "connection_closed":
			normal++
			continue
		case "client_closed_tcp":
			byClient++
		case "missed_heartbeats":
		default:
			vanished++
		}
		dropped[port] = true
	}
	unknownMissed := 0
	for p := range missedPorts {
		dropped[p] = true
	}
	if n := v.MissedHeartbeats - len(missedPorts); n > 0 {
		unknownMissed = n // lines without a port: count them as connections
	}
	v.DroppedConns = len(dropped) + unknownMissed

	// A replacement connection: new after the warm-up, under the name of a lost one (kombu
	// keeps the name, "<argv0>:<pid>:<uuid>", across reconnects).
	lostNames := map[string]bool{}
	for p := range dropped {
		if in := infos[p]; in != nil && in.name != "" {
			lostNames[in.name] = true
		}
	}
	for p, in := range infos {
		if _, old := before[p]; !old && in.name != "" && lostNames[in.name] {
			reconnects[fmt.Sprintf("port %d", p)] = true
		}
	}
	v.Reconnects = len(reconnects)

	// Time to drop: from the last traffic to the earliest sign of it, on the connections of
	// the processes the warm-up reached.
	warm := map[int]bool{}
	for _, pid := range obs.WarmPIDs {
		warm[pid] = true
	}
	warmName := func(name string) bool {
		pid := broker.KombuPID(name)
		return len(warm) == 0 || pid == 0 || warm[pid]
	}
	var dropT time.Time
	if !firstWarmMissed.IsZero() {
		dropT, v.DropSeenBy = firstWarmMissed, "broker_log"
	}
	for p := range dropped {
		if in := infos[p]; in != nil && !warmName(in.name) {
			continue
		}
		if t, ok := closedAt[p]; ok && (dropT.IsZero() || t.Before(dropT)) {
			dropT, v.DropSeenBy = t, "broker_log"
		}
		if t, ok := lostAt[p]; ok && (dropT.IsZero() || t.Before(dropT)) {
			dropT, v.DropSeenBy = t, lostBy[p]
		}
	}
	if !dropT.IsZero() {
		s := math.Round(dropT.Sub(ph.WarmupEnd).Seconds()*1000) / 1000
		v.TimeToDropSeconds = &s
	}
	if obs.ProbeMaxMs > 0 {
		v.ProbeExtraLatencyMs = math.Round(math.Max(0, obs.ProbeMaxMs-obs.WarmupP50Ms)*10) / 10
	}
	v.setEvidence(evidence)

	idle := ph.ProbeStart.Sub(ph.WarmupEnd).Seconds()
	switch {
	case v.DroppedConns > 0 || clientDrops > 0 || v.Reconnects > 0:
		v.Kind = Dropped
		var why []string
		if v.MissedHeartbeats > 0 {
			s := fmt.Sprintf("the broker closed %s for missed heartbeats", plural(v.MissedHeartbeats, "connection"))
			if missedTimeout > 0 {
				s += fmt.Sprintf(" (timeout %ds)", missedTimeout)
			}
			if v.TimeToDropSeconds != nil && v.DropSeenBy == "broker_log" {
				s += fmt.Sprintf(", the first %.1f s after the last traffic", *v.TimeToDropSeconds)
			}
			why = append(why, s)
		}
		if byClient > 0 {
			why = append(why, fmt.Sprintf("%s closed from the client side without an AMQP close (process exit)", plural(byClient, "connection")))
		}
		if vanished > 0 {
			why = append(why, fmt.Sprintf("%s vanished during the idle with no broker line", plural(vanished, "connection")))
		}
		if clientDrops > 0 {
			why = append(why, fmt.Sprintf("the client logged %s", plural(clientDrops, "connection error")))
		}
		if v.Reconnects > 0 {
			why = append(why, fmt.Sprintf("it reconnected %s", plural(v.Reconnects, "time")))
		}
		v.Reason = strings.Join(why, "; ") + fmt.Sprintf(" (connections %d -> %d over %.1f s of idle)", v.ConnsBefore, v.ConnsAfter, idle)
	case v.ConnsBefore == 0:
		v.Kind = results.Error
		v.Reason = "no AMQP connection of this cell was open when the idle began: nothing to judge (did the warm-up reach the broker?)"
	default:
		v.Kind = Stable
		v.Reason = fmt.Sprintf("%s survived %.1f s of idle", plural(v.ConnsBefore, "connection"), idle)
		if v.Heartbeat != nil && *v.Heartbeat == 0 {
			v.Reason += " with heartbeats off"
		} else if v.Heartbeat != nil {
			v.Reason += fmt.Sprintf(" with a %d s heartbeat", *v.Heartbeat)
		}
		if normal > 0 {
			v.Reason += fmt.Sprintf("; %s closed normally by the client", plural(normal, "connection"))
		}
	}
	return v
}

// attributed says whether a broker line belongs to this cell: by its vhost when the line (or an
// earlier line of the same connection) named one, otherwise by a client port of the cell.
func attributed(e observe.Event, vhost string, cellPorts map[int]bool) bool {
	if e.Fields.Vhost != "" {
		return vhost == "" || e.Fields.Vhost == vhost
	}
	return e.Fields.ClientPort != 0 && cellPorts[e.Fields.ClientPort]
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

func (v *Verdict) setEvidence(ev []observe.Event) {
	if len(ev) > maxEvidence {
		v.EvidenceOmitted = len(ev) - maxEvidence
		ev = ev[:maxEvidence]
	}
	v.Evidence = append([]observe.Event{}, ev...)
}

func lastAtOrBefore(views []view, t time.Time) int {
	i := -1
	for j, vw := range views {
		if vw.t.After(t) {
			break
		}
		i = j
	}
	return i
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
