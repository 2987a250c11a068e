package observe

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"wsgilab/internal/broker"
)

// fakeProbe returns what it is told, counting its calls.
type fakeProbe struct {
	name   string
	val    func(n int64) any
	events func(n int64, now time.Time) []Event
	err    func(n int64) error
	delay  time.Duration
	calls  atomic.Int64
}

func (f *fakeProbe) Name() string { return f.name }

func (f *fakeProbe) Sample(ctx context.Context, now time.Time) (any, []Event, error) {
	n := f.calls.Add(1)
	if f.delay > 0 {
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(f.delay):
		}
	}
	var v any
	var ev []Event
	var err error
	if f.val != nil {
		v = f.val(n)
	}
	if f.events != nil {
		ev = f.events(n, now)
	}
	if f.err != nil {
		err = f.err(n)
	}
	return v, ev, err
}

type flushProbe struct{ fakeProbe }

func (f *flushProbe) Flush(now time.Time) []Event {
	return []Event{{Time: now, Rule: "flushed", Kind: KindInfo}}
}

func TestObserverTimeline(t *testing.T) {
	broker := &fakeProbe{name: "broker_connections", val: func(n int64) any {
		return &BrokerReading{Vhost: "v", Count: int(n)}
	}}
	failing := &fakeProbe{name: "sockets", err: func(n int64) error {
		if n%2 == 0 {
			return errors.New("boom")
		}
		return nil
	}, val: func(n int64) any {
		if n%2 == 0 {
			return (*SocketReading)(nil)
		}
		return &SocketReading{Established: 1}
	}}
	// Events arrive out of order (files are read at different moments): the timeline sorts them.
	base := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	logs := &flushProbe{fakeProbe{name: "logs", events: func(n int64, now time.Time) []Event {
		return []Event{{Time: base.Add(time.Duration(10-n) * time.Second), Rule: "r", Kind: KindDrop}}
	}}}
	other := &fakeProbe{name: "bench", val: func(n int64) any { return map[string]int64{"requests": n} }}
	o := New(Target{Cell: "c1", Vhost: "v", BrokerPort: 5672, Interval: 20 * time.Millisecond}, broker, failing, logs, other)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	mark := time.Now()
	o.Mark("warmup_end", mark)
	if err := o.Run(ctx); err != nil {
		t.Fatal(err)
	}
	tl := o.Timeline()
	if tl.Cell != "c1" || tl.Vhost != "v" || tl.BrokerPort != 5672 || tl.IntervalMS != 20 || tl.End.Before(tl.Start) {
		t.Errorf("header: %+v", tl)
	}
	if len(tl.Probes) != 4 || tl.Probes[0] != "broker_connections" || len(tl.Marks) != 1 || !tl.Marks[0].T.Equal(mark) {
		t.Errorf("probes %v marks %v", tl.Probes, tl.Marks)
	}
	if len(tl.Ticks) < 4 {
		t.Fatalf("%d ticks in 150 ms at 20 ms", len(tl.Ticks))
	}
	for i, tk := range tl.Ticks {
		if tk.Broker == nil || tk.Broker.Count != i+1 {
			t.Fatalf("tick %d: broker %+v", i, tk.Broker)
		}
		if i%2 == 1 && (tk.Sockets != nil || tk.Errors["sockets"] != "boom") {
			t.Errorf("tick %d: a failed sample must leave an error and no reading: %+v", i, tk)
		}
		if i%2 == 0 && (tk.Sockets == nil || tk.Errors != nil) {
			t.Errorf("tick %d: %+v", i, tk)
		}
		var got map[string]int64
		if err := json.Unmarshal(tk.Other["bench"], &got); err != nil || got["requests"] != int64(i+1) {
			t.Errorf("tick %d: other %s", i, tk.Other["bench"])
		}
		if i > 0 && !tk.T.After(tl.Ticks[i-1].T) {
			t.Errorf("tick %d not after the previous one", i)
		}
	}
	if n := len(tl.Events); n != len(tl.Ticks)+1 || tl.Events[n-1].Rule != "flushed" {
		t.Fatalf("%d events for %d ticks, last %+v", n, len(tl.Ticks), tl.Events[n-1])
	}
	for i := 1; i < len(tl.Events); i++ {
		if tl.Events[i].Time.Before(tl.Events[i-1].Time) {
			t.Fatalf("events not in time order at %d", i)
		}
	}
	// The JSON users read round-trips.
	b, err := json.Marshal(tl)
	if err != nil {
		t.Fatal(err)
	}
	var back Timeline
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Ticks) != len(tl.Ticks) || back.Ticks[0].Broker.Count != 1 || back.Events[0].Kind != KindDrop {
		t.Errorf("round trip lost data")
	}
}

// A hanging probe costs its tick the sample timeout, not the run: its sample is abandoned with an
// error, the other probes' readings are in the same tick, and Run ends when its context does.
// The deadlines bound waits for conditions; no duration is asserted.
func TestObserverSlowProbe(t *testing.T) {
	slow := &fakeProbe{name: "slow", delay: time.Hour}
	fast := &fakeProbe{name: "fast", val: func(n int64) any { return &Scoreboard{BusyWorkers: int(n)} }}
	o := New(Target{Interval: 100 * time.Millisecond}, slow, fast)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	deadline := time.Now().Add(time.Minute)
	for len(o.Timeline().Ticks) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no two ticks in a minute: the hanging probe blocks the observer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after its context ended")
	}
	tl := o.Timeline()
	for i, tk := range tl.Ticks[:2] {
		if tk.Errors["slow"] == "" || tk.Scoreboard == nil {
			t.Errorf("tick %d: want the slow probe's error beside the fast probe's reading: %+v", i, tk)
		}
	}
	if fast.calls.Load() < int64(len(tl.Ticks)) {
		t.Errorf("the fast probe sampled %d times for %d ticks", fast.calls.Load(), len(tl.Ticks))
	}
}

// The standard probe set follows the sources a Target sets.
func TestTargetProbes(t *testing.T) {
	names := func(ps []Probe) (s []string) {
		for _, p := range ps {
			s = append(s, p.Name())
		}
		return s
	}
	if ps := (Target{}).Probes(); len(ps) != 0 {
		t.Errorf("empty target: %v", names(ps))
	}
	full := Target{
		Vhost: "v", BrokerPort: 5672,
		Connections: func(context.Context) ([]broker.Connection, error) { return nil, nil },
		PIDs:        func() []int { return nil },
		BrokerLog:   "/nonexistent/rabbit.log",
		ClientLogs:  []LogFile{{Path: "/nonexistent/error.log", Format: FormatApache}},
		StatusURL:   "http://127.0.0.1:1/server-status?auto",
	}
	got := names(full.Probes())
	want := []string{"broker_connections", "sockets", "broker_log", "client_logs", "scoreboard"}
	if len(got) != len(want) {
		t.Fatalf("probes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("probes %v, want %v", got, want)
		}
	}
	if lt := full.Probes()[2].(*LogTail); lt.Vhost != "v" {
		t.Errorf("broker log probe does not filter by the cell's vhost")
	}
}
