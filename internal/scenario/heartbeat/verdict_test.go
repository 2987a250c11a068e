package heartbeat

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"wsgilab/internal/broker"
	"wsgilab/internal/observe"
	"wsgilab/internal/results"
)

// fixture is one recorded heartbeat cell (testdata/heartbeat/README.md says how they were made).
type fixture struct {
	Vhost        string       `json:"vhost"`
	Phases       Phases       `json:"phases"`
	Observations Observations `json:"observations"`
}

func load(t *testing.T, name string) fixture {
	t.Helper()
	b, err := os.ReadFile("testdata/heartbeat/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var fx fixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	return fx
}

func (fx fixture) verdict() Verdict { return HeartbeatVerdict(fx.Observations, fx.Phases, fx.Vhost) }

// want is what a test checks of a verdict; every field is compared.
type want struct {
	kind                   string
	heartbeat              *int
	before, after, dropped int
	missed                 int
	timeToDrop             *float64 // seconds, to the millisecond
	seenBy                 string
	reconnects, errors     int
	extraMs                float64
	evidence               []string // rules, in order
	reason                 []string // substrings
}

func intp(i int) *int           { return &i }
func floatp(f float64) *float64 { return &f }

func check(t *testing.T, v Verdict, w want) {
	t.Helper()
	if v.Kind != w.kind {
		t.Errorf("kind %s, want %s (reason: %s)", v.Kind, w.kind, v.Reason)
	}
	if (v.Heartbeat == nil) != (w.heartbeat == nil) || (v.Heartbeat != nil && *v.Heartbeat != *w.heartbeat) {
		t.Errorf("heartbeat %v, want %v", deref(v.Heartbeat), deref(w.heartbeat))
	}
	if v.ConnsBefore != w.before || v.ConnsAfter != w.after || v.DroppedConns != w.dropped || v.MissedHeartbeats != w.missed {
		t.Errorf("conns %d -> %d, dropped %d, missed %d; want %d -> %d, %d, %d",
			v.ConnsBefore, v.ConnsAfter, v.DroppedConns, v.MissedHeartbeats, w.before, w.after, w.dropped, w.missed)
	}
	switch {
	case (v.TimeToDropSeconds == nil) != (w.timeToDrop == nil):
		t.Errorf("time to drop %v, want %v", derefF(v.TimeToDropSeconds), derefF(w.timeToDrop))
	case v.TimeToDropSeconds != nil && math.Abs(*v.TimeToDropSeconds-*w.timeToDrop) > 0.0005:
		t.Errorf("time to drop %.3f s, want %.3f s", *v.TimeToDropSeconds, *w.timeToDrop)
	}
	if v.DropSeenBy != w.seenBy {
		t.Errorf("drop seen by %q, want %q", v.DropSeenBy, w.seenBy)
	}
	if v.Reconnects != w.reconnects || v.ClientErrors != w.errors {
		t.Errorf("reconnects %d, client errors %d; want %d, %d", v.Reconnects, v.ClientErrors, w.reconnects, w.errors)
	}
	if math.Abs(v.ProbeExtraLatencyMs-w.extraMs) > 0.05 {
		t.Errorf("probe extra latency %.1f ms, want %.1f", v.ProbeExtraLatencyMs, w.extraMs)
	}
	var rules []string
	for _, e := range v.Evidence {
		rules = append(rules, e.Rule)
	}
	if strings.Join(rules, " ") != strings.Join(w.evidence, " ") {
		t.Errorf("evidence %v, want %v", rules, w.evidence)
	}
	for _, r := range w.reason {
		if !strings.Contains(v.Reason, r) {
			t.Errorf("reason %q does not say %q", v.Reason, r)
		}
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func derefF(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// An eventlet app whose hub is starved between requests (the mod_wsgi case): the broker closes
// its one connection 3 heartbeats (2 s) after the warm-up, the probe finds it reset, waits
// oslo's 1 s and reconnects.
func TestVerdictGreenDrop(t *testing.T) {
	v := load(t, "green-drop").verdict()
	check(t, v, want{
		kind: Dropped, heartbeat: intp(2), before: 1, after: 0, dropped: 1, missed: 1,
		// warm-up end 11:49:02.124613 -> broker close 11:49:08.120948
		timeToDrop: floatp(5.996), seenBy: "broker_log", reconnects: 1, errors: 1,
		extraMs:  1009.4, // 1009.932 ms probe (reset + 1 s retry) - 0.501 ms warm-up median
		evidence: []string{"missed_heartbeats", "amqp_unreachable", "reconnected"},
		reason:   []string{"missed heartbeats (timeout 2s), the first 6.0 s after the last traffic", "reconnected 1 time", "1 -> 0"},
	})
}

// The time to drop is measured on the connections of the processes the warm-up reached: the
// same drop, held by a process the warm-up did not reach (a child the MPM retired, silent
// since before the warm-up), is still a drop but gives no time to drop.
func TestVerdictTimeToDropCountsWarmProcessesOnly(t *testing.T) {
	fx := load(t, "green-drop")
	fx.Observations.WarmPIDs = []int{21854} // the kombu name's PID: scenario.py:21854:...
	v := fx.verdict()
	if v.TimeToDropSeconds == nil || *v.TimeToDropSeconds != 5.996 {
		t.Fatalf("warm process: time to drop %v, want 5.996", derefF(v.TimeToDropSeconds))
	}
	fx.Observations.WarmPIDs = []int{4242}
	v = fx.verdict()
	if v.Kind != Dropped || v.MissedHeartbeats != 1 {
		t.Fatalf("verdict %s missed %d, want DROPPED with 1 missed", v.Kind, v.MissedHeartbeats)
	}
	if v.TimeToDropSeconds != nil {
		t.Fatalf("time to drop %v from a process the warm-up did not reach", *v.TimeToDropSeconds)
	}
	if e := v.Evidence[0]; e.Fields.ClientPort != 50178 || e.Fields.Vhost != "cellA" || !strings.Contains(e.Line, "missed heartbeats from client, timeout: 2s") {
		t.Errorf("broker evidence: %+v", e)
	}
	if e := v.Evidence[2]; e.Fields.ClientPort != 48638 || e.Source != "app" {
		t.Errorf("client evidence: %+v", e)
	}
}

// The same run, as if the observer had started after the connection was granted: the close
// line has no vhost and is attributed by its client port, one of this cell's connections.
func TestVerdictDropAttributedByPort(t *testing.T) {
	fx := load(t, "green-drop-unattributed")
	for _, e := range fx.Observations.Timeline.Events {
		if e.Rule == "missed_heartbeats" && e.Fields.Vhost != "" {
			t.Fatal("fixture: the close line should have no vhost")
		}
	}
	check(t, fx.verdict(), want{
		kind: Dropped, heartbeat: intp(2), before: 1, after: 0, dropped: 1, missed: 1,
		timeToDrop: floatp(5.996), seenBy: "broker_log", reconnects: 1, errors: 1, extraMs: 1009.4,
		evidence: []string{"missed_heartbeats", "amqp_unreachable", "reconnected"},
	})
}

// The connection drops during the idle and the heartbeat thread, woken before the probe,
// reconnects under the same kombu name: one connection before, one after, but not the same one.
func TestVerdictReconnectBeforeProbe(t *testing.T) {
	check(t, load(t, "reconnect-before-probe").verdict(), want{
		kind: Dropped, heartbeat: intp(2), before: 1, after: 1, dropped: 1, missed: 1,
		// 11:49:37.072428 -> 11:49:43.072325
		timeToDrop: floatp(6.000), seenBy: "broker_log",
		// no "Reconnected" line in this path: the new connection carries the lost one's name
		reconnects: 1, errors: 1, extraMs: 255.8,
		evidence: []string{"missed_heartbeats", "heartbeat_recoverable_error"},
		reason:   []string{"1 -> 1"},
	})

	// Without any log line (a broker log not readable, a client logging at WARNING), only the
	// identities tell: the port of the warm-up's connection vanished from /proc at 11:49:43.096.
	fx := load(t, "reconnect-before-probe")
	fx.Observations.Timeline.Events = nil
	check(t, fx.verdict(), want{
		kind: Dropped, heartbeat: intp(2), before: 1, after: 1, dropped: 1,
		timeToDrop: floatp(6.024), seenBy: "sockets", reconnects: 1, extraMs: 255.8,
		reason: []string{"1 connection vanished during the idle with no broker line", "reconnected 1 time", "1 -> 1"},
	})
}

// heartbeat_in_pthread: the native thread keeps the connection alive through the idle.
func TestVerdictPthreadStable(t *testing.T) {
	check(t, load(t, "pthread-stable").verdict(), want{
		kind: Stable, heartbeat: intp(2), before: 1, after: 1,
		reason: []string{"1 connection survived 9.0 s of idle with a 2 s heartbeat"},
	})
}

// Heartbeats off (heartbeat_timeout_threshold=0): nothing to miss, the connection survives.
func TestVerdictHeartbeatOff(t *testing.T) {
	check(t, load(t, "heartbeat-off").verdict(), want{
		kind: Stable, heartbeat: intp(0), before: 1, after: 1,
		reason: []string{"with heartbeats off"},
	})
}

// Heartbeats off and the connection cut silently during the idle (a firewall, a NAT): no broker
// line, but it is gone from /proc first and from the management API a second later.
func TestVerdictHeartbeatOffCut(t *testing.T) {
	fx := load(t, "heartbeat-off")
	cut := fx.Phases.WarmupEnd.Add(4 * time.Second)
	var firstGone time.Time
	for i, tk := range fx.Observations.Timeline.Ticks {
		if tk.Sockets != nil && !tk.T.Before(cut) {
			fx.Observations.Timeline.Ticks[i].Sockets = &observe.SocketReading{Sockets: []observe.Socket{}}
			if firstGone.IsZero() {
				firstGone = tk.T
			}
		}
		if tk.Broker != nil && !tk.T.Before(cut.Add(time.Second)) {
			fx.Observations.Timeline.Ticks[i].Broker = &observe.BrokerReading{Vhost: fx.Vhost, Connections: []broker.Connection{}}
		}
	}
	ttd := math.Round(firstGone.Sub(fx.Phases.WarmupEnd).Seconds()*1000) / 1000
	if ttd < 4 || ttd > 4.5 {
		t.Fatalf("fixture: first tick after the cut is %.3f s after the warm-up", ttd)
	}
	check(t, fx.verdict(), want{
		kind: Dropped, heartbeat: intp(0), before: 1, after: 0, dropped: 1,
		timeToDrop: floatp(ttd), seenBy: "sockets", evidence: nil,
		reason: []string{"1 connection vanished during the idle with no broker line"},
	})
}

// Another cell (vhost cellB) of the same run lost its connection during this cell's idle: its
// broker line is in this timeline and must not count.
func TestVerdictOtherVhostIgnored(t *testing.T) {
	fx := load(t, "other-vhost")
	n := 0
	for _, e := range fx.Observations.Timeline.Events {
		if e.Rule == "missed_heartbeats" && e.Fields.Vhost == "cellB" && e.Time.After(fx.Phases.WarmupEnd) && e.Time.Before(fx.Phases.End) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("fixture: %d cellB drops in the window, want 1", n)
	}
	want := want{kind: Stable, heartbeat: intp(2), before: 1, after: 1, extraMs: 1.2}
	check(t, fx.verdict(), want)
	// And without its vhost (the observer began after cellB's connection was granted): its
	// client port is none of this cell's.
	check(t, load(t, "other-vhost-unattributed").verdict(), want)
	// Judged for cellB, the same line is a drop (the rule is the vhost, not the line).
	if v := HeartbeatVerdict(fx.Observations, fx.Phases, "cellB"); v.MissedHeartbeats != 1 {
		t.Errorf("as cellB: %d missed heartbeats", v.MissedHeartbeats)
	}
}

// The app does not import: ERROR with the exception from the Apache error log.
func TestVerdictAppImportError(t *testing.T) {
	v := load(t, "app-import-error").verdict()
	if v.Kind != results.Error {
		t.Fatalf("kind %s", v.Kind)
	}
	const reason = "the app failed to load: ModuleNotFoundError: No module named 'oslo_messaging_does_not_exist' (/tmp/obscap/apache/bad.wsgi)"
	if v.Reason != reason {
		t.Errorf("reason %q\nwant   %q", v.Reason, reason)
	}
	if len(v.Evidence) != 10 || v.Evidence[0].Rule != "wsgi_script_failed" || v.Evidence[1].Rule != "python_exception" || v.EvidenceOmitted != 0 {
		t.Errorf("evidence: %d lines, omitted %d", len(v.Evidence), v.EvidenceOmitted)
	}
	// Twenty failed attempts: the verdict keeps twelve lines and says how many it left out.
	fx := load(t, "app-import-error")
	ev := fx.Observations.Timeline.Events
	fx.Observations.Timeline.Events = append(ev, ev...)
	if v := fx.verdict(); len(v.Evidence) != 12 || v.EvidenceOmitted != 8 {
		t.Errorf("capped evidence: %d lines, omitted %d", len(v.Evidence), v.EvidenceOmitted)
	}
}

func TestVerdictErrors(t *testing.T) {
	fx := load(t, "pthread-stable")

	obs := fx.Observations
	obs.SetupError = "apache2 exited: AH00526: Syntax error on line 12"
	if v := HeartbeatVerdict(obs, fx.Phases, fx.Vhost); v.Kind != results.Error || v.Reason != "setup failed: apache2 exited: AH00526: Syntax error on line 12" {
		t.Errorf("setup error: %s %q", v.Kind, v.Reason)
	}

	if v := HeartbeatVerdict(fx.Observations, Phases{}, fx.Vhost); v.Kind != results.Error || !strings.Contains(v.Reason, "phase") {
		t.Errorf("no phases: %s %q", v.Kind, v.Reason)
	}

	// No connection to watch (the warm-up never reached the broker): nothing to call stable.
	empty := fx
	empty.Observations.Timeline.Ticks = nil
	for _, tk := range fx.Observations.Timeline.Ticks {
		tk.Broker = &observe.BrokerReading{Vhost: fx.Vhost, Connections: []broker.Connection{}}
		tk.Sockets = &observe.SocketReading{Sockets: []observe.Socket{}}
		empty.Observations.Timeline.Ticks = append(empty.Observations.Timeline.Ticks, tk)
	}
	if v := empty.verdict(); v.Kind != results.Error || !strings.Contains(v.Reason, "no AMQP connection") || v.ConnsBefore != 0 {
		t.Errorf("no connections: %s %q", v.Kind, v.Reason)
	}
}

// How a lost connection closed decides whether it is a drop: a normal AMQP close by the client
// is not; the client's process exiting (Apache reaping a child) is.
func TestVerdictCloseKinds(t *testing.T) {
	fx := load(t, "pthread-stable")
	var port int
	for _, tk := range fx.Observations.Timeline.Ticks {
		if tk.Sockets != nil && len(tk.Sockets.Sockets) == 1 {
			port = tk.Sockets.Sockets[0].LocalPort
			break
		}
	}
	closeAt := fx.Phases.WarmupEnd.Add(3 * time.Second)
	cut := func(rule string, kind observe.Kind) fixture {
		f := load(t, "pthread-stable")
		tl := &f.Observations.Timeline
		for i, tk := range tl.Ticks {
			if tk.T.After(closeAt) {
				tl.Ticks[i].Sockets = &observe.SocketReading{Sockets: []observe.Socket{}}
				tl.Ticks[i].Broker = &observe.BrokerReading{Vhost: f.Vhost, Connections: []broker.Connection{}}
			}
		}
		tl.Events = append(tl.Events, observe.Event{Time: closeAt, Source: "broker", Rule: rule, Kind: kind,
			Line: "(recorded by the test)", Fields: observe.EventFields{ClientPort: port, Vhost: f.Vhost}})
		return f
	}
	// In this recording the management API listed the connection 3.8 s after the warm-up (its
	// statistics lag): cut at 3 s, it was only ever seen in /proc, so its heartbeat is unknown.
	check(t, cut("connection_closed", observe.KindInfo).verdict(), want{
		kind: Stable, heartbeat: nil, before: 1, after: 0,
		reason: []string{"1 connection closed normally by the client"},
	})
	check(t, cut("client_closed_tcp", observe.KindDrop).verdict(), want{
		kind: Dropped, heartbeat: nil, before: 1, after: 0, dropped: 1,
		timeToDrop: floatp(3), seenBy: "broker_log", evidence: []string{"client_closed_tcp"},
		reason: []string{"closed from the client side"},
	})
}

// The runner's marks give the phases; the timeline's end stands in for a missing "end".
func TestPhasesFromTimeline(t *testing.T) {
	fx := load(t, "green-drop")
	ph, err := PhasesFromTimeline(fx.Observations.Timeline)
	if err != nil {
		t.Fatal(err)
	}
	if !ph.WarmupEnd.Equal(fx.Phases.WarmupEnd) || !ph.ProbeStart.Equal(fx.Phases.ProbeStart) || !ph.End.Equal(fx.Phases.End) {
		t.Errorf("phases %+v, want %+v", ph, fx.Phases)
	}
	tl := fx.Observations.Timeline
	tl.Marks = tl.Marks[:2]
	if ph, err = PhasesFromTimeline(tl); err != nil || !ph.End.Equal(tl.End) {
		t.Errorf("without an end mark: %+v %v", ph, err)
	}
	tl.Marks = nil
	if _, err := PhasesFromTimeline(tl); err == nil {
		t.Error("no error without marks")
	}
}

// The verdict's JSON, as users read it.
func TestVerdictJSON(t *testing.T) {
	b, err := json.Marshal(load(t, "green-drop").verdict())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	for k, want := range map[string]any{"kind": "DROPPED", "heartbeat_s": 2.0, "conns_before": 1.0, "conns_after": 0.0,
		"time_to_drop_s": 5.996, "drop_seen_by": "broker_log", "reconnects": 1.0, "probe_extra_latency_ms": 1009.4} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	b, _ = json.Marshal(load(t, "pthread-stable").verdict())
	json.Unmarshal(b, &m)
	if v, ok := m["time_to_drop_s"]; !ok || v != nil {
		t.Errorf("a stable cell's time_to_drop_s must be null, got %v", v)
	}
}
