package spikes

import (
	"math"
	"slices"
	"time"

	"wsgilab/internal/observe"
	"wsgilab/internal/runner"
)

// The spikes scenario's analysis: every request joined to Apache's record and the processes'
// life, each slow one attributed to a cold start or not.

// analyze joins the client's records with the access log, attributes slow requests to
// cold starts, and summarises. embedded says that the Apache child (%P) is the app's process
// when the app does not report X-Pid.
func analyze(reqs []Request, access map[string]accessEntry, events []observe.Event, procs procHistory,
	burstStarts []time.Time, plan Plan, embedded bool) *Result {
	s := &Result{Requests: len(reqs), Events: events, Bursts: []Burst{}, Timeline: []Second{}}
	if len(reqs) == 0 {
		return s
	}
	slices.SortFunc(reqs, func(a, b Request) int { return a.start.Compare(b.start) })
	t0 := reqs[0].start
	if len(burstStarts) > 0 && burstStarts[0].Before(t0) {
		t0 = burstStarts[0]
	}

	// Join and first request per process.
	seen := map[int]bool{}
	for i := range reqs {
		r := &reqs[i]
		r.TMs = runner.Millis(r.start.Sub(t0))
		if r.Error != "" {
			s.Errors++
		} else if r.Status < 200 || r.Status > 299 {
			s.Non2xx++
		}
		if e, ok := access[r.id]; ok {
			s.Joined++
			r.ApachePID = e.apachePID
			v := float64(e.apacheUs) / 1000
			r.ApacheMs = &v
			if r.PID == 0 && e.appPID > 0 {
				r.PID = e.appPID
			}
			if r.AppMs == nil && e.appUs >= 0 {
				a := e.appUs / 1000
				r.AppMs = &a
			}
		}
		if r.PID == 0 && embedded {
			r.PID = r.ApachePID
		}
		if r.PID > 0 && !seen[r.PID] {
			seen[r.PID] = true
			r.FirstForPID = true
			s.NewPIDs++
		}
	}

	// Cold starts. A load runs from its "Loading Python script file" line to the app's own
	// "loaded" line when it writes one (the fake service does), else to the end of the request
	// it was logged during. A request of that process waited for it when the load overlaps
	// the request's server-side part: from Apache reading it (its end minus %D) to its end.
	// That is the request that triggered the load and, with threads, those queued behind the
	// import; not a connection that sat in the listen backlog while every child was busy and
	// was taken by this one after its load (that is a spike beside a cold start). A load no
	// request waited for (a preloaded daemon at start, the readiness probe) is no cold start.
	type load struct {
		pid        int
		from, till time.Time
	}
	var loads []load
	for _, e := range events {
		if e.Rule != "wsgi_script_load" && e.Rule != "wsgi_create_interpreter" {
			continue
		}
		if e.Rule == "wsgi_script_load" {
			s.AppLoads++
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
		onPath := false
		for i := range reqs {
			r := &reqs[i]
			if r.PID == l.pid && !r.serverStart().After(l.till) && !r.end.Before(l.from) {
				r.ColdStart, onPath = true, true
			}
		}
		if onPath {
			s.ColdStarts++
		}
		loads = append(loads, l)
	}

	// Spikes and their causes.
	client := make([]float64, 0, len(reqs))
	var app, apache []float64
	for _, r := range reqs {
		if r.Error != "" {
			continue
		}
		client = append(client, r.LatencyMs)
		if r.AppMs != nil {
			app = append(app, *r.AppMs)
		}
		if r.ApacheMs != nil {
			apache = append(apache, *r.ApacheMs)
		}
	}
	s.Client, s.App, s.Apache = summarize(client), summarize(app), summarize(apache)
	s.GapP99Ms = round3(s.Client.P99 - s.App.P99)
	s.SpikeThresholdMs = round3(plan.SpikeFactor * s.Client.P50)
	for i := range reqs {
		r := &reqs[i]
		if r.ColdStart {
			s.ColdRequests++
		}
		if r.Error != "" || r.LatencyMs <= s.SpikeThresholdMs {
			continue
		}
		r.Spike = true
		s.Spikes++
		switch {
		case r.ColdStart:
			r.Cause = CauseColdStart
			s.SpikesCold++
		case slices.ContainsFunc(loads, func(l load) bool {
			return l.from.Before(r.end) && l.till.After(r.start)
		}):
			r.Cause = CauseConcurrentColdStart
			s.SpikesConcurrent++
		case r.FirstForPID:
			r.Cause = CauseFirstRequest
			s.SpikesUnexplained++
		default:
			s.SpikesUnexplained++
		}
	}

	// Processes: lifetimes from the samples.
	type life struct {
		first, last time.Time
		initial     bool
	}
	lives := map[int]*life{}
	var lastSample time.Time
	for k, p := range procs.samples {
		lastSample = p.t
		for _, q := range p.procs {
			l, ok := lives[q.pid]
			if !ok {
				l = &life{first: p.t, initial: k == 0}
				lives[q.pid] = l
			}
			l.last = p.t
		}
	}
	for _, l := range lives {
		if !l.initial {
			s.Spawned++
		}
		if l.last.Before(lastSample) {
			s.Exited++
		}
	}

	// Per second.
	end := reqs[len(reqs)-1].end
	for _, r := range reqs {
		if r.end.After(end) {
			end = r.end
		}
	}
	if lastSample.After(end) {
		end = lastSample
	}
	n := int(end.Sub(t0)/time.Second) + 1
	perSec := make([][]float64, n)
	for i := 0; i < n; i++ {
		s.Timeline = append(s.Timeline, Second{T: i})
	}
	sec := func(t time.Time) int { return min(max(int(t.Sub(t0)/time.Second), -1), n-1) }
	for _, r := range reqs {
		i := sec(r.start)
		if i < 0 {
			continue
		}
		s.Timeline[i].Requests++
		if r.ColdStart && r.FirstForPID {
			s.Timeline[i].ColdStarts++
		}
		if r.Error == "" {
			perSec[i] = append(perSec[i], r.LatencyMs)
		}
	}
	for i, v := range perSec {
		l := summarize(v)
		s.Timeline[i].P50Ms, s.Timeline[i].P99Ms, s.Timeline[i].MaxMs = l.P50, l.P99, l.Max
	}
	for _, p := range procs.samples {
		i := sec(p.t)
		if i < 0 {
			continue
		}
		children, daemons := 0, 0
		for _, q := range p.procs {
			switch q.role {
			case "child":
				children++
			case "wsgi-daemon":
				daemons++
			}
		}
		s.Timeline[i].Children = max(s.Timeline[i].Children, children)
		s.Timeline[i].Daemons = max(s.Timeline[i].Daemons, daemons)
	}
	for _, l := range lives {
		if !l.initial {
			if i := sec(l.first); i >= 0 {
				s.Timeline[i].Spawned++
			}
		}
		if l.last.Before(lastSample) {
			if i := sec(l.last); i >= 0 {
				s.Timeline[i].Exited++
			}
		}
	}

	// Per burst.
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
		for _, p := range procs.samples {
			switch {
			case !p.t.After(burstStarts[b-1]):
				bs.ProcessesBefore = procs.appAlive(p)
			case !last.IsZero() && !p.t.After(last):
				bs.ProcessesMax = max(bs.ProcessesMax, procs.appAlive(p))
			}
		}
		bs.ProcessesMax = max(bs.ProcessesMax, bs.ProcessesBefore)
		s.Bursts = append(s.Bursts, bs)
	}
	s.ColdEvidence = coldEvidence(reqs, events)
	s.RequestLog = reqs
	return s
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
		cs := ColdStart{Burst: r.Burst, Seq: r.Seq, PID: r.PID, LatencyMs: r.LatencyMs, AppMs: r.AppMs, ApacheMs: r.ApacheMs}
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
