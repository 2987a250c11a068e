package spikes

import (
	"math"
	"slices"
	"time"

	"wsgilab/internal/observe"
	"wsgilab/internal/runner"
)

// The spikes scenario's analysis: every request joined to Apache's record and the processes'
// life, each slow one attributed to a cold start or not. analyze runs the steps below in
// order; a step reads what the earlier ones set on the requests.

// analyze joins the client's records with what the cell's observer saw (tl: the processes
// probe's samples in Tick.Processes, the access log's entries in Tick.Access, and the error
// log's process lines in Events), attributes slow requests to cold starts, and summarises.
// appRole is the role of the processes that run the app (stack.Cell.AppRole); embedded says
// that the Apache child (%P) is the app's process when the app does not report X-Pid.
func analyze(reqs []Request, burstStarts []time.Time, tl observe.Timeline, plan Plan, appRole string, embedded bool) *Result {
	s := &Result{Requests: len(reqs), Events: tl.Events, Bursts: []Burst{}, Timeline: []Second{}}
	if len(reqs) == 0 {
		return s
	}
	t0 := onTrafficClock(reqs, burstStarts)
	s.Errors, s.Non2xx = countOutcomes(reqs)
	s.Joined = joinAccess(reqs, accessByID(tl.Ticks), embedded)
	s.NewPIDs = markFirstPerPID(reqs)

	loads, appLoads := findLoads(tl.Events, reqs)
	s.AppLoads = appLoads
	s.ColdStarts, s.ColdRequests = markColdStarts(reqs, loads)

	s.Client, s.App, s.Apache = latencies(reqs)
	s.GapP99Ms = round3(s.Client.P99 - s.App.P99)
	s.SpikeThresholdMs = round3(plan.SpikeFactor * s.Client.P50)
	sp := attributeSpikes(reqs, loads, s.SpikeThresholdMs)
	s.Spikes, s.SpikesCold, s.SpikesConcurrent, s.SpikesUnexplained = sp.spikes, sp.cold, sp.concurrent, sp.unexplained

	samples := processSamples(tl.Ticks)
	lives := processLifetimes(samples)
	s.Spawned, s.Exited = lives.counts()
	s.Timeline = perSecond(reqs, samples, lives, t0)
	s.Bursts = perBurst(reqs, samples, burstStarts, t0, appRole)
	s.ColdEvidence = coldEvidence(reqs, tl.Events)
	s.RequestLog = reqs
	return s
}

// onTrafficClock sorts the requests by start and sets their TMs from t0, the first burst's
// start (or the first request's, were it earlier), which it returns.
func onTrafficClock(reqs []Request, burstStarts []time.Time) time.Time {
	slices.SortFunc(reqs, func(a, b Request) int { return a.start.Compare(b.start) })
	t0 := reqs[0].start
	if len(burstStarts) > 0 && burstStarts[0].Before(t0) {
		t0 = burstStarts[0]
	}
	for i := range reqs {
		reqs[i].TMs = runner.Millis(reqs[i].start.Sub(t0))
	}
	return t0
}

// countOutcomes counts the requests that failed (no response) and those answered outside 2xx.
func countOutcomes(reqs []Request) (errors, non2xx int) {
	for _, r := range reqs {
		if r.Error != "" {
			errors++
		} else if r.Status < 200 || r.Status > 299 {
			non2xx++
		}
	}
	return errors, non2xx
}

// accessByID indexes the access-log entries of the timeline by the request id in their URL
// (the last entry wins); entries without one (readiness probes) are left out.
func accessByID(ticks []observe.Tick) map[string]observe.AccessEntry {
	out := map[string]observe.AccessEntry{}
	for _, t := range ticks {
		if t.Access == nil {
			continue
		}
		for _, e := range t.Access.Entries {
			if id := requestID(e.URL); id != "" {
				out[id] = e
			}
		}
	}
	return out
}

// joinAccess gives each request its access-log entry's %P and %D, and X-Pid and
// X-App-Time-Us where the client did not get them; then, in embedded mode, the Apache child as
// the app's process when nothing named it. It returns how many requests had an entry.
func joinAccess(reqs []Request, access map[string]observe.AccessEntry, embedded bool) (joined int) {
	for i := range reqs {
		r := &reqs[i]
		if e, ok := access[r.id]; ok {
			joined++
			r.ApachePID = e.ApachePID
			v := float64(e.ApacheUs) / 1000
			r.ApacheMs = &v
			if r.PID == 0 && e.AppPID > 0 {
				r.PID = e.AppPID
			}
			if r.AppMs == nil && e.AppUs != nil && *e.AppUs >= 0 {
				a := *e.AppUs / 1000
				r.AppMs = &a
			}
		}
		if r.PID == 0 && embedded {
			r.PID = r.ApachePID
		}
	}
	return joined
}

// markFirstPerPID marks each app process's first request (in start order) and returns how
// many processes served one.
func markFirstPerPID(reqs []Request) (newPIDs int) {
	seen := map[int]bool{}
	for i := range reqs {
		r := &reqs[i]
		if r.PID > 0 && !seen[r.PID] {
			seen[r.PID] = true
			r.FirstForPID = true
			newPIDs++
		}
	}
	return newPIDs
}

// load is one process loading the app (or creating an interpreter), from its mod_wsgi line to
// the end of the import.
type load struct {
	pid        int
	from, till time.Time
}

// findLoads reads the loads from the process lines, and counts the app loads (mod_wsgi's
// "Loading Python script file" lines; interpreter creation is a load but not the app's). A
// load runs from its line to the app's own "loaded" line when it writes one (the fake service
// does), else to the end of the request of that process it was logged during, else it is an
// instant.
func findLoads(events []observe.Event, reqs []Request) (loads []load, appLoads int) {
	for _, e := range events {
		if e.Rule != "wsgi_script_load" && e.Rule != "wsgi_create_interpreter" {
			continue
		}
		if e.Rule == "wsgi_script_load" {
			appLoads++
		}
		l := load{pid: e.Fields.PID, from: e.Time, till: e.Time}
		ended := false
		for _, f := range events {
			if f.Rule == "app_loaded" && f.Fields.PID == l.pid && !f.Time.Before(e.Time) {
				l.till, ended = f.Time, true
				break
			}
		}
		for _, r := range reqs {
			if !ended && r.PID == l.pid && !e.Time.Before(r.serverStart()) && !e.Time.After(r.end) {
				l.till, ended = r.end, true
			}
		}
		loads = append(loads, l)
	}
	// Servers that log no load of their own (uWSGI, gunicorn): the fake service's line at the
	// end of its import says how long the import took, so the load began that long before.
	for _, e := range events {
		if e.Rule != "app_loaded" || e.Fields.Seconds <= 0 ||
			slices.ContainsFunc(loads, func(l load) bool { return l.pid == e.Fields.PID }) {
			continue
		}
		appLoads++
		from := e.Time.Add(-time.Duration(e.Fields.Seconds * float64(time.Second)))
		loads = append(loads, load{pid: e.Fields.PID, from: from, till: e.Time})
	}
	return loads, appLoads
}

// markColdStarts marks the requests that waited for their own process's load, and returns
// how many loads were on a request's path (cold starts) and how many requests waited.
//
// A request of that process waited for it when the load overlaps the request's server-side
// part: from Apache reading it (its end minus %D) to its end. That is the request that
// triggered the load and, with threads, those queued behind the import; not a connection that
// sat in the listen backlog while every child was busy and was taken by this one after its
// load (that is a spike beside a cold start). A load no request waited for (a preloaded daemon
// at start, the readiness probe) is no cold start.
func markColdStarts(reqs []Request, loads []load) (coldStarts, coldRequests int) {
	for _, l := range loads {
		onPath := false
		for i := range reqs {
			r := &reqs[i]
			if r.PID == l.pid && !r.serverStart().After(l.till) && !r.end.Before(l.from) {
				r.ColdStart, onPath = true, true
			}
		}
		if onPath {
			coldStarts++
		}
	}
	for _, r := range reqs {
		if r.ColdStart {
			coldRequests++
		}
	}
	return coldStarts, coldRequests
}

// latencies summarises the answered requests' three views: the client's, the app's
// (X-App-Time-Us) and Apache's (%D).
func latencies(reqs []Request) (client, app, apache Latency) {
	c := make([]float64, 0, len(reqs))
	var a, ap []float64
	for _, r := range reqs {
		if r.Error != "" {
			continue
		}
		c = append(c, r.LatencyMs)
		if r.AppMs != nil {
			a = append(a, *r.AppMs)
		}
		if r.ApacheMs != nil {
			ap = append(ap, *r.ApacheMs)
		}
	}
	return summarize(c), summarize(a), summarize(ap)
}

// spikeCounts are the spikes by cause.
type spikeCounts struct {
	spikes, cold, concurrent, unexplained int
}

// attributeSpikes marks the answered requests slower than threshold as spikes and gives each
// its cause: its own cold start, a load it did not wait for running meanwhile, or nothing
// found (a first request of its process without a load line is told apart).
func attributeSpikes(reqs []Request, loads []load, threshold float64) spikeCounts {
	var c spikeCounts
	for i := range reqs {
		r := &reqs[i]
		if r.Error != "" || r.LatencyMs <= threshold {
			continue
		}
		r.Spike = true
		c.spikes++
		switch {
		case r.ColdStart:
			r.Cause = CauseColdStart
			c.cold++
		case slices.ContainsFunc(loads, func(l load) bool {
			return l.from.Before(r.end) && l.till.After(r.start)
		}):
			r.Cause = CauseConcurrentColdStart
			c.concurrent++
		case r.FirstForPID:
			r.Cause = CauseFirstRequest
			c.unexplained++
		default:
			c.unexplained++
		}
	}
	return c
}

// processSamples are the ticks of the timeline that hold a processes reading, in time order.
func processSamples(ticks []observe.Tick) []observe.Tick {
	var out []observe.Tick
	for _, t := range ticks {
		if t.Processes != nil {
			out = append(out, t)
		}
	}
	return out
}

// life is one process as the samples saw it: first and last seen, and whether it was there
// at the first sample (at rest, before any burst).
type life struct {
	first, last time.Time
	initial     bool
}

// lifetimes are the processes of the samples by PID, and the last sample's time: a process
// last seen before it had exited.
type lifetimes struct {
	byPID      map[int]*life
	lastSample time.Time
}

func (ls lifetimes) spawned(l *life) bool { return !l.initial }
func (ls lifetimes) exited(l *life) bool  { return l.last.Before(ls.lastSample) }

// counts is how many processes were spawned (absent from the first sample) and how many
// exited (absent from the last).
func (ls lifetimes) counts() (spawned, exited int) {
	for _, l := range ls.byPID {
		if ls.spawned(l) {
			spawned++
		}
		if ls.exited(l) {
			exited++
		}
	}
	return spawned, exited
}

// processLifetimes follows every process through the samples.
func processLifetimes(samples []observe.Tick) lifetimes {
	ls := lifetimes{byPID: map[int]*life{}}
	for k, p := range samples {
		ls.lastSample = p.T
		for _, q := range p.Processes.Processes {
			l, ok := ls.byPID[q.PID]
			if !ok {
				l = &life{first: p.T, initial: k == 0}
				ls.byPID[q.PID] = l
			}
			l.last = p.T
		}
	}
	return ls
}

// perSecond is the traffic second by second from t0 to the last response or sample: requests
// (counted in the second they started) and their client latency, cold starts, the most Apache
// children and mod_wsgi daemons alive, and the processes first and last seen.
func perSecond(reqs []Request, samples []observe.Tick, lives lifetimes, t0 time.Time) []Second {
	end := reqs[len(reqs)-1].end
	for _, r := range reqs {
		if r.end.After(end) {
			end = r.end
		}
	}
	if lives.lastSample.After(end) {
		end = lives.lastSample
	}
	n := int(end.Sub(t0)/time.Second) + 1
	out := make([]Second, 0, n)
	perSec := make([][]float64, n)
	for i := 0; i < n; i++ {
		out = append(out, Second{T: i})
	}
	sec := func(t time.Time) int { return min(max(int(t.Sub(t0)/time.Second), -1), n-1) }
	for _, r := range reqs {
		i := sec(r.start)
		if i < 0 {
			continue
		}
		out[i].Requests++
		if r.ColdStart && r.FirstForPID {
			out[i].ColdStarts++
		}
		if r.Error == "" {
			perSec[i] = append(perSec[i], r.LatencyMs)
		}
	}
	for i, v := range perSec {
		l := summarize(v)
		out[i].P50Ms, out[i].P99Ms, out[i].MaxMs = l.P50, l.P99, l.Max
	}
	for _, p := range samples {
		i := sec(p.T)
		if i < 0 {
			continue
		}
		children, daemons := 0, 0
		for _, q := range p.Processes.Processes {
			switch q.Role {
			case "child":
				children++
			case "wsgi-daemon":
				daemons++
			}
		}
		out[i].Children = max(out[i].Children, children)
		out[i].Daemons = max(out[i].Daemons, daemons)
	}
	for _, l := range lives.byPID {
		if lives.spawned(l) {
			if i := sec(l.first); i >= 0 {
				out[i].Spawned++
			}
		}
		if lives.exited(l) {
			if i := sec(l.last); i >= 0 {
				out[i].Exited++
			}
		}
	}
	return out
}

// perBurst is each burst's figures: start from t0 and duration to its last response, client
// latency, cold starts and spikes, and the app processes (appRole) alive at the last sample
// before it started and at most while it ran.
func perBurst(reqs []Request, samples []observe.Tick, burstStarts []time.Time, t0 time.Time, appRole string) []Burst {
	out := []Burst{}
	for b := 1; b <= len(burstStarts); b++ {
		var lat []float64
		bs := Burst{Burst: b, StartS: round3(burstStarts[b-1].Sub(t0).Seconds())}
		var last time.Time
		for _, r := range reqs {
			if r.Burst != b {
				continue
			}
			bs.Requests++
			if r.end.After(last) {
				last = r.end
			}
			if r.Error == "" {
				lat = append(lat, r.LatencyMs)
			}
			if r.ColdStart && r.FirstForPID {
				bs.ColdStarts++
			}
			if r.Spike {
				bs.Spikes++
			}
		}
		if !last.IsZero() {
			bs.DurationS = round3(last.Sub(burstStarts[b-1]).Seconds())
		}
		l := summarize(lat)
		bs.P50Ms, bs.P99Ms, bs.MaxMs = l.P50, l.P99, l.Max
		for _, p := range samples {
			switch {
			case !p.T.After(burstStarts[b-1]):
				bs.ProcessesBefore = appAlive(p, appRole)
			case !last.IsZero() && !p.T.After(last):
				bs.ProcessesMax = max(bs.ProcessesMax, appAlive(p, appRole))
			}
		}
		bs.ProcessesMax = max(bs.ProcessesMax, bs.ProcessesBefore)
		out = append(out, bs)
	}
	return out
}

// appAlive is how many app processes (appRole) a sample holds.
func appAlive(p observe.Tick, appRole string) int {
	n := 0
	for _, q := range p.Processes.Processes {
		if q.Role == appRole {
			n++
		}
	}
	return n
}

// coldEvidence is the first cold starts (maxColdEvidence): the first request of a process that
// waited for its load, and that process's app-load line (a process loads the app once, and the
// cold-start attribution already checked that the line was logged while the request waited).
func coldEvidence(reqs []Request, events []observe.Event) []ColdStart {
	var out []ColdStart
	for _, r := range reqs {
		if !r.ColdStart || !r.FirstForPID {
			continue
		}
		if len(out) == maxColdEvidence {
			break
		}
		cs := ColdStart{Request: r}
		for _, e := range events {
			if e.Rule == "wsgi_script_load" && e.Fields.PID == r.PID {
				cs.Line = e.Line
				break
			}
		}
		out = append(out, cs)
	}
	return out
}

// summarize gives nearest-rank percentiles: each is a latency some request really had.
func summarize(v []float64) Latency {
	if len(v) == 0 {
		return Latency{}
	}
	v = slices.Clone(v)
	slices.Sort(v)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p/100*float64(len(v)))) - 1
		return v[min(max(i, 0), len(v)-1)]
	}
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return Latency{N: len(v), P50: round3(rank(50)), P99: round3(rank(99)), Max: round3(v[len(v)-1]),
		Mean: round3(sum / float64(len(v)))}
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
