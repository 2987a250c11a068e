package bench

import (
	"sync/atomic"
	"time"
)

// pacer is the open-loop schedule: request i is due at i/rate seconds after the start.
// Workers take requests in order as they become free, so at most Concurrency
// requests are in flight; when all are busy the due requests queue up (the backlog),
// and their waiting counts in their latency, never as extra connections.
type pacer struct {
	period     float64 // nanoseconds between requests
	limit      int64   // number of requests, 0 for none
	duration   time.Duration
	next       atomic.Int64 // the next request index to hand out
	sent       atomic.Int64
	maxBacklog atomic.Int64
	maxLag     atomic.Int64
}

func newPacer(rate float64, limit int64, d time.Duration) *pacer {
	return &pacer{period: 1e9 / rate, limit: limit, duration: d}
}

// due is request i's scheduled offset from the start.
func (p *pacer) due(i int64) time.Duration { return time.Duration(float64(i) * p.period) }

// take hands out the next request at offset now: its due time, or ok=false when the
// schedule is over.
func (p *pacer) take(now time.Duration) (due time.Duration, ok bool) {
	i := p.next.Add(1) - 1
	if p.limit > 0 && i >= p.limit {
		return 0, false
	}
	due = p.due(i)
	if p.duration > 0 && due >= p.duration {
		return 0, false
	}
	p.sent.Add(1)
	if lag := int64(now - due); lag > 0 {
		raise(&p.maxLag, lag)
		// requests due by now, minus those handed out before this one
		backlog := int64(float64(now)/p.period) + 1 - i
		raise(&p.maxBacklog, backlog)
	}
	return due, true
}

func raise(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// stats accounts for the schedule of a run that lasted elapsed.
func (p *pacer) stats(elapsed time.Duration) *RateStats {
	end := elapsed
	if p.duration > 0 && p.duration < end {
		end = p.duration
	}
	intended := int64(float64(end)/p.period) + 1
	if p.duration > 0 && p.due(intended-1) >= p.duration {
		intended--
	}
	if p.limit > 0 && intended > p.limit {
		intended = p.limit
	}
	sent := p.sent.Load()
	rs := &RateStats{
		Target: 1e9 / p.period, Intended: intended, Sent: sent,
		MaxBacklog: p.maxBacklog.Load(), MaxLag: time.Duration(p.maxLag.Load()),
	}
	if intended > sent {
		rs.Shortfall = intended - sent
	}
	if elapsed > 0 {
		rs.Achieved = float64(sent) / elapsed.Seconds()
	}
	return rs
}
