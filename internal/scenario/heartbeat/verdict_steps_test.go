package heartbeat

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"wsgilab/internal/observe"
	"wsgilab/internal/results"
)

// The steps of HeartbeatVerdict, each on the recorded fixtures. The expected values are read
// from the fixtures' JSON (testdata/heartbeat/README.md); the comments say where.

// The kombu names of the fixtures' connections ("scenario.py:<pid>:<uuid>").
const (
	greenDropName = "scenario.py:21854:dcd41128-5669-4a9a-832c-a819e613b38a"
	reconnectName = "scenario.py:22935:e034728b-9a19-452b-b73a-88199a28ff52"
)

func at(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func sortedPorts[V any](m map[int]V) []int { return slices.Sorted(maps.Keys(m)) }

func rules(evs []observe.Event) string {
	var r []string
	for _, e := range evs {
		r = append(r, e.Rule)
	}
	return strings.Join(r, " ")
}

// stepInputs are the results of the steps on one fixture, as HeartbeatVerdict chains them:
// what the step under test takes.
type stepInputs struct {
	fx    fixture
	cv    connViews
	start connKeys
	lost  map[int]loss
	lines logLines
	drops drops
}

func stepsOn(fx fixture) stepInputs {
	tl := fx.Observations.Timeline
	s := stepInputs{fx: fx, cv: views(tl, fx.Vhost)}
	s.start = aliveAtIdleStart(s.cv.sockets, tl.Ticks, fx.Vhost, fx.Phases)
	s.lost = lossTimes(s.start, s.cv, fx.Phases.End)
	s.lines = classifyLogLines(tl.Events, fx.Phases, fx.Vhost, s.cv.ports)
	s.drops = droppedConnections(s.lost, s.lines.broker)
	return s
}

// green-drop: the warm-up's connection (port 50178) and, after the drop, oslo's replacement
// (48638), both under the same kombu name and a 2 s heartbeat; every tick sampled both sources.
func TestStepViews(t *testing.T) {
	fx := load(t, "green-drop")
	cv := views(fx.Observations.Timeline, fx.Vhost)
	if len(cv.sockets) != 30 || len(cv.broker) != 30 {
		t.Errorf("%d /proc and %d management API samples, want 30 and 30", len(cv.sockets), len(cv.broker))
	}
	want := map[int]conn{50178: {name: greenDropName, heartbeat: 2}, 48638: {name: greenDropName, heartbeat: 2}}
	if !maps.Equal(cv.known, want) {
		t.Errorf("known ports %v, want %v", cv.known, want)
	}
	if got := sortedPorts(cv.ports); !slices.Equal(got, []int{48638, 50178}) {
		t.Errorf("cell ports %v", got)
	}
	// The first sample that had the connection: 11:49:02.504, in both views.
	i := slices.IndexFunc(cv.sockets, func(vw view) bool { return len(vw.alive) > 0 })
	if i < 0 || !cv.sockets[i].t.Equal(at(t, "2026-11-26T11:49:02.504089075Z")) || cv.sockets[i].alive[50178] != "50178#32099" {
		t.Errorf("first /proc sample with a connection: %d %+v", i, cv.sockets[max(i, 0)])
	}

	// A socket that is not established (closing) is a port of the cell, for attributing its
	// close line, but not a live connection.
	tl := fx.Observations.Timeline
	tl.Ticks = slices.Clone(tl.Ticks)
	tl.Ticks[i].Sockets = &observe.SocketReading{Sockets: []observe.Socket{{LocalPort: 50999, State: "CLOSE_WAIT", Inode: 1}}}
	cv = views(tl, fx.Vhost)
	if !cv.ports[50999] || len(cv.sockets[i].alive) != 0 {
		t.Errorf("closing socket: cell port %v, alive %v", cv.ports[50999], cv.sockets[i].alive)
	}

	// Judged as another vhost, the management API's connections are not the cell's: only
	// /proc's ports remain, and nothing is known of them.
	cv = views(fx.Observations.Timeline, "cellB")
	if len(cv.known) != 0 || !slices.Equal(sortedPorts(cv.ports), []int{48638, 50178}) {
		t.Errorf("as cellB: known %v, ports %v", cv.known, sortedPorts(cv.ports))
	}
	for _, vw := range cv.broker {
		if len(vw.alive) != 0 {
			t.Fatalf("as cellB: management API sample %s lists %v", vw.t, vw.alive)
		}
	}
}

func TestStepAliveAtIdleStart(t *testing.T) {
	// green-drop: 50178, in /proc from 11:49:02.504 and in the management API (connected
	// 11:49:02.116, before the warm-up end at 11:49:02.124613).
	s := stepsOn(load(t, "green-drop"))
	want := connKeys{50178: {bySockets: "50178#32099", byBrokerConnections: "50178@1795693742116"}}
	if !maps.EqualFunc(s.start, want, maps.Equal) {
		t.Errorf("green-drop: %v, want %v", s.start, want)
	}

	// reconnect-before-probe: the replacement 35066 is listed during the idle, but connected
	// at 11:49:45.076, after the warm-up end (11:49:37.072): it did not have to survive.
	s = stepsOn(load(t, "reconnect-before-probe"))
	want = connKeys{52836: {bySockets: "52836#435366", byBrokerConnections: "52836@1795693777065"}}
	if !maps.EqualFunc(s.start, want, maps.Equal) {
		t.Errorf("reconnect-before-probe: %v, want %v", s.start, want)
	}

	// pthread-stable: the management API first listed the connection 3.8 s into the idle; the
	// ticks before that do not matter.
	fx := load(t, "pthread-stable")
	s = stepsOn(fx)
	want = connKeys{34032: {bySockets: "34032#34308", byBrokerConnections: "34032@1795693763494"}}
	if !maps.EqualFunc(s.start, want, maps.Equal) {
		t.Errorf("pthread-stable: %v, want %v", s.start, want)
	}
	// Only the idle's samples count: a probe starting before the management API listed it
	// leaves the connection known to /proc only.
	fx.Phases.ProbeStart = fx.Phases.WarmupEnd.Add(3 * time.Second)
	if s = stepsOn(fx); !maps.EqualFunc(s.start, connKeys{34032: {bySockets: "34032#34308"}}, maps.Equal) {
		t.Errorf("pthread-stable, 3 s idle: %v", s.start)
	}
}

func TestStepLossTimes(t *testing.T) {
	// green-drop: both views lost 50178 at the tick of 11:49:08.504; /proc wins the tie.
	s := stepsOn(load(t, "green-drop"))
	want := map[int]loss{50178: {at: at(t, "2026-11-26T11:49:08.504244734Z"), by: bySockets}}
	if !maps.Equal(s.lost, want) {
		t.Errorf("green-drop: %v, want %v", s.lost, want)
	}
	// Known to the management API only, it is lost there, at the same tick.
	start := connKeys{50178: {byBrokerConnections: s.start[50178][byBrokerConnections]}}
	want = map[int]loss{50178: {at: at(t, "2026-11-26T11:49:08.504244734Z"), by: byBrokerConnections}}
	if got := lossTimes(start, s.cv, s.fx.Phases.End); !maps.Equal(got, want) {
		t.Errorf("green-drop, management API only: %v, want %v", got, want)
	}

	// reconnect-before-probe: 52836 gone from both at 11:49:43.096.
	s = stepsOn(load(t, "reconnect-before-probe"))
	want = map[int]loss{52836: {at: at(t, "2026-11-26T11:49:43.096209839Z"), by: bySockets}}
	if !maps.Equal(s.lost, want) {
		t.Errorf("reconnect-before-probe: %v, want %v", s.lost, want)
	}

	// pthread-stable: the connection left /proc at 11:49:34.856, after the end (11:49:34.528):
	// the teardown's close is no loss.
	fx := load(t, "pthread-stable")
	if s = stepsOn(fx); len(s.lost) != 0 {
		t.Errorf("pthread-stable: lost %v", s.lost)
	}
	// Nor is a sample that briefly misses it: /proc lists it again on the next tick.
	var blanked time.Time
	for i, tk := range fx.Observations.Timeline.Ticks {
		if tk.T.After(fx.Phases.WarmupEnd.Add(4 * time.Second)) {
			fx.Observations.Timeline.Ticks[i].Sockets = &observe.SocketReading{Sockets: []observe.Socket{}}
			blanked = tk.T
			break
		}
	}
	if s = stepsOn(fx); len(s.lost) != 0 {
		t.Errorf("pthread-stable, /proc sample of %s blanked: lost %v", blanked, s.lost)
	}
}

func TestStepAliveAtIdleEnd(t *testing.T) {
	for _, c := range []struct {
		name string
		want []int
	}{
		{"green-drop", nil},                      // lost at 11:49:08.5; the replacement came with the probe
		{"reconnect-before-probe", []int{35066}}, // 52836 lost, its replacement up since 11:49:45
		{"pthread-stable", []int{34032}},
	} {
		s := stepsOn(load(t, c.name))
		if got := sortedPorts(aliveAtIdleEnd(s.cv, s.lost, s.fx.Phases.ProbeStart)); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// The management API still listing a connection /proc has lost does not keep it alive.
	s := stepsOn(load(t, "pthread-stable"))
	lost := map[int]loss{34032: {at: s.fx.Phases.WarmupEnd.Add(time.Second), by: bySockets}}
	if got := aliveAtIdleEnd(s.cv, lost, s.fx.Phases.ProbeStart); len(got) != 0 {
		t.Errorf("pthread-stable, lost 1 s into the idle: alive %v", got)
	}
}

func TestStepNegotiatedHeartbeat(t *testing.T) {
	for _, c := range []struct {
		name string
		want int
	}{{"green-drop", 2}, {"pthread-stable", 2}, {"heartbeat-off", 0}} {
		s := stepsOn(load(t, c.name))
		if hb := negotiatedHeartbeat(s.start, s.cv.known); hb == nil || *hb != c.want {
			t.Errorf("%s: heartbeat %v, want %d", c.name, deref(hb), c.want)
		}
	}
	// Seen in /proc only, its heartbeat is unknown, not off.
	s := stepsOn(load(t, "pthread-stable"))
	if hb := negotiatedHeartbeat(connKeys{34032: {bySockets: "34032#34308"}}, map[int]conn{}); hb != nil {
		t.Errorf("unknown heartbeat: %d", *hb)
	}
	// The shortest of the connections that had to survive: the replacement is not one.
	known := maps.Clone(s.cv.known)
	known[40000] = conn{heartbeat: 1}
	if hb := negotiatedHeartbeat(s.start, known); hb == nil || *hb != 2 {
		t.Errorf("with a later connection: %v", deref(hb))
	}
	start := maps.Clone(s.start)
	start[40000] = map[string]string{bySockets: "40000#1"}
	if hb := negotiatedHeartbeat(start, known); hb == nil || *hb != 1 {
		t.Errorf("two connections: %v, want the shorter, 1", deref(hb))
	}
}

func TestStepClassifyLogLines(t *testing.T) {
	// green-drop's lines after the warm-up end and up to the end: the broker's missed
	// heartbeats close of 50178 (timeout 2 s), the client's reset and its Reconnected on port
	// 48638; the "granted" lines are info, and the teardown's close (11:49:14.375) is after
	// the end.
	s := stepsOn(load(t, "green-drop"))
	b, c := s.lines.broker, s.lines.client
	if len(b.missed) != 1 || !b.missed[0].Time.Equal(at(t, "2026-11-26T11:49:08.120948Z")) || b.missed[0].Fields.ClientPort != 50178 {
		t.Errorf("missed heartbeats: %+v", b.missed)
	}
	if b.firstMissedTimeout() != 2 {
		t.Errorf("timeout %d", b.firstMissedTimeout())
	}
	if !maps.Equal(b.closeRule, map[int]string{50178: ruleMissedHeartbeats}) || len(b.closedAt) != 0 {
		t.Errorf("close rules %v, closed at %v", b.closeRule, b.closedAt)
	}
	if c.drops != 1 || c.errors != 1 || !maps.Equal(c.reconnects, map[string]bool{"port 48638": true}) {
		t.Errorf("client: %d drops, %d errors, reconnects %v", c.drops, c.errors, c.reconnects)
	}
	if got := rules(s.lines.evidence); got != "missed_heartbeats amqp_unreachable reconnected" {
		t.Errorf("evidence %s", got)
	}
	// Up to the timeline's end, the teardown's close of the replacement is a line too.
	ph := s.fx.Phases
	ph.End = s.fx.Observations.Timeline.End
	ll := classifyLogLines(s.fx.Observations.Timeline.Events, ph, "cellA", s.cv.ports)
	if !ll.broker.closedAt[48638].Equal(at(t, "2026-11-26T11:49:14.375324Z")) || ll.broker.closeRule[48638] != ruleClientClosedTCP {
		t.Errorf("to the timeline's end: closed at %v, rules %v", ll.broker.closedAt, ll.broker.closeRule)
	}

	// reconnect-before-probe: oslo's heartbeat thread logs the failure (kind drop) at INFO and
	// reconnects without a Reconnected line.
	s = stepsOn(load(t, "reconnect-before-probe"))
	if len(s.lines.broker.missed) != 1 || s.lines.client.drops != 1 || len(s.lines.client.reconnects) != 0 ||
		rules(s.lines.evidence) != "missed_heartbeats heartbeat_recoverable_error" {
		t.Errorf("reconnect-before-probe: %d missed, %d drops, reconnects %v, evidence %s",
			len(s.lines.broker.missed), s.lines.client.drops, s.lines.client.reconnects, rules(s.lines.evidence))
	}

	// other-vhost: cellB's close (port 39076) is not cellA's, by its vhost...
	fx := load(t, "other-vhost")
	if s = stepsOn(fx); len(s.lines.broker.missed) != 0 || len(s.lines.broker.closeRule) != 0 || len(s.lines.evidence) != 0 {
		t.Errorf("other-vhost as cellA: %+v", s.lines)
	}
	ll = classifyLogLines(fx.Observations.Timeline.Events, fx.Phases, "cellB", nil)
	if len(ll.broker.missed) != 1 || ll.broker.missed[0].Fields.ClientPort != 39076 {
		t.Errorf("other-vhost as cellB: missed %+v", ll.broker.missed)
	}
	// ...and, without its vhost, by its port, none of cellA's.
	s = stepsOn(load(t, "other-vhost-unattributed"))
	if len(s.lines.broker.missed) != 0 || slices.Contains(sortedPorts(s.cv.ports), 39076) {
		t.Errorf("other-vhost-unattributed as cellA: missed %+v, ports %v", s.lines.broker.missed, sortedPorts(s.cv.ports))
	}
	ports := maps.Clone(s.cv.ports)
	ports[39076] = true
	if ll := classifyLogLines(s.fx.Observations.Timeline.Events, s.fx.Phases, "cellA", ports); len(ll.broker.missed) != 1 {
		t.Errorf("other-vhost-unattributed, 39076 one of the cell's ports: %d missed", len(ll.broker.missed))
	}
	// green-drop-unattributed: the same port rule attributes the close of its own connection.
	s = stepsOn(load(t, "green-drop-unattributed"))
	if len(s.lines.broker.missed) != 1 || s.lines.broker.missed[0].Fields.Vhost != "" {
		t.Errorf("green-drop-unattributed: missed %+v", s.lines.broker.missed)
	}
}

func TestStepDroppedConnections(t *testing.T) {
	// green-drop: 50178, lost and closed for missed heartbeats.
	s := stepsOn(load(t, "green-drop"))
	if d := s.drops; !maps.Equal(d.ports, map[int]bool{50178: true}) || d.count != 1 || d.byClient+d.vanished+d.normal != 0 {
		t.Errorf("green-drop: %+v", d)
	}
	// Without log lines it vanished.
	if d := droppedConnections(s.lost, brokerLines{}); !maps.Equal(d.ports, map[int]bool{50178: true}) || d.count != 1 || d.vanished != 1 {
		t.Errorf("green-drop without lines: %+v", d)
	}
	// A missed-heartbeats close counts even when no view saw its connection go; one without
	// a port counts as a connection of its own.
	noPort := s.lines.broker
	noPort.missed = append(slices.Clone(noPort.missed), observe.Event{Rule: ruleMissedHeartbeats})
	if d := droppedConnections(map[int]loss{}, noPort); !maps.Equal(d.ports, map[int]bool{50178: true}) || d.count != 2 {
		t.Errorf("green-drop, nothing lost, a second close without a port: %+v", d)
	}
	// How it closed decides: normally is no drop; from the client's side is.
	for rule, want := range map[string]drops{
		ruleConnectionClosed: {ports: map[int]bool{}, normal: 1},
		ruleClientClosedTCP:  {ports: map[int]bool{50178: true}, count: 1, byClient: 1},
	} {
		d := droppedConnections(s.lost, brokerLines{closeRule: map[int]string{50178: rule}})
		if !maps.Equal(d.ports, want.ports) || d.count != want.count || d.byClient != want.byClient || d.normal != want.normal || d.vanished != 0 {
			t.Errorf("closed by %s: %+v, want %+v", rule, d, want)
		}
	}
	// pthread-stable lost nothing.
	if d := stepsOn(load(t, "pthread-stable")).drops; d.count != 0 || len(d.ports) != 0 {
		t.Errorf("pthread-stable: %+v", d)
	}
}

func TestStepReconnects(t *testing.T) {
	// green-drop: oslo's Reconnected line names port 48638, the replacement under the lost
	// connection's name: one reconnect, seen twice.
	s := stepsOn(load(t, "green-drop"))
	if n := reconnects(s.lines.client.reconnects, s.drops.ports, s.cv.known, s.start); n != 1 {
		t.Errorf("green-drop: %d reconnects", n)
	}
	if n := reconnects(nil, s.drops.ports, s.cv.known, s.start); n != 1 {
		t.Errorf("green-drop, replacement only: %d reconnects", n)
	}
	if n := reconnects(nil, map[int]bool{}, s.cv.known, s.start); n != 0 {
		t.Errorf("green-drop, nothing dropped: %d reconnects", n)
	}
	// A Reconnected line without a port is a reconnect of its own.
	if n := reconnects(map[string]bool{"line 3": true}, s.drops.ports, s.cv.known, s.start); n != 2 {
		t.Errorf("green-drop, a line without a port: %d reconnects", n)
	}

	// reconnect-before-probe: no Reconnected line; 35066 has 52836's name.
	s = stepsOn(load(t, "reconnect-before-probe"))
	if s.cv.known[35066].name != reconnectName || s.cv.known[52836].name != reconnectName {
		t.Fatalf("fixture: names %v", s.cv.known)
	}
	if n := reconnects(s.lines.client.reconnects, s.drops.ports, s.cv.known, s.start); n != 1 {
		t.Errorf("reconnect-before-probe: %d reconnects", n)
	}
	// The logged set is the caller's: counting does not add to it.
	logged := map[string]bool{}
	reconnects(logged, s.drops.ports, s.cv.known, s.start)
	if len(logged) != 0 {
		t.Errorf("reconnects wrote %v into its input", logged)
	}

	if s = stepsOn(load(t, "pthread-stable")); reconnects(s.lines.client.reconnects, s.drops.ports, s.cv.known, s.start) != 0 {
		t.Error("pthread-stable reconnected")
	}
}

func TestStepTimeToDrop(t *testing.T) {
	ttd := func(s stepInputs, warm []int, b brokerLines) (any, string) {
		d, by := timeToDrop(s.fx.Phases.WarmupEnd, warm, b, s.drops.ports, s.lost, s.cv.known)
		return derefF(d), by
	}
	// green-drop: 11:49:02.124613 -> the broker's close at 11:49:08.120948.
	s := stepsOn(load(t, "green-drop"))
	if d, by := ttd(s, nil, s.lines.broker); d != 5.996 || by != byBrokerLog {
		t.Errorf("green-drop: %v by %s", d, by)
	}
	if d, by := ttd(s, []int{21854}, s.lines.broker); d != 5.996 || by != byBrokerLog {
		t.Errorf("green-drop, warm 21854: %v by %s", d, by)
	}
	// Held by a process the warm-up did not reach: no time.
	if d, by := ttd(s, []int{4242}, s.lines.broker); d != nil || by != "" {
		t.Errorf("green-drop, warm 4242: %v by %s", d, by)
	}
	// Without the broker's line, /proc timed it: 11:49:08.504245.
	if d, by := ttd(s, nil, brokerLines{}); d != 6.38 || by != bySockets {
		t.Errorf("green-drop without lines: %v by %s", d, by)
	}

	// reconnect-before-probe: 11:49:37.072428 -> 11:49:43.072325.
	s = stepsOn(load(t, "reconnect-before-probe"))
	if d, by := ttd(s, nil, s.lines.broker); d != 6.0 || by != byBrokerLog {
		t.Errorf("reconnect-before-probe: %v by %s", d, by)
	}
	// A client-closed line earlier than the loss in /proc times it.
	b := brokerLines{closedAt: map[int]time.Time{52836: at(t, "2026-11-26T11:49:42.572428061Z")}}
	if d, by := ttd(s, nil, b); d != 5.5 || by != byBrokerLog {
		t.Errorf("reconnect-before-probe, closed at 42.572: %v by %s", d, by)
	}

	if d, by := ttd(stepsOn(load(t, "pthread-stable")), nil, brokerLines{}); d != nil || by != "" {
		t.Errorf("pthread-stable: %v by %s", d, by)
	}
}

func TestStepProbeExtraLatency(t *testing.T) {
	for name, want := range map[string]float64{
		"green-drop":             1009.4, // 1009.932 - 0.501
		"reconnect-before-probe": 255.8,  // 256.318 - 0.552
		"pthread-stable":         0,      // 2.287, faster than the warm-up's 3.571
	} {
		if got := probeExtraLatency(load(t, name).Observations); got != want {
			t.Errorf("%s: %v ms, want %v", name, got, want)
		}
	}
}

func TestStepUnjudgeable(t *testing.T) {
	fx := load(t, "pthread-stable")
	if r, ev := unjudgeable(fx.Observations, fx.Phases); r != "" || ev != nil {
		t.Errorf("pthread-stable: %q %v", r, ev)
	}
	obs := fx.Observations
	obs.SetupError = "apache2 exited"
	if r, _ := unjudgeable(obs, Phases{}); r != "setup failed: apache2 exited" {
		t.Errorf("setup error first: %q", r)
	}
	fx = load(t, "app-import-error")
	if r, ev := unjudgeable(fx.Observations, fx.Phases); !strings.HasPrefix(r, "the app failed to load: ModuleNotFoundError") || len(ev) != 10 {
		t.Errorf("app-import-error: %q, %d lines", r, len(ev))
	}
}

func TestStepJudge(t *testing.T) {
	judged := func(name string) (string, string) {
		v := load(t, name).verdict()
		s := stepsOn(load(t, name))
		return judge(v.Findings, s.drops, s.lines, s.fx.Phases.ProbeStart.Sub(s.fx.Phases.WarmupEnd))
	}
	for name, want := range map[string][2]string{
		"green-drop": {Dropped, "the broker closed 1 connection for missed heartbeats (timeout 2s), the first 6.0 s after the last traffic; " +
			"the client logged 1 connection error; it reconnected 1 time (connections 1 -> 0 over 9.0 s of idle)"},
		"reconnect-before-probe": {Dropped, "the broker closed 1 connection for missed heartbeats (timeout 2s), the first 6.0 s after the last traffic; " +
			"the client logged 1 connection error; it reconnected 1 time (connections 1 -> 1 over 12.0 s of idle)"},
		"pthread-stable": {Stable, "1 connection survived 9.0 s of idle with a 2 s heartbeat"},
		"heartbeat-off":  {Stable, "1 connection survived 9.0 s of idle with heartbeats off"},
	} {
		if kind, reason := judged(name); kind != want[0] || reason != want[1] {
			t.Errorf("%s: %s %q\nwant %s %q", name, kind, reason, want[0], want[1])
		}
	}
	// Nothing lost and nothing to lose: not stable.
	if kind, _ := judge(Findings{}, drops{}, logLines{}, 9*time.Second); kind != results.Error {
		t.Errorf("no connection: %s", kind)
	}
	// A client connection error alone is a drop.
	if kind, _ := judge(Findings{ConnsBefore: 1}, drops{}, logLines{client: clientLines{drops: 1}}, 9*time.Second); kind != Dropped {
		t.Errorf("client drop only: %s", kind)
	}
}
