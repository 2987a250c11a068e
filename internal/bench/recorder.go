package bench

import (
	"math"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// sample is one request as measured by a worker. Times are offsets from the run's
// start (monotonic clock), so that no wall-clock reads sit on the hot path.
type sample struct {
	ref       time.Duration // latency reference: the due time with Rate, else start
	start     time.Duration // connect start (new connection) or write start (reused)
	connect   time.Duration // connect duration, 0 on a reused connection
	endWrite  time.Duration
	firstByte time.Duration
	end       time.Duration
	status    int
	body      int64 // decoded body bytes
	read      int64 // bytes read from the socket, headers included
	sent      int64 // bytes written
	failure   Failure
	err       error
	timeout   bool
	writeErr  bool
	truncated bool // the connection closed before the response was complete
	keepAlive bool // the connection stays open for the next request
}

// series accumulates one column of ab's Connection Times table in constant memory:
// an HDR histogram for medians and percentiles, exact min/max, and shifted sums for
// an exact mean and standard deviation.
type series struct {
	h          *hdrhistogram.Histogram
	n          int64
	min, max   int64
	shift      int64
	sum, sumsq float64
}

func newSeries() series { return series{h: newHistogram(), min: math.MaxInt64} }

func (s *series) record(v int64) {
	if v < 0 {
		v = 0
	}
	if s.n == 0 {
		s.shift = v // summing deviations from the first value keeps the sums small
	}
	s.n++
	if v < s.min {
		s.min = v
	}
	if v > s.max {
		s.max = v
	}
	d := float64(v - s.shift)
	s.sum += d
	s.sumsq += d * d
	if v > histHighest {
		v = histHighest
	}
	_ = s.h.RecordValue(v)
}

// summary computes the row; the median follows ab's rule on its sorted array: for an
// odd count the mean of elements n/2 and n/2+1, else element n/2 (sic).
func (s *series) summary() Summary {
	if s.n == 0 {
		return Summary{}
	}
	mean := float64(s.shift) + s.sum/float64(s.n)
	var sd float64
	if s.n > 1 {
		v := (s.sumsq - s.sum*s.sum/float64(s.n)) / float64(s.n-1)
		if v > 0 {
			sd = math.Sqrt(v)
		}
	}
	at := func(i int64) int64 {
		switch {
		case i <= 0:
			return s.min
		case i >= s.n-1:
			return s.max
		}
		return min(max(valueAtIndex(s.h, i), s.min), s.max)
	}
	var med int64
	if s.n > 1 && s.n%2 == 1 {
		med = (at(s.n/2) + at(s.n/2+1)) / 2
	} else {
		med = at(s.n / 2)
	}
	return Summary{
		Min: time.Duration(s.min), Mean: time.Duration(math.Round(mean)), StdDev: time.Duration(math.Round(sd)),
		Median: time.Duration(med), Max: time.Duration(s.max),
	}
}

// recorder aggregates samples from all workers under one mutex. Recording is a few
// hundred nanoseconds; on a generator pinned to one core the lock is uncontended.
type recorder struct {
	mu       sync.Mutex
	variable bool

	total, connect, processing, waiting series

	complete, failed int64
	fail             FailureCounts
	writeErrors      int64
	non2xx           int64
	status           [1000]int64
	keepAlive        int64
	totalBytes       int64
	bodyBytes        int64
	sentBytes        int64
	haveDoc          bool
	docLen           int64
	lastDone         time.Duration
	tl               timeline

	progressEvery int64
	progress      func(int64)
}

func newRecorder(n *normalized) *recorder {
	return &recorder{
		variable: n.VariableLength,
		total:    newSeries(), connect: newSeries(), processing: newSeries(), waiting: newSeries(),
		tl:            newTimeline(),
		progressEvery: n.ProgressEvery,
		progress:      n.Progress,
	}
}

// record adds one request and returns its final classification: only here, in
// completion order, can a body length be compared with the first response's.
func (r *recorder) record(s *sample) Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.totalBytes += s.read
	r.sentBytes += s.sent
	if s.writeErr {
		r.writeErrors++
	}
	f := s.failure
	if f.completes() {
		if f == NoFailure || f == FailLength {
			if !r.haveDoc {
				r.haveDoc, r.docLen = true, s.body
			}
			if s.truncated || (!r.variable && s.body != r.docLen) {
				f = FailLength
			} else {
				f = NoFailure
			}
		}
		r.complete++
		r.bodyBytes += s.body
		if s.keepAlive {
			r.keepAlive++
		}
		if s.status > 0 && s.status < len(r.status) {
			r.status[s.status]++
		}
		non2xx := s.status != 0 && s.status/100 != 2
		if non2xx {
			r.non2xx++
		}
		total := int64(s.end - s.ref)
		conn := int64(s.connect)
		r.total.record(total)
		r.connect.record(conn)
		r.processing.record(total - conn)
		wait := int64(0)
		if s.firstByte > 0 {
			wait = int64(s.firstByte - s.endWrite)
		}
		r.waiting.record(wait)
		if s.end > r.lastDone {
			r.lastDone = s.end
		}
		r.tl.add(s.end, s.start, total, true, f != NoFailure, non2xx)
		if r.progressEvery > 0 && r.complete%r.progressEvery == 0 && r.progress != nil {
			r.progress(r.complete)
		}
	} else {
		r.tl.add(s.end, s.start, 0, false, true, false)
	}
	if f != NoFailure {
		r.failed++
		switch f {
		case FailConnect:
			r.fail.Connect++
		case FailReceive:
			r.fail.Receive++
		case FailLength:
			r.fail.Length++
		case FailException:
			r.fail.Exceptions++
			if s.timeout {
				r.fail.Timeouts++
			}
		}
	}
	return f
}

// timeline keeps per-second counts for the whole run and exact per-second
// percentiles for the two most recent seconds; a second's histogram is summarised
// and recycled once completions have moved two seconds past it, so memory grows with
// the run's length in seconds, never with its request count.
type timeline struct {
	secs []Second
	hist [2]*hdrhistogram.Histogram
	cur  int // the newest open second, -1 before the first sample
}

func newTimeline() timeline {
	return timeline{hist: [2]*hdrhistogram.Histogram{newHistogram(), newHistogram()}, cur: -1}
}

func (t *timeline) entry(sec int) *Second {
	for len(t.secs) <= sec {
		t.secs = append(t.secs, Second{Second: len(t.secs)})
	}
	return &t.secs[sec]
}

func (t *timeline) add(end, start time.Duration, lat int64, completed, failed, non2xx bool) {
	sec := int(end / time.Second)
	if sec > t.cur {
		for k := t.cur - 1; k <= t.cur; k++ {
			if k >= 0 && k < sec-1 {
				t.close(k)
			}
		}
		t.cur = sec
	}
	e := t.entry(sec)
	if completed {
		e.Completed++
		if d := time.Duration(lat); d > e.Max {
			e.Max = d
		}
		if sec >= t.cur-1 {
			_ = t.hist[sec&1].RecordValue(min(max(lat, 0), histHighest))
		}
	}
	if failed {
		e.Errors++
	}
	if non2xx {
		e.Non2xx++
	}
	if ss := int(start / time.Second); ss >= 0 && ss <= sec {
		t.entry(ss).Sent++
	}
}

func (t *timeline) close(k int) {
	h := t.hist[k&1]
	if h.TotalCount() > 0 {
		e := t.entry(k)
		e.P50 = time.Duration(h.ValueAtPercentile(50))
		e.P99 = time.Duration(h.ValueAtPercentile(99))
		e.P50, e.P99 = min(e.P50, e.Max), min(e.P99, e.Max)
		h.Reset()
	}
}

// finish summarises the seconds still open and returns the timeline.
func (t *timeline) finish() []Second {
	for k := t.cur - 1; k <= t.cur; k++ {
		if k >= 0 {
			t.close(k)
		}
	}
	return t.secs
}

// addBytes counts bytes read outside any request (after a response's end).
func (r *recorder) addBytes(n int64) {
	r.mu.Lock()
	r.totalBytes += n
	r.mu.Unlock()
}
