package bench

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

func TestPacerSchedule(t *testing.T) {
	p := newPacer(100, 0, time.Second) // one every 10 ms, for 1 s
	var dues []time.Duration
	for {
		d, ok := p.take(0)
		if !ok {
			break
		}
		dues = append(dues, d)
	}
	if len(dues) != 100 || dues[0] != 0 || dues[1] != 10*time.Millisecond || dues[99] != 990*time.Millisecond {
		t.Fatalf("%d requests due at %v .. %v", len(dues), dues[0], dues[len(dues)-1])
	}
	st := p.stats(time.Second)
	if st.Intended != 100 || st.Sent != 100 || st.Shortfall != 0 {
		t.Errorf("stats %+v", st)
	}

	p = newPacer(1000, 50, 0) // a request limit instead of a duration
	n := 0
	for {
		if _, ok := p.take(0); !ok {
			break
		}
		n++
	}
	if n != 50 {
		t.Errorf("%d requests, want 50", n)
	}

	// Taking requests late: the lag and the backlog are what was due and not taken.
	p = newPacer(1000, 0, 0)
	p.take(0)
	p.take(10 * time.Millisecond) // request 1, due at 1 ms, taken at 10 ms
	st = p.stats(10 * time.Millisecond)
	if st.MaxLag != 9*time.Millisecond || st.MaxBacklog != 10 || st.Intended != 11 || st.Shortfall != 9 {
		t.Errorf("late stats %+v", st)
	}
}

func TestRateOpenLoop(t *testing.T) {
	srv := helloServer(t)
	res := mustRun(t, Config{URL: srv.URL("/"), Rate: 200, Duration: 500 * time.Millisecond, KeepAlive: true})
	rs := res.Rate
	if rs == nil || rs.Target != 200 || rs.Intended != 100 {
		t.Fatalf("rate stats %+v", rs)
	}
	// A fast server keeps up: (nearly) every scheduled request is sent. Allow for a
	// busy test machine at the very end of the run.
	if rs.Sent < 90 || rs.Sent > 100 || res.Complete < 85 || res.Failed != 0 {
		t.Errorf("sent %d complete %d failed %d of 100 scheduled", rs.Sent, res.Complete, res.Failed)
	}
	if res.Concurrency != 20 {
		t.Errorf("derived concurrency %d, want 20 (rate/10)", res.Concurrency)
	}
}

func TestRateBacklogWhenServerCannotKeepUp(t *testing.T) {
	// 50 requests/s scheduled, at most 2 in flight, 100 ms each: the server can do
	// 20/s. The backlog grows, latency counts the wait, and connections stay at 2.
	const delay = 100 * time.Millisecond
	var inFlight, maxInFlight atomic.Int64
	srv := newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		raise(&maxInFlight, inFlight.Add(1))
		time.Sleep(delay)
		inFlight.Add(-1)
		return respond(c, req, 200, helloBody)
	})
	res := mustRun(t, Config{URL: srv.URL("/"), Rate: 50, Concurrency: 2, Duration: time.Second, KeepAlive: true})
	rs := res.Rate
	if rs.Intended != 50 || rs.Sent > 24 || rs.Shortfall < 26 || rs.MaxBacklog < 10 || rs.MaxLag < 200*time.Millisecond {
		t.Errorf("rate stats %+v", rs)
	}
	if maxInFlight.Load() > 2 || srv.conns.Load() > 2 {
		t.Errorf("server saw %d in flight, %d connections; want <= 2", maxInFlight.Load(), srv.conns.Load())
	}
	// Coordinated omission corrected: the median waited for a connection.
	if p50 := res.Histogram.Percentile(50); p50 < 2*delay {
		t.Errorf("p50 %v, want well above the service time %v", p50, delay)
	}
	if res.Processing.Max < res.Waiting.Max {
		t.Errorf("processing (from the due time) %v < waiting %v", res.Processing.Max, res.Waiting.Max)
	}
}

func TestRateWithRequestLimit(t *testing.T) {
	res := mustRun(t, Config{URL: helloServer(t).URL("/"), Rate: 500, Requests: 25, Concurrency: 5, KeepAlive: true})
	if res.Complete != 25 || res.Rate.Sent != 25 || res.Rate.Intended != 25 || res.StopReason != "requests" {
		t.Errorf("complete %d rate %+v reason %q", res.Complete, res.Rate, res.StopReason)
	}
	// 25 requests at 500/s are due over 48 ms.
	if res.Elapsed < 48*time.Millisecond {
		t.Errorf("elapsed %v: the schedule was not followed", res.Elapsed)
	}
}
