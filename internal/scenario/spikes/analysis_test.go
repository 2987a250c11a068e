package spikes

import (
	"slices"
	"testing"
	"time"

	"wsgilab/internal/observe"
)

// The analysis steps one at a time, on small data (TestAnalyzeSpikes runs them together).

var tA = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// atMs is tA + msec.
func atMs(msec float64) time.Time { return tA.Add(time.Duration(msec * float64(time.Millisecond))) }

// request is a request of burst.seq started at start ms taking latency ms, served by pid.
func request(burst, seq int, start, latency float64, pid int) Request {
	return Request{Burst: burst, Seq: seq, Status: 200, PID: pid, LatencyMs: latency,
		start: atMs(start), end: atMs(start + latency), id: spikeID(burst, seq)}
}

func ms(v float64) *float64 { return &v }

func TestRequestID(t *testing.T) {
	for url, want := range map[string]string{
		"/?wsgilab-req=1.2":                 "1.2",
		"/call?x=1&wsgilab-req=3.4":         "3.4",
		"/?wsgilab-req=1.1&wsgilab-req=1.2": "1.2", // the last one
		"/":                                 "",
		"/server-status?auto":               "",
		"/?wsgilab-req=":                    "",
		"/?xwsgilab-req=1.1":                "",
	} {
		if got := requestID(url); got != want {
			t.Errorf("requestID(%q) = %q, want %q", url, got, want)
		}
	}
}

// The entries of every tick, by request id; readiness lines left out, a later line wins.
func TestAccessByID(t *testing.T) {
	ticks := []observe.Tick{
		{T: atMs(0), Access: &observe.AccessReading{Entries: []observe.AccessEntry{
			{URL: "/server-status?auto", Status: 200, ApachePID: 9},
			accessLine("1.1", 200, 1000, 101, 101, 2),
			accessLine("1.2", 200, 2000, 102, 102, 2),
		}}},
		procTick(atMs(100), 101),
		{T: atMs(200), Access: &observe.AccessReading{Entries: []observe.AccessEntry{
			accessLine("1.2", 503, 3000, 103, 0, 0),
		}}},
	}
	got := accessByID(ticks)
	if len(got) != 2 || got["1.1"].ApacheUs != 1000 || got["1.2"].Status != 503 || got["1.2"].ApachePID != 103 {
		t.Errorf("by id: %+v", got)
	}
}

// The join: %P and %D from the entry; X-Pid and the app's time only where the client lacks
// them; in embedded mode the Apache child stands for the app's process.
func TestJoinAccess(t *testing.T) {
	noApp := accessLine("1.3", 200, 500, 303, 0, 0)
	noApp.AppUs = nil
	negative := accessLine("1.4", 200, 600, 404, 0, -1)
	access := map[string]observe.AccessEntry{
		"1.1": accessLine("1.1", 200, 1500, 101, 111, 2500), // the client got X-Pid 7 and its app time
		"1.2": accessLine("1.2", 200, 2500, 202, 222, 40),   // the client got neither
		"1.3": noApp,
		"1.4": negative,
	}
	reqs := []Request{request(1, 1, 0, 2, 7), request(1, 2, 0, 3, 0), request(1, 3, 0, 1, 0), request(1, 4, 0, 1, 0),
		request(1, 5, 0, 1, 0)}
	reqs[0].AppMs = ms(0.5)
	for _, embedded := range []bool{false, true} {
		rs := slices.Clone(reqs)
		if n := joinAccess(rs, access, embedded); n != 4 {
			t.Errorf("embedded %v: joined %d, want 4", embedded, n)
		}
		r := rs[0]
		if r.PID != 7 || r.ApachePID != 101 || *r.ApacheMs != 1.5 || *r.AppMs != 0.5 {
			t.Errorf("1.1: %+v", r)
		}
		r = rs[1]
		if r.PID != 222 || r.ApachePID != 202 || *r.ApacheMs != 2.5 || r.AppMs == nil || *r.AppMs != 0.04 {
			t.Errorf("1.2: pid %d apache pid %d app %v", r.PID, r.ApachePID, r.AppMs)
		}
		wantPID := 0
		if embedded {
			wantPID = 303
		}
		if r = rs[2]; r.PID != wantPID || r.AppMs != nil || *r.ApacheMs != 0.5 {
			t.Errorf("embedded %v, 1.3 without X-Pid: pid %d (want %d), app %v", embedded, r.PID, wantPID, r.AppMs)
		}
		if r = rs[3]; r.AppMs != nil {
			t.Errorf("1.4: a negative app time joined: %v", *r.AppMs)
		}
		if r = rs[4]; r.ApacheMs != nil || r.ApachePID != 0 || r.PID != 0 {
			t.Errorf("1.5, absent from the log: %+v", r)
		}
	}
}

func TestOnTrafficClockAndOutcomes(t *testing.T) {
	reqs := []Request{request(1, 2, 30, 5, 1), request(1, 1, 20, 5, 1), request(2, 1, 1000, 5, 1)}
	reqs[0].Error = "reset"
	reqs[0].Status = 0
	reqs[2].Status = 503
	t0 := onTrafficClock(reqs, []time.Time{atMs(10), atMs(900)})
	if !t0.Equal(atMs(10)) || reqs[0].Seq != 1 || reqs[0].TMs != 10 || reqs[1].TMs != 20 || reqs[2].TMs != 990 {
		t.Errorf("t0 %v, requests %+v", t0, reqs)
	}
	// A request that started before the first burst's recorded start moves t0 to it.
	if t0 := onTrafficClock(reqs, []time.Time{atMs(25)}); !t0.Equal(atMs(20)) || reqs[0].TMs != 0 {
		t.Errorf("t0 %v, first request at %v ms", t0, reqs[0].TMs)
	}
	if e, n := countOutcomes(reqs); e != 1 || n != 1 {
		t.Errorf("errors %d non-2xx %d, want 1 1", e, n)
	}
}

func TestMarkFirstPerPID(t *testing.T) {
	reqs := []Request{request(1, 1, 0, 1, 5), request(1, 2, 1, 1, 0), request(1, 3, 2, 1, 6), request(1, 4, 3, 1, 5)}
	if n := markFirstPerPID(reqs); n != 2 {
		t.Errorf("new pids %d, want 2", n)
	}
	var got []bool
	for _, r := range reqs {
		got = append(got, r.FirstForPID)
	}
	if !slices.Equal(got, []bool{true, false, true, false}) {
		t.Errorf("first for pid %v", got)
	}
}

// Loads end at the app's "loaded" line, else at the end of the request they were logged
// during; a request waited for its process's load when its server-side part overlaps it.
func TestLoadsAndColdStarts(t *testing.T) {
	ev := func(msec float64, pid int, rule string) observe.Event {
		return observe.Event{Time: atMs(msec), Rule: rule, Fields: observe.EventFields{PID: pid}}
	}
	events := []observe.Event{
		ev(-2000, 1, "wsgi_script_load"), // preloaded before the traffic
		ev(10, 2, "wsgi_script_load"),
		ev(10, 3, "wsgi_python_init"), // not a load
		ev(600, 2, "app_loaded"),
		ev(1000, 3, "wsgi_create_interpreter"), // a load, not the app's; ends with its request
		ev(5000, 4, "wsgi_script_load"),        // no request of pid 4 around it: an instant
	}
	reqs := []Request{
		request(1, 1, 0, 5, 1),
		request(1, 2, 5, 700, 2),     // waited for pid 2's load
		request(1, 3, 300, 400, 2),   // queued behind it (threads)
		request(1, 4, 700, 5, 2),     // after it
		request(1, 5, 990, 200, 3),   // during pid 3's interpreter creation
		request(1, 6, 1300, 5, 3),    // after it
		request(1, 7, 4000, 2000, 2), // another process's load meanwhile
	}
	// 1.3 sat in the backlog: Apache read it at 690 ms, after the load ended at 600 ms.
	reqs[2].ApacheMs = ms(10)
	loads, appLoads := findLoads(events, reqs)
	want := []load{{1, atMs(-2000), atMs(-2000)}, {2, atMs(10), atMs(600)}, {3, atMs(1000), atMs(1190)}, {4, atMs(5000), atMs(5000)}}
	if appLoads != 3 || !slices.Equal(loads, want) {
		t.Errorf("app loads %d, loads %+v\nwant %+v", appLoads, loads, want)
	}
	cold, coldReqs := markColdStarts(reqs, loads)
	var got []bool
	for _, r := range reqs {
		got = append(got, r.ColdStart)
	}
	if cold != 2 || coldReqs != 2 || !slices.Equal(got, []bool{false, true, false, false, true, false, false}) {
		t.Errorf("cold starts %d, cold requests %d, per request %v", cold, coldReqs, got)
	}
	reqs[2].ApacheMs = ms(300) // read at 400 ms, during the load: it waited too
	for i := range reqs {
		reqs[i].ColdStart = false
	}
	if cold, coldReqs = markColdStarts(reqs, loads); cold != 2 || coldReqs != 3 || !reqs[2].ColdStart {
		t.Errorf("with 1.3 read during the load: %d cold starts, %d cold requests", cold, coldReqs)
	}
}

// Under uWSGI and gunicorn only the fake service's own line marks a load, at its end, with
// its duration: the load spans that long before it, and a request that waited for it is a cold
// start. A process with a mod_wsgi load line keeps that one.
func TestLoadsFromTheAppsOwnLine(t *testing.T) {
	loaded := func(msec float64, pid int, seconds float64) observe.Event {
		return observe.Event{Time: atMs(msec), Rule: "app_loaded", Fields: observe.EventFields{PID: pid, Seconds: seconds}}
	}
	events := []observe.Event{
		{Time: atMs(10), Rule: "wsgi_script_load", Fields: observe.EventFields{PID: 2}},
		loaded(600, 2, 0.59),  // Apache's: the load line above begins it
		loaded(1500, 7, 1.25), // a gunicorn worker booted while request 1.1 waited
		loaded(9000, 8, 0),    // a line without its duration tells nothing
	}
	reqs := []Request{request(1, 1, 200, 1400, 7), request(1, 2, 2000, 5, 7)}
	loads, appLoads := findLoads(events, reqs)
	want := []load{{2, atMs(10), atMs(600)}, {7, atMs(250), atMs(1500)}}
	if appLoads != 2 || !slices.Equal(loads, want) {
		t.Fatalf("app loads %d, loads %+v\nwant %+v", appLoads, loads, want)
	}
	if cold, _ := markColdStarts(reqs, loads); cold != 1 || !reqs[0].ColdStart || reqs[1].ColdStart {
		t.Errorf("cold starts %d: %+v", cold, reqs)
	}
}

// Spikes above the threshold, by cause: own cold start, beside another load, a first request
// without a load, nothing; failed requests are never spikes.
func TestAttributeSpikes(t *testing.T) {
	reqs := []Request{
		request(1, 1, 0, 50, 1),    // cold itself
		request(1, 2, 0, 50, 2),    // overlaps pid 1's load
		request(1, 3, 500, 50, 3),  // first of pid 3, no load
		request(1, 4, 600, 50, 2),  // nothing
		request(1, 5, 700, 10, 2),  // at the threshold: not a spike
		request(1, 6, 800, 900, 2), // failed
	}
	reqs[0].ColdStart = true
	reqs[2].FirstForPID = true
	reqs[5].Error = "timeout"
	loads := []load{{pid: 1, from: atMs(5), till: atMs(40)}}
	c := attributeSpikes(reqs, loads, 10)
	if c != (spikeCounts{spikes: 4, cold: 1, concurrent: 1, unexplained: 2}) {
		t.Errorf("counts %+v", c)
	}
	var causes []string
	var spikes []bool
	for _, r := range reqs {
		causes = append(causes, r.Cause)
		spikes = append(spikes, r.Spike)
	}
	if !slices.Equal(causes, []string{CauseColdStart, CauseConcurrentColdStart, CauseFirstRequest, "", "", ""}) ||
		!slices.Equal(spikes, []bool{true, true, true, true, false, false}) {
		t.Errorf("causes %q spikes %v", causes, spikes)
	}
}

func TestLatencies(t *testing.T) {
	reqs := []Request{request(1, 1, 0, 1, 1), request(1, 2, 0, 2, 1), request(1, 3, 0, 3, 1), request(1, 4, 0, 100, 1)}
	reqs[0].AppMs, reqs[0].ApacheMs = ms(0.5), ms(0.9)
	reqs[1].AppMs = ms(0.25)
	reqs[3].Error = "reset"
	client, app, apache := latencies(reqs)
	if client != (Latency{N: 3, P50: 2, P99: 3, Max: 3, Mean: 2}) || app.N != 2 || app.P50 != 0.25 || app.Max != 0.5 ||
		apache != (Latency{N: 1, P50: 0.9, P99: 0.9, Max: 0.9, Mean: 0.9}) {
		t.Errorf("client %+v app %+v apache %+v", client, app, apache)
	}
}

// Process lives from the samples: present at the first sample or spawned, gone before the last
// or not; ticks without a processes reading are not samples.
func TestProcessLifetimes(t *testing.T) {
	ticks := []observe.Tick{
		{T: atMs(-100)}, // an access-only tick before the first sample
		procTick(atMs(0), 1, 2),
		procTick(atMs(100), 1, 2, 3),
		{T: atMs(150), Access: &observe.AccessReading{}},
		procTick(atMs(200), 2, 3, 4),
		{T: atMs(300)},
	}
	samples := processSamples(ticks)
	if len(samples) != 3 || !samples[0].T.Equal(atMs(0)) {
		t.Fatalf("samples %+v", samples)
	}
	ls := processLifetimes(samples)
	if !ls.lastSample.Equal(atMs(200)) || len(ls.byPID) != 4 {
		t.Fatalf("last sample %v, %d processes", ls.lastSample, len(ls.byPID))
	}
	if l := ls.byPID[1]; !l.initial || !l.last.Equal(atMs(100)) || !ls.exited(l) || ls.spawned(l) {
		t.Errorf("pid 1: %+v", l)
	}
	if l := ls.byPID[3]; l.initial || !l.first.Equal(atMs(100)) || ls.exited(l) {
		t.Errorf("pid 3: %+v", l)
	}
	if spawned, exited := ls.counts(); spawned != 2 || exited != 1 {
		t.Errorf("spawned %d exited %d, want 2 1", spawned, exited)
	}
}

// Seconds from t0 to the last response or sample: requests by start second, cold starts,
// the most children and daemons alive, processes first and last seen.
func TestPerSecond(t *testing.T) {
	reqs := []Request{request(1, 1, 0, 1500, 1), request(1, 2, 100, 4, 2), request(1, 3, 1200, 8, 2)}
	reqs[0].ColdStart, reqs[0].FirstForPID = true, true
	reqs[2].Error = "reset"
	daemon := func(tk observe.Tick, pid int) observe.Tick {
		tk.Processes.Processes = append(tk.Processes.Processes, observe.ProcessInfo{PID: pid, Role: "wsgi-daemon"})
		return tk
	}
	samples := []observe.Tick{
		procTick(atMs(-50), 1, 2),    // before t0: counted in no second
		procTick(atMs(500), 1, 2, 3), // pid 3 spawned in second 0 (and daemon 9 below)
		daemon(procTick(atMs(900), 1, 2), 9),
		procTick(atMs(2500), 2), // the last sample makes the third second; 1, 3 and 9 last seen in second 0
	}
	lives := processLifetimes(samples)
	got := perSecond(reqs, samples, lives, atMs(0))
	want := []Second{
		{T: 0, Requests: 2, P50Ms: 4, P99Ms: 1500, MaxMs: 1500, ColdStarts: 1, Children: 3, Daemons: 1, Spawned: 2, Exited: 3},
		{T: 1, Requests: 1},
		{T: 2, Children: 1},
	}
	if !slices.Equal(got, want) {
		t.Errorf("seconds\n got %+v\nwant %+v", got, want)
	}
}

// Bursts: start from t0, duration to the last response, the app processes at the last sample
// at or before the start and at most during the burst.
func TestPerBurst(t *testing.T) {
	reqs := []Request{request(1, 1, 0, 300, 1), request(1, 2, 10, 20, 2), request(2, 1, 2000, 5, 2)}
	reqs[0].ColdStart, reqs[0].FirstForPID, reqs[0].Spike = true, true, true
	reqs[1].Error = "reset"
	daemon := observe.Tick{T: atMs(150), Processes: &observe.ProcessReading{Processes: []observe.ProcessInfo{
		{PID: 1, Role: "child"}, {PID: 2, Role: "child"}, {PID: 3, Role: "child"}, {PID: 8, Role: "wsgi-daemon"}}}}
	samples := []observe.Tick{
		procTick(atMs(-100), 1, 2, 3, 4), // replaced by the next as "before"
		procTick(atMs(0), 1, 2),
		daemon,
		procTick(atMs(400), 1, 2, 3, 4, 5), // after burst 1's last response
		procTick(atMs(1990), 2),
	}
	got := perBurst(reqs, samples, []time.Time{atMs(0), atMs(2000)}, atMs(-500), "child")
	want := []Burst{
		{Burst: 1, StartS: 0.5, DurationS: 0.3, Requests: 2, P50Ms: 300, P99Ms: 300, MaxMs: 300, ColdStarts: 1, Spikes: 1,
			ProcessesBefore: 2, ProcessesMax: 3},
		{Burst: 2, StartS: 2.5, DurationS: 0.005, Requests: 1, P50Ms: 5, P99Ms: 5, MaxMs: 5, ProcessesBefore: 1, ProcessesMax: 1},
	}
	if !slices.Equal(got, want) {
		t.Errorf("bursts\n got %+v\nwant %+v", got, want)
	}
	if got := perBurst(reqs, samples, []time.Time{atMs(0)}, atMs(0), "wsgi-daemon"); got[0].ProcessesBefore != 0 || got[0].ProcessesMax != 1 {
		t.Errorf("daemons: %+v", got[0])
	}
}
