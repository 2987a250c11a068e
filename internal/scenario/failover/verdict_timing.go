package failover

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Recovery is when the service worked again, and what its latency did around the fault.
//
// JSON:
//
//	{"recover_s": 0.4,            fault end -> the last app process's first success (2xx) since
//	                              (null: a process never answered one)
//	 "processes": [{"pid": 4242, "first_success_s": 0.4}, ...],   each app process that answered before the fault
//	 "latency_back_s": 4.0,       fault end -> the first second from which every second's requests
//	                              succeeded with a median at or below the pre-fault p99 (null: not by the end)
//	 "normal_p99_ms": 14.2,       the p99 of the successful requests answered before the fault: what "back" means
//	 "downtime_s": 21.3,          first to last failed request (by send time), as Rally's downtime
//	 "first_error_s": -0.9,       ... relative to the fault's start
//	 "last_error_s": 20.4,
//	 "before", "during", "after": Latency,   answered before the fault began; the rest sent
//	                              until it ended (caught by it); sent after it ended
//	 "longest_ms": 10002.1}       the longest any request was blocked (a timed-out one: the timeout)
type Recovery struct {
	RecoverS     *float64          `json:"recover_s"`
	Processes    []ProcessRecovery `json:"processes"`
	LatencyBackS *float64          `json:"latency_back_s"`
	NormalP99Ms  float64           `json:"normal_p99_ms"`
	DowntimeS    float64           `json:"downtime_s"`
	FirstErrorS  *float64          `json:"first_error_s,omitempty"`
	LastErrorS   *float64          `json:"last_error_s,omitempty"`
	Before       Latency           `json:"before"`
	During       Latency           `json:"during"`
	After        Latency           `json:"after"`
	LongestMs    float64           `json:"longest_ms"`
}

// ProcessRecovery is one app process's first success after the fault ended.
type ProcessRecovery struct {
	PID           int      `json:"pid"`
	FirstSuccessS *float64 `json:"first_success_s"`
}

// Latency summarises the latency of the requests of one phase, failed ones included (a
// failure's latency is how long the client waited for it).
//
// JSON: {"n": 50, "p50_ms": 3.1, "p99_ms": 14.2, "max_ms": 16.0, "failed": 0}
type Latency struct {
	N      int     `json:"n"`
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	Failed int     `json:"failed"`
}

// window is the length of the slices "latency back" is judged on: at 10 requests per second,
// one second holds enough requests for a median.
const window = time.Second

func recovery(reqs []Request, ph Phases) Recovery {
	var rc Recovery
	var before, during, after, normal []Request
	for _, r := range reqs {
		switch {
		case r.End().Before(ph.FaultStart):
			before = append(before, r)
			if r.OK() {
				normal = append(normal, r)
			}
		case !r.Sent.After(ph.FaultEnd):
			during = append(during, r)
		default:
			after = append(after, r)
		}
		rc.LongestMs = math.Max(rc.LongestMs, r.LatencyMs)
	}
	rc.Before, rc.During, rc.After = latencyOf(before), latencyOf(during), latencyOf(after)
	rc.NormalP99Ms = percentile(latencies(normal), 0.99)
	rc.Processes = firstSuccesses(reqs, ph)
	for _, p := range rc.Processes {
		if p.FirstSuccessS == nil {
			rc.RecoverS = nil
			break
		}
		if rc.RecoverS == nil || *p.FirstSuccessS > *rc.RecoverS {
			rc.RecoverS = ptr(*p.FirstSuccessS)
		}
	}
	rc.LatencyBackS = latencyBack(after, ph, rc.NormalP99Ms)
	rc.DowntimeS, rc.FirstErrorS, rc.LastErrorS = downtime(reqs, ph)
	return rc
}

// firstSuccesses finds, for each app process that answered a request before the fault, its
// first success (2xx, a cast or a call) completed after the fault ended: the driver took a
// message again. A process that served nothing before the fault is not one the fault could
// have broken.
func firstSuccesses(reqs []Request, ph Phases) []ProcessRecovery {
	var pids []int
	for _, r := range reqs {
		if r.OK() && r.PID != 0 && r.Sent.Before(ph.FaultStart) && !slices.Contains(pids, r.PID) {
			pids = append(pids, r.PID)
		}
	}
	slices.Sort(pids)
	out := make([]ProcessRecovery, len(pids))
	for i, pid := range pids {
		out[i].PID = pid
		for _, r := range reqs {
			if r.PID != pid || !r.OK() || r.End().Before(ph.FaultEnd) {
				continue
			}
			s := r.End().Sub(ph.FaultEnd).Seconds()
			if out[i].FirstSuccessS == nil || s < *out[i].FirstSuccessS {
				out[i].FirstSuccessS = ptr(round1(s))
			}
		}
	}
	return out
}

// sustained is how many consecutive windows must be healthy for latency to count as back: a
// single good second in the middle of a draining backlog is not a recovery, and a single slow
// second later (the machine busy with another cell) is not a relapse.
const sustained = 3

// latencyBack is the start of the first window after the fault ended that begins a run of
// sustained windows with only successful requests and a
// median latency at or below normal (the pre-fault p99), in seconds from the fault's end; nil
// when there was none. A median, not a maximum: a window's slowest request is above a p99 one
// time in ten at 10 requests per second, healthy or not.
func latencyBack(after []Request, ph Phases, normal float64) *float64 {
	if len(after) == 0 || normal <= 0 {
		return nil
	}
	n := 0
	for _, r := range after {
		n = max(n, int(r.Sent.Sub(ph.FaultEnd)/window)+1)
	}
	windows := make([][]Request, n)
	for _, r := range after {
		i := int(r.Sent.Sub(ph.FaultEnd) / window)
		windows[i] = append(windows[i], r)
	}
	healthy := func(w []Request) bool {
		return len(w) > 0 && !slices.ContainsFunc(w, func(r Request) bool { return !r.OK() }) &&
			percentile(latencies(w), 0.5) <= normal
	}
	for i := range windows {
		run := 0
		for j := i; j < n && healthy(windows[j]); j++ {
			run++
		}
		if run >= sustained {
			return ptr(round1((time.Duration(i) * window).Seconds()))
		}
	}
	return nil
}

// downtime is Rally's: from the first failed request to the last (by send time), with both
// ends relative to the fault's start.
func downtime(reqs []Request, ph Phases) (float64, *float64, *float64) {
	var first, last time.Time
	for _, r := range reqs {
		if r.OK() {
			continue
		}
		if first.IsZero() {
			first = r.Sent
		}
		last = r.Sent
	}
	if first.IsZero() {
		return 0, nil, nil
	}
	return round1(last.Sub(first).Seconds()), ptr(round1(first.Sub(ph.FaultStart).Seconds())),
		ptr(round1(last.Sub(ph.FaultStart).Seconds()))
}

func latencyOf(rs []Request) Latency {
	l := Latency{N: len(rs)}
	ls := latencies(rs)
	l.P50Ms, l.P99Ms = percentile(ls, 0.5), percentile(ls, 0.99)
	for _, r := range rs {
		l.MaxMs = math.Max(l.MaxMs, r.LatencyMs)
		if !r.OK() {
			l.Failed++
		}
	}
	return l
}

func latencies(rs []Request) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = r.LatencyMs
	}
	return out
}

// percentile is the nearest-rank percentile (q in (0, 1]) of xs, 0 for none.
func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ptr(x float64) *float64 { return &x }

func round1(x float64) float64 { return math.Round(x*10) / 10 }

// ms prints a latency.
func ms(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.1fs", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	default:
		return fmt.Sprintf("%.1fms", v)
	}
}
