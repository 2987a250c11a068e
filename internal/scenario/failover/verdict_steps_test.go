package failover

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"wsgilab/internal/observe"
)

// t0 is the fault's start in the synthetic cells below; the fault lasts 10 s.
var t0 = time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func phases() Phases {
	return Phases{TrafficStart: at(-5), FaultStart: at(0), FaultEnd: at(10), TrafficEnd: at(25), Fault: "hang"}
}

// req is a request sent at s (seconds from the fault's start) that took lat ms.
func req(id int, path string, s, lat float64, status, pid int) Request {
	return Request{ID: strconv.Itoa(id), Path: path, Sent: at(s), LatencyMs: lat, Status: status, PID: pid}
}

// The accounting by id: every id is received, lost (acknowledged, never received) or failed
// and not received; a repeated id counts once; an id delivered twice is duplicated; the
// driver's duplicate lines are counted apart; an id nobody sent is unknown.
func TestAccountMessages(t *testing.T) {
	reqs := []Request{
		req(1, PathCast, -1, 3, 200, 10),  // received
		req(2, PathCast, 1, 3, 200, 10),   // acknowledged, never received: lost
		req(3, PathCast, 2, 10000, 0, 0),  // timed out, received anyway
		req(4, PathCall, 3, 10000, 0, 0),  // timed out, never received
		req(5, PathCast, 11, 3, 200, 11),  // received twice
		req(5, PathCast, 11.1, 3, 500, 0), // the same id again, failed: still acknowledged once
		req(6, PathCall, 12, 5, 200, 11),  // received
	}
	reqs[2].TimedOut, reqs[3].TimedOut = true, true
	got := []Delivery{{ID: "1"}, {ID: "3"}, {ID: "5"}, {ID: "5"}, {ID: "6"}, {ID: "99"}}
	events := []observe.Event{{Rule: ruleDuplicateMessage}, {Rule: ruleReconnected}}
	m := accountMessages(reqs, got, events)
	want := Messages{IDs: 6, Casts: 5, CastsAcked: 3, Received: 4, Lost: 1, FailedNotReceived: 1, ReceivedUnacked: 1,
		Duplicated: 1, DriverDuplicates: 1, Unknown: 1,
		LostIDs: []string{"2"}, DuplicatedIDs: []string{"5"}, ReceivedUnackedIDs: []string{"3"}}
	if !equalMessages(m, want) {
		t.Errorf("got  %+v\nwant %+v", m, want)
	}
	if m.IDs != m.Received+m.Lost+m.FailedNotReceived {
		t.Errorf("ids %d != received + lost + failed", m.IDs)
	}
}

func equalMessages(a, b Messages) bool {
	return a.IDs == b.IDs && a.Casts == b.Casts && a.CastsAcked == b.CastsAcked && a.Received == b.Received &&
		a.Lost == b.Lost && a.FailedNotReceived == b.FailedNotReceived && a.ReceivedUnacked == b.ReceivedUnacked &&
		a.Duplicated == b.Duplicated && a.DriverDuplicates == b.DriverDuplicates && a.Unknown == b.Unknown &&
		slices.Equal(a.LostIDs, b.LostIDs) && slices.Equal(a.DuplicatedIDs, b.DuplicatedIDs) &&
		slices.Equal(a.ReceivedUnackedIDs, b.ReceivedUnackedIDs)
}

func TestCountRequests(t *testing.T) {
	reqs := []Request{
		req(1, PathCast, -1, 3, 200, 10),
		req(2, PathCall, 1, 5000, 500, 10),
		req(3, PathCast, 2, 10000, 0, 0),
		req(4, PathCall, 11, 10000, 0, 0),
		req(5, PathCall, 12, 3, 503, 11),
	}
	reqs[1].Error = "MessagingTimeout: Timed out waiting for a reply to message ID 1"
	reqs[2].TimedOut, reqs[3].TimedOut = true, true
	c := countRequests(reqs, phases())
	want := Requests{Sent: 5, OK: 1, Errors: 2, TimedOut: 2, MessagingTimeouts: 1, FailedAfter: 2, TimedOutAfter: 1}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

// Two app processes, 10 requests a second: normal before, failing during the fault, a
// backlog after it that drains. Each process's first success after the fault's end, the
// second from which latency stays at its normal, the downtime and the phases' latency follow.
func TestRecovery(t *testing.T) {
	var reqs []Request
	id := 0
	add := func(s, lat float64, status, pid int) {
		id++
		reqs = append(reqs, req(id, PathCast, s, lat, status, pid))
		reqs[len(reqs)-1].TimedOut = status == 0
	}
	for i := -50; i < 0; i++ {
		add(float64(i)/10, 4, 200, 10+(i&1)) // normal: 4 ms, both processes
	}
	add(-0.5, 10000, 0, 0) // sent before the fault, caught by it: "during", not "before"
	for i := 0; i <= 100; i++ {
		add(float64(i)/10, 10000, 0, 0)
	}
	// After: a backlog (800 ms) until 13 s; process 10 answers from the start, process 11
	// from the request sent at 11.4 s, which ends 2.2 s after the fault.
	for i := 101; i < 250; i++ {
		s, lat, pid := float64(i)/10, 4.0, 10
		if s < 13 {
			lat = 800
		}
		if i%2 == 0 && i >= 114 {
			pid = 11
		}
		add(s, lat, 200, pid)
	}
	rc := recovery(reqs, phases())
	if rc.Before.N != 50 || rc.Before.P99Ms != 4 || rc.Before.Failed != 0 || rc.NormalP99Ms != 4 {
		t.Errorf("before %+v, normal p99 %v: want the 50 normal requests only", rc.Before, rc.NormalP99Ms)
	}
	if rc.During.Failed != rc.During.N || rc.During.N != 102 || rc.LongestMs != 10000 {
		t.Errorf("during %+v, longest %v", rc.During, rc.LongestMs)
	}
	if len(rc.Processes) != 2 || rc.RecoverS == nil || *rc.RecoverS != 2.2 {
		t.Errorf("processes %+v, recover %v: want 2.2 s (process 11's first success)", rc.Processes, ptrText(rc.RecoverS))
	}
	if rc.LatencyBackS == nil || *rc.LatencyBackS != 3 {
		t.Errorf("latency back %v, want 3 s (the first second of normal medians)", ptrText(rc.LatencyBackS))
	}
	if rc.DowntimeS != 10.5 || *rc.FirstErrorS != -0.5 || *rc.LastErrorS != 10 {
		t.Errorf("downtime %v from %v to %v", rc.DowntimeS, ptrText(rc.FirstErrorS), ptrText(rc.LastErrorS))
	}

	// One failure late in the tail, long after latency had been back for seconds: not a
	// relapse (a busy machine), back at 3 s still.
	late := append(slices.Clone(reqs), req(id+1, PathCast, 20.5, 10000, 0, 0))
	if rc := recovery(late, phases()); rc.LatencyBackS == nil || *rc.LatencyBackS != 3 {
		t.Errorf("latency back %v with one late failure, want 3 s", ptrText(rc.LatencyBackS))
	}
	// Every other second slow until the end: never back for long enough.
	flaky := slices.Clone(reqs)
	for i := range flaky {
		if s := flaky[i].Sent.Sub(at(10)).Seconds(); s > 0 && int(s)%2 == 1 {
			flaky[i].LatencyMs = 900
		}
	}
	if rc := recovery(flaky, phases()); rc.LatencyBackS != nil {
		t.Errorf("latency back %v although every other second was slow to the end", *rc.LatencyBackS)
	}
	// Process 11 never answers again: not recovered.
	gone := slices.DeleteFunc(slices.Clone(reqs), func(r Request) bool { return r.PID == 11 && r.Sent.After(at(10)) })
	if rc := recovery(gone, phases()); rc.RecoverS != nil || rc.Processes[1].FirstSuccessS != nil {
		t.Errorf("recover %v, processes %+v: want process 11 never", ptrText(rc.RecoverS), rc.Processes)
	}
}

func ptrText(p *float64) string {
	if p == nil {
		return "nil"
	}
	return strconv.FormatFloat(*p, 'f', -1, 64)
}

// Detection per connection: the first line naming its connection id, or a line of its process
// that names none, from just before the fault's start; the conductor's lines and lines that
// say nothing about a lost broker do not count.
func TestDetection(t *testing.T) {
	conns := []Conn{
		{ClientPort: 1001, PIDs: []int{10}, ConnectionID: "aaa"},
		{ClientPort: 1002, PIDs: []int{10}, ConnectionID: "bbb"},
		{ClientPort: 1003, PIDs: []int{11}, ConnectionID: "ccc"},
		{ClientPort: 1004, PIDs: []int{12}, ConnectionID: "ddd"},
	}
	ev := func(s float64, source, rule, connID string, pid int) observe.Event {
		return observe.Event{Time: at(s), Source: source, Rule: rule, Kind: observe.KindDrop,
			Fields: observe.EventFields{ConnectionID: connID, PID: pid}}
	}
	events := []observe.Event{
		ev(-5, "apache", "amqp_unreachable", "aaa", 10),         // before the fault
		ev(-0.05, "apache", "amqp_unreachable", "aaa", 10),      // a few ms early: the fault's (0 s)
		ev(1, "conductor", "amqp_unreachable", "ccc", 11),       // the conductor's: not the service's
		ev(2, "apache", "reconnected", "ccc", 11),               // not a loss
		ev(3, "apache", "heartbeat_recoverable_error", "", 11),  // no connection id: its process's
		ev(5, "apache", "amqp_unreachable", "bbb", 10),          // bbb's own line
		ev(6, "apache", "amqp_unreachable", "ccc", 11),          // later than the process's line
		ev(30, "apache", "heartbeat_recoverable_error", "", 12), // after the traffic: not counted
		ev(1.5, "apache", "messaging_timeout", "", 12),          // not a loss line
	}
	slices.SortStableFunc(events, func(a, b observe.Event) int { return a.Time.Compare(b.Time) })
	d := detection(conns, events, phases())
	got := map[string]string{}
	for _, c := range d.PerConnection {
		got[c.ConnectionID] = ptrText(c.DetectS) + " " + c.DetectedBy
	}
	want := map[string]string{"aaa": "0 amqp_unreachable", "bbb": "5 amqp_unreachable", "ccc": "3 heartbeat_recoverable_error", "ddd": "nil "}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if d.Connections != 4 || d.Detected != 3 || *d.FirstS != 0 || *d.LastS != 5 {
		t.Errorf("detection %+v", d)
	}
}

// The classification: STUCK when a process never answered again or latency never came back,
// DEGRADED with what degraded it, RECOVERED otherwise; the reason says which.
func TestClassify(t *testing.T) {
	ok := Findings{Recovery: Recovery{RecoverS: ptr(1), LatencyBackS: ptr(2),
		Processes: []ProcessRecovery{{PID: 10, FirstSuccessS: ptr(1)}}}}
	for _, tc := range []struct {
		name   string
		change func(*Findings)
		kind   string
		reason string
	}{
		{"recovered", func(*Findings) {}, Recovered, "recovered 1.0 s after the fault (latency back 2.0 s after), nothing lost"},
		{"lost", func(f *Findings) { f.Messages.Lost = 3 }, Degraded, "with 3 acknowledged casts lost"},
		{"duplicated", func(f *Findings) { f.Messages.Duplicated, f.Messages.DriverDuplicates = 1, 2 },
			Degraded, "3 messages delivered twice (1 processed twice, 2 caught by the driver's duplicate check)"},
		{"messaging timeout", func(f *Findings) { f.Requests.MessagingTimeouts = 1 }, Degraded, "1 call hit MessagingTimeout"},
		{"client timeouts are the fault's cost", func(f *Findings) { f.Requests.TimedOut, f.Requests.TimedOutAfter = 100, 3 }, Recovered, ""},
		{"a process never back", func(f *Findings) {
			f.Recovery.Processes = append(f.Recovery.Processes, ProcessRecovery{PID: 11})
			f.Recovery.RecoverS = nil
		}, Stuck, "not recovered 15 s after the fault: app process 11 answered nothing after the fault"},
		{"latency never back", func(f *Findings) { f.Recovery.LatencyBackS, f.Recovery.NormalP99Ms = nil, 4.5 },
			Stuck, "its latency was not back at the pre-fault p99 (4.5ms) by the end"},
	} {
		f := ok
		f.Recovery.Processes = slices.Clone(ok.Recovery.Processes)
		tc.change(&f)
		kind, reason := classify(f, phases())
		if kind != tc.kind || !strings.Contains(reason, tc.reason) {
			t.Errorf("%s: %s — %s; want %s containing %q", tc.name, kind, reason, tc.kind, tc.reason)
		}
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for _, tc := range []struct{ q, want float64 }{{0.5, 3}, {0.99, 5}, {1, 5}, {0.2, 1}} {
		if got := percentile(xs, tc.q); got != tc.want {
			t.Errorf("p%g = %v, want %v", tc.q*100, got, tc.want)
		}
	}
	if percentile(nil, 0.5) != 0 || !slices.Equal(xs, []float64{5, 1, 4, 2, 3}) {
		t.Error("percentile of nothing, or it sorted its input")
	}
}

// The plan's bad input is refused before anything starts, in one line.
func TestPlanValidate(t *testing.T) {
	for _, tc := range []struct {
		change func(*Plan)
		want   string
	}{
		{func(p *Plan) { p.FaultDuration = 0 }, "--fault-duration=0s: must be > 0"},
		{func(p *Plan) { p.FaultDuration = -time.Second }, "must be > 0"},
		{func(p *Plan) { p.Faults = []string{"unplug"} }, `unknown fault "unplug"`},
		{func(p *Plan) { p.Faults = nil }, "no fault given"},
		{func(p *Plan) { p.Rate = 0 }, "--rate=0"},
		{func(p *Plan) { p.After = 0 }, "--after"},
	} {
		p := DefaultPlan()
		tc.change(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v, want one line containing %q", err, tc.want)
		}
	}
	if err := DefaultPlan().Validate(); err != nil {
		t.Errorf("the default plan: %v", err)
	}
}

// The cells: the matrix x the faults, ids that say all of it, the keepalive variant after each
// configuration's heartbeat modes, and each cell's knobs.
func TestCells(t *testing.T) {
	p := DefaultPlan()
	p.TCPKeepalive = 4
	p.Faults = []string{"hang", "reset"}
	var ids []string
	for _, c := range p.Cells() {
		ids = append(ids, c.ID)
		s := c.Spec.(CellSpec)
		o := c.Stack
		switch {
		case s.TCPKeepalive:
			if o.Heartbeat != "off" || o.TCPKeepalive != 4 || o.HeartbeatTimeout != 0 {
				t.Errorf("%s: %+v", c.ID, o)
			}
		case s.Heartbeat == "off":
			if o.TCPKeepalive != 0 || o.HeartbeatTimeout != 0 {
				t.Errorf("%s: keepalive %d timeout %d", c.ID, o.TCPKeepalive, o.HeartbeatTimeout)
			}
		default:
			if o.HeartbeatTimeout != 5 || o.RPCTimeout != 5 {
				t.Errorf("%s: heartbeat timeout %d, rpc timeout %d", c.ID, o.HeartbeatTimeout, o.RPCTimeout)
			}
		}
		if o.MPM != "event" || o.Mode != "daemon" || o.Processes != 2 || o.Threads != 1 || !o.MonkeyPatch {
			t.Errorf("%s: %+v", c.ID, o)
		}
	}
	want := []string{"event-daemon-green-hang", "event-daemon-green-reset", "event-daemon-pthread-hang", "event-daemon-pthread-reset",
		"event-daemon-off-hang", "event-daemon-off-reset", "event-daemon-off-keepalive-hang", "event-daemon-off-keepalive-reset"}
	if !slices.Equal(ids, want) {
		t.Errorf("cells %v, want %v", ids, want)
	}
}
