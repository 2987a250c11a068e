// Package observe watches one cell while a scenario runs: the broker's connections in the
// cell's vhost (management API), the service's sockets to the broker (/proc), the broker and
// Apache logs (signature rules), and Apache's scoreboard (mod_status). Each of these is a Probe
// in its own file; an Observer samples them on a clock into a Timeline that a verdict reads
// afterwards and that users read as JSON.
//
// What the write-ups did by hand maps onto the probes: the RabbitMQ dashboard's connection list
// is brokerconns.go, `ss -tnp | grep 5672` is sockets.go, `grep -r "heartbeart" /var/log` is
// logs.go with the table in signatures.go, and `apachectl status` is scoreboard.go.
package observe

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Probe is one piece of observation. Sample is called on the Observer's clock with the tick's
// time; it returns a reading (nil when the probe only produces events), the events found since
// the last call, and an error when this sample failed (the Observer records it and goes on).
// Readings of the types of this package land in their Tick field; anything else is stored as
// JSON under the probe's name in Tick.Other.
type Probe interface {
	Name() string
	Sample(ctx context.Context, now time.Time) (any, []Event, error)
}

// Flusher is a probe that holds data back between samples (a log record that may continue)
// and hands it over when observation ends.
type Flusher interface {
	Flush(now time.Time) []Event
}

// Target describes one cell to observe. Every source is optional: the Observer runs a probe
// for each one that is set.
type Target struct {
	// Cell and Vhost label the timeline; Vhost also selects the broker's connections and
	// filters the shared broker log.
	Cell  string
	Vhost string
	// BrokerPort is the broker's AMQP port on 127.0.0.1, for the sockets probe.
	BrokerPort int
	// Interval between samples; 500 ms when zero. Above one second the timeline would miss
	// what the management API (1 s statistics) shows.
	Interval time.Duration

	// Connections lists the connections of Vhost: (*broker.Broker).Connections with Vhost
	// bound (see ConnectionLister).
	Connections ConnectionLister
	// PIDs lists the service's processes, re-read on every tick because Apache spawns and
	// reaps children (see ProcessTree).
	PIDs func() []int
	// BrokerLog is the broker's log file, read from its Offset (its size when the cell began).
	BrokerLog string
	// BrokerLogOffset is where this cell's part of the shared broker log begins.
	BrokerLogOffset int64
	// ClientLogs are the cell's Apache error log (FormatApache) and any app log.
	ClientLogs []LogFile
	// StatusURL is mod_status's machine-readable page, "http://127.0.0.1:PORT/server-status?auto".
	StatusURL string
	// SlotsPerProcess is ThreadsPerChild (== ThreadLimit) of a worker MPM, which mod_status does
	// not report; it lets the scoreboard probe count processes. Unused for prefork and event.
	SlotsPerProcess int
}

// Probes builds the standard probes for the sources t sets.
func (t Target) Probes() []Probe {
	var ps []Probe
	if t.Connections != nil {
		ps = append(ps, NewBrokerConnections(t.Vhost, t.Connections))
	}
	if t.PIDs != nil && t.BrokerPort > 0 {
		ps = append(ps, NewSockets(t.BrokerPort, t.PIDs))
	}
	if t.BrokerLog != "" {
		lt := NewLogTail("broker_log", LogFile{Path: t.BrokerLog, Source: "broker", Format: FormatRabbit, Offset: t.BrokerLogOffset})
		lt.Vhost = t.Vhost
		ps = append(ps, lt)
	}
	if len(t.ClientLogs) > 0 {
		ps = append(ps, NewLogTail("client_logs", t.ClientLogs...))
	}
	if t.StatusURL != "" {
		sb := NewScoreboard(t.StatusURL)
		sb.SlotsPerProcess = t.SlotsPerProcess
		ps = append(ps, sb)
	}
	return ps
}

// Timeline is everything observed of one cell.
//
// JSON:
//
//	{"cell": "prefork-embedded-green", "vhost": "cell-3", "broker_port": 45099,
//	 "interval_ms": 500,
//	 "start": "2026-11-26T11:43:47Z", "end": "2026-11-26T11:44:07Z",
//	 "probes": ["broker_connections", "sockets", "broker_log", "client_logs", "scoreboard"],
//	 "marks": [{"name": "warmup_end", "t": "..."}],       phase boundaries the runner noted (Mark)
//	 "ticks": [Tick, ...],                                 one per sample, in time order
//	 "events": [Event, ...]}                               matched log lines, in time order
type Timeline struct {
	Cell       string    `json:"cell,omitempty"`
	Vhost      string    `json:"vhost,omitempty"`
	BrokerPort int       `json:"broker_port,omitempty"`
	IntervalMS int64     `json:"interval_ms"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Probes     []string  `json:"probes"`
	Marks      []Mark    `json:"marks,omitempty"`
	Ticks      []Tick    `json:"ticks"`
	Events     []Event   `json:"events"`
}

// Mark is a named instant, e.g. a phase boundary.
type Mark struct {
	Name string    `json:"name"`
	T    time.Time `json:"t"`
}

// Tick is one round of samples.
//
// JSON:
//
//	{"t": "2026-11-26T11:43:48.5Z",
//	 "broker": BrokerReading,        the vhost's connections (management API), absent if the probe failed
//	 "sockets": SocketReading,       the service's sockets to the broker port (/proc)
//	 "scoreboard": Scoreboard,       Apache's mod_status
//	 "processes": ProcessReading,    the cell's processes (/proc)
//	 "access": AccessReading,        access-log lines appended since the last tick
//	 "other": {"probe name": ...},   readings of probes from outside this package
//	 "errors": {"probe name": "why this sample failed"}}
type Tick struct {
	T          time.Time                  `json:"t"`
	Broker     *BrokerReading             `json:"broker,omitempty"`
	Sockets    *SocketReading             `json:"sockets,omitempty"`
	Scoreboard *Scoreboard                `json:"scoreboard,omitempty"`
	Processes  *ProcessReading            `json:"processes,omitempty"`
	Access     *AccessReading             `json:"access,omitempty"`
	Other      map[string]json.RawMessage `json:"other,omitempty"`
	Errors     map[string]string          `json:"errors,omitempty"`
}

// Observer samples a set of probes on a clock into a Timeline.
type Observer struct {
	target   Target
	probes   []Probe
	interval time.Duration

	mu sync.Mutex
	tl Timeline
}

// New returns an Observer of target running probes; with no probes it runs target.Probes().
func New(target Target, probes ...Probe) *Observer {
	if len(probes) == 0 {
		probes = target.Probes()
	}
	iv := target.Interval
	if iv <= 0 {
		iv = 500 * time.Millisecond
	}
	names := make([]string, len(probes))
	for i, p := range probes {
		names[i] = p.Name()
	}
	return &Observer{
		target:   target,
		probes:   probes,
		interval: iv,
		tl: Timeline{
			Cell: target.Cell, Vhost: target.Vhost, BrokerPort: target.BrokerPort,
			IntervalMS: iv.Milliseconds(), Probes: names, Ticks: []Tick{}, Events: []Event{},
		},
	}
}

// Run samples every probe at once on each tick until ctx ends, then flushes the probes that
// hold data back. A slow probe is given at most two intervals (at least one second), so one
// hanging management API call delays a tick but does not stop the clock.
func (o *Observer) Run(ctx context.Context) error {
	o.mu.Lock()
	o.tl.Start = time.Now()
	o.mu.Unlock()
	tk := time.NewTicker(o.interval)
	defer tk.Stop()
	for {
		o.sample(ctx, time.Now())
		select {
		case <-ctx.Done():
		case <-tk.C:
		}
		// Both may be ready at once; a sample with an ended context would be an empty tick.
		if ctx.Err() != nil {
			o.finish()
			return nil
		}
	}
}

// Mark notes a named instant (a phase boundary) in the timeline.
func (o *Observer) Mark(name string, t time.Time) {
	o.mu.Lock()
	o.tl.Marks = append(o.tl.Marks, Mark{Name: name, T: t})
	o.mu.Unlock()
}

// Timeline returns a copy of what was observed so far (safe while Run goes on).
func (o *Observer) Timeline() Timeline {
	o.mu.Lock()
	defer o.mu.Unlock()
	tl := o.tl
	tl.Probes = append([]string(nil), o.tl.Probes...)
	tl.Marks = append([]Mark(nil), o.tl.Marks...)
	tl.Ticks = append([]Tick{}, o.tl.Ticks...)
	tl.Events = append([]Event{}, o.tl.Events...)
	return tl
}

type result struct {
	val    any
	events []Event
	err    error
}

func (o *Observer) sample(ctx context.Context, now time.Time) {
	timeout := 2 * o.interval
	if timeout < time.Second {
		timeout = time.Second
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	results := make([]result, len(o.probes))
	var wg sync.WaitGroup
	for i, p := range o.probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, ev, err := p.Sample(sctx, now)
			results[i] = result{v, ev, err}
		}()
	}
	wg.Wait()
	tick := Tick{T: now}
	var events []Event
	for i, r := range results {
		name := o.probes[i].Name()
		if r.err != nil {
			if ctx.Err() != nil {
				continue // the run ended during this sample: not the probe's fault
			}
			if tick.Errors == nil {
				tick.Errors = map[string]string{}
			}
			tick.Errors[name] = r.err.Error()
		}
		events = append(events, r.events...)
		if r.val != nil && !isNilPtr(r.val) {
			tick.put(name, r.val)
		}
	}
	o.mu.Lock()
	o.tl.Ticks = append(o.tl.Ticks, tick)
	o.tl.Events = insertEvents(o.tl.Events, events)
	o.mu.Unlock()
}

// put stores a reading in its typed field, or under the probe's name when the field is taken
// or the type is not one of this package's.
func (t *Tick) put(name string, v any) {
	switch r := v.(type) {
	case *BrokerReading:
		if t.Broker == nil {
			t.Broker = r
			return
		}
	case *SocketReading:
		if t.Sockets == nil {
			t.Sockets = r
			return
		}
	case *Scoreboard:
		if t.Scoreboard == nil {
			t.Scoreboard = r
			return
		}
	case *ProcessReading:
		if t.Processes == nil {
			t.Processes = r
			return
		}
	case *AccessReading:
		if t.Access == nil {
			t.Access = r
			return
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(fmt.Sprintf("unencodable reading: %v", err))
	}
	if t.Other == nil {
		t.Other = map[string]json.RawMessage{}
	}
	t.Other[name] = b
}

func isNilPtr(v any) bool {
	switch r := v.(type) {
	case *BrokerReading:
		return r == nil
	case *SocketReading:
		return r == nil
	case *Scoreboard:
		return r == nil
	case *ProcessReading:
		return r == nil
	case *AccessReading:
		return r == nil
	}
	return false
}

func (o *Observer) finish() {
	now := time.Now()
	var events []Event
	for _, p := range o.probes {
		if f, ok := p.(Flusher); ok {
			events = append(events, f.Flush(now)...)
		}
		if c, ok := p.(interface{ Close() error }); ok {
			c.Close()
		}
	}
	o.mu.Lock()
	o.tl.Events = insertEvents(o.tl.Events, events)
	o.tl.End = now
	o.mu.Unlock()
}

// insertEvents adds events keeping the list in time order (files are read at different
// moments, so a later poll may bring an earlier line).
func insertEvents(list, add []Event) []Event {
	for _, e := range add {
		i := len(list)
		for i > 0 && list[i-1].Time.After(e.Time) {
			i--
		}
		list = append(list, Event{})
		copy(list[i+1:], list[i:])
		list[i] = e
	}
	return list
}
