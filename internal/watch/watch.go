// Package watch is a live, read-only view of a running deployment's AMQP connections: the
// service's processes (found by the kombu names of their connections, "<argv0>:<pid>:<uuid>"),
// each one's connections as the kernel sees them (/proc sockets) joined by port to the
// broker's view (management API: state, heartbeat negotiated, channels, bytes, hence the time
// since the broker last heard from it), connection churn, and the broker's heartbeat closes
// from its log as they are written. It is the write-ups' `ss -tnp | grep 5672 | wc -l` and nine
// minutes of the RabbitMQ dashboard, on one screen.
//
// Every reader is internal/observe's (Sockets, BrokerConnections, LogTail with the signature
// rules); the broker is a broker.Monitor. Nothing here writes anywhere: the management API is
// only read (GET), /proc and the log only read.
package watch

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"

	"wsgilab/internal/broker"
	"wsgilab/internal/observe"
)

// Config is what to watch.
type Config struct {
	// Connections lists the broker's connections (every vhost's): (*broker.Broker).Connections
	// with vhost "".
	Connections observe.ConnectionLister
	// Match keeps the connections whose kombu name's program (argv0) contains one of these
	// ("mod_wsgi", "uwsgi", "gunicorn", "nova-api"); empty keeps every connection with a
	// kombu name.
	Match []string
	// BrokerLog is the broker's log file ("" to do without): read from its end at Start.
	BrokerLog string
}

// Watcher samples the deployment; one Sample per tick.
type Watcher struct {
	cfg     Config
	fs      procfs.FS
	started time.Time
	logs    *observe.LogTail

	pids      map[int]bool                 // every service process seen, kept while alive
	conns     map[string]broker.Connection // the last sample's matched connections, by key
	lastBytes map[string]connBytes
	amqpPorts map[int]bool
	opened    int
	closed    int
	closes    int
}

type connBytes struct {
	recv    uint64
	changed time.Time // when recv_oct last changed; zero until a change is seen
}

// New prepares a Watcher; the broker log is read from its current end.
func New(cfg Config) (*Watcher, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return nil, err
	}
	w := &Watcher{cfg: cfg, fs: fs, started: time.Now(), pids: map[int]bool{}, conns: map[string]broker.Connection{},
		lastBytes: map[string]connBytes{}, amqpPorts: map[int]bool{}}
	if cfg.BrokerLog != "" {
		st, err := os.Stat(cfg.BrokerLog)
		if err != nil {
			return nil, fmt.Errorf("--broker-log: %w", err)
		}
		w.logs = observe.NewLogTail("broker_log", observe.LogFile{Path: cfg.BrokerLog, Source: "broker",
			Format: observe.FormatRabbit, Offset: st.Size()})
	}
	return w, nil
}

// Close releases the broker log.
func (w *Watcher) Close() error {
	if w.logs != nil {
		return w.logs.Close()
	}
	return nil
}

// Sample is one look at the deployment.
//
// JSON (one line per sample with --json):
//
//	{"t": "2026-12-02T04:50:01.5Z",
//	 "connections": 4,                 the service's connections the broker lists
//	 "opened": 1, "closed": 0,         since the previous sample (a connection is its client port and connected_at)
//	 "opened_total": 7, "closed_total": 3, "heartbeat_closes_total": 3,   since watch started
//	 "processes": [Process, ...],      by PID
//	 "closes": [Close, ...],           broker log lines read since the previous sample
//	 "errors": {"management_api": "...", "broker_log": "...", "sockets": "..."}}
type Sample struct {
	T            time.Time         `json:"t"`
	Connections  int               `json:"connections"`
	Opened       int               `json:"opened"`
	Closed       int               `json:"closed"`
	OpenedTotal  int               `json:"opened_total"`
	ClosedTotal  int               `json:"closed_total"`
	ClosesTotal  int               `json:"heartbeat_closes_total"`
	Processes    []Process         `json:"processes"`
	Closes       []Close           `json:"closes"`
	Errors       map[string]string `json:"errors,omitempty"`
	sinceStarted time.Duration
}

// Process is one process of the service.
//
// JSON: {"pid": 4653, "server": "mod_wsgi daemon (wsgi:nova-api)", "started": "...", "age_s": 123.4,
// "alive": true, "connections": [Connection, ...]}
type Process struct {
	PID         int          `json:"pid"`
	Server      string       `json:"server"`
	Started     time.Time    `json:"started,omitzero"`
	AgeS        float64      `json:"age_s,omitempty"`
	Alive       bool         `json:"alive"`
	Connections []Connection `json:"connections"`
}

// Connection is one AMQP connection of a process: the kernel's socket joined with the broker's
// connection on the client port. Either side may be missing: a socket the broker has closed
// and the client has not noticed yet (CLOSE_WAIT, no broker side), a connection the broker
// lists whose process is on another host (no socket).
//
// JSON: {"client_port": 35534, "name": "mod_wsgi:4653:b49d...", "vhost": "/", "socket": "ESTABLISHED",
// "broker_state": "running", "heartbeat_s": 60, "channels": 1, "connected_at": "...",
// "last_traffic_s": 1.5, "last_traffic_at_least": false}
type Connection struct {
	ClientPort  int       `json:"client_port"`
	Name        string    `json:"name,omitempty"`
	Vhost       string    `json:"vhost,omitempty"`
	Socket      string    `json:"socket,omitempty"`
	BrokerState string    `json:"broker_state,omitempty"`
	Heartbeat   int       `json:"heartbeat_s"`
	Channels    int       `json:"channels"`
	ConnectedAt time.Time `json:"connected_at,omitzero"`
	// LastTrafficS is how long the broker has received nothing on it (heartbeats count), from
	// its byte counter; the management API refreshes it every collect_statistics_interval (5 s
	// by default). Until the counter has changed while watched, it is the time since watch
	// started (or since the connection opened) and LastTrafficAtLeast is true.
	LastTrafficS       float64 `json:"last_traffic_s"`
	LastTrafficAtLeast bool    `json:"last_traffic_at_least,omitempty"`
}

// Close is a broker log line about closing one of the service's connections.
//
// JSON: {"t": "...", "rule": "missed_heartbeats", "client_port": 45410, "name": "mod_wsgi:22415:...",
// "pid": 22415, "vhost": "...", "heartbeat_timeout_s": 3, "line": "..."}
type Close struct {
	T                time.Time `json:"t"`
	Rule             string    `json:"rule"`
	ClientPort       int       `json:"client_port,omitempty"`
	Name             string    `json:"name,omitempty"`
	PID              int       `json:"pid,omitempty"`
	Vhost            string    `json:"vhost,omitempty"`
	HeartbeatTimeout int       `json:"heartbeat_timeout_s,omitempty"`
	Line             string    `json:"line"`
}

// matches says a kombu connection name is the service's.
func (w *Watcher) matches(name string) bool {
	if broker.KombuPID(name) == 0 {
		return false
	}
	if len(w.cfg.Match) == 0 {
		return true
	}
	prog := name[:strings.LastIndexByte(name[:strings.LastIndexByte(name, ':')], ':')]
	for _, m := range w.cfg.Match {
		if strings.Contains(prog, m) {
			return true
		}
	}
	return false
}

// Sample takes one look: the broker's connections, the processes they name and their sockets,
// and the broker log's new lines.
func (w *Watcher) Sample(ctx context.Context, now time.Time) Sample {
	s := Sample{T: now, Processes: []Process{}, Closes: []Close{}, Errors: map[string]string{}}
	byPID := map[int][]Connection{}
	current := map[string]broker.Connection{}
	reading, _, err := observe.NewBrokerConnections("", w.cfg.Connections).Sample(ctx, now)
	if err != nil {
		s.Errors["management_api"] = err.Error()
		current = w.conns // nothing is known to have changed
	} else {
		for _, c := range reading.(*observe.BrokerReading).Connections {
			if !w.matches(c.ClientName) {
				continue
			}
			current[c.Key()] = c
			if p := listenerPort(c.Name); p > 0 {
				w.amqpPorts[p] = true
			}
		}
		for k := range current {
			if _, ok := w.conns[k]; !ok {
				s.Opened++
			}
		}
		for k := range w.conns {
			if _, ok := current[k]; !ok {
				s.Closed++
				delete(w.lastBytes, k)
			}
		}
		w.conns = current
	}
	w.opened += s.Opened
	w.closed += s.Closed

	byPort := map[int]broker.Connection{}
	for k, c := range current {
		w.pids[c.ClientPID()] = true
		byPort[c.ClientPort] = c
		lb, seen := w.lastBytes[k]
		if !seen {
			lb = connBytes{recv: c.RecvOct}
		} else if c.RecvOct != lb.recv {
			lb = connBytes{recv: c.RecvOct, changed: now}
		}
		w.lastBytes[k] = lb
	}

	// The processes' sockets to the broker's AMQP port(s), from /proc.
	pids := w.livePIDs()
	sockets := map[int]observe.Socket{}
	for port := range w.amqpPorts {
		r, _, err := observe.NewSockets(port, func() []int { return pids }).Sample(ctx, now)
		if err != nil {
			s.Errors["sockets"] = err.Error()
			continue
		}
		for _, sk := range r.(*observe.SocketReading).Sockets {
			sockets[sk.LocalPort] = sk
		}
	}
	for port, sk := range sockets {
		c, ok := byPort[port]
		conn := Connection{ClientPort: port, Socket: sk.State}
		if ok {
			conn = w.connection(c, now)
			conn.Socket = sk.State
		}
		for _, pid := range sk.PIDs {
			if w.pids[pid] {
				byPID[pid] = append(byPID[pid], conn)
			}
		}
	}
	for port, c := range byPort {
		if _, ok := sockets[port]; !ok {
			byPID[c.ClientPID()] = append(byPID[c.ClientPID()], w.connection(c, now))
		}
	}
	s.Connections = len(current)

	for pid := range w.pids {
		p := w.process(pid, now)
		if !p.Alive && len(byPID[pid]) == 0 {
			delete(w.pids, pid) // gone, and nothing of it left to show
			continue
		}
		p.Connections = byPID[pid]
		if p.Connections == nil {
			p.Connections = []Connection{}
		}
		sort.Slice(p.Connections, func(i, j int) bool { return p.Connections[i].ClientPort < p.Connections[j].ClientPort })
		s.Processes = append(s.Processes, p)
	}
	sort.Slice(s.Processes, func(i, j int) bool { return s.Processes[i].PID < s.Processes[j].PID })

	if w.logs != nil {
		_, events, err := w.logs.Sample(ctx, now)
		if err != nil {
			s.Errors["broker_log"] = err.Error()
		}
		for _, e := range events {
			if cl, ok := w.close(e); ok {
				s.Closes = append(s.Closes, cl)
			}
		}
	}
	s.OpenedTotal, s.ClosedTotal, s.ClosesTotal = w.opened, w.closed, w.closes
	s.sinceStarted = now.Sub(w.started)
	if len(s.Errors) == 0 {
		s.Errors = nil
	}
	return s
}

// close turns a broker log event into a Close when it is a close of one of the service's
// connections (by its kombu name, or its port among those watched).
func (w *Watcher) close(e observe.Event) (Close, bool) {
	if e.Kind != observe.KindDrop && e.Rule != "connection_closed" {
		return Close{}, false
	}
	f := e.Fields
	if f.ClientName != "" && !w.matches(f.ClientName) {
		return Close{}, false
	}
	if f.ClientName == "" {
		known := false
		for _, c := range w.conns {
			known = known || c.ClientPort == f.ClientPort
		}
		if !known {
			return Close{}, false
		}
	}
	if e.Rule == "missed_heartbeats" {
		w.closes++
	}
	return Close{T: e.Time, Rule: e.Rule, ClientPort: f.ClientPort, Name: f.ClientName, PID: broker.KombuPID(f.ClientName),
		Vhost: f.Vhost, HeartbeatTimeout: f.HeartbeatTimeout, Line: e.Line}, true
}

func (w *Watcher) connection(c broker.Connection, now time.Time) Connection {
	conn := Connection{ClientPort: c.ClientPort, Name: c.ClientName, Vhost: c.Vhost, BrokerState: c.State,
		Heartbeat: c.Heartbeat, Channels: c.Channels, ConnectedAt: c.ConnectedAt}
	lb := w.lastBytes[c.Key()]
	if !lb.changed.IsZero() {
		conn.LastTrafficS = now.Sub(lb.changed).Seconds()
	} else {
		since := w.started
		if c.ConnectedAt.After(since) {
			since = c.ConnectedAt
		}
		conn.LastTrafficS, conn.LastTrafficAtLeast = max(0, now.Sub(since).Seconds()), true
	}
	return conn
}

func (w *Watcher) livePIDs() []int {
	var out []int
	for pid := range w.pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			out = append(out, pid)
		}
	}
	sort.Ints(out)
	return out
}

// process describes a PID from /proc: what server process it is and since when.
func (w *Watcher) process(pid int, now time.Time) Process {
	p := Process{PID: pid, Server: "?"}
	proc, err := w.fs.Proc(pid)
	if err != nil {
		return p
	}
	st, err := proc.Stat()
	if err != nil {
		return p
	}
	p.Alive = st.State != "Z"
	if start, err := st.StartTime(); err == nil {
		p.Started = time.Unix(0, int64(start*1e9))
		p.AgeS = now.Sub(p.Started).Seconds()
	}
	cmdline, _ := proc.CmdLine()
	p.Server = serverOf(st.Comm, cmdline)
	return p
}

// serverOf names a process from its command: a mod_wsgi daemon shows its display-name
// ("(wsgi:nova-api)"), gunicorn and uWSGI workers their titles, Apache's children its binary.
func serverOf(comm string, cmdline []string) string {
	first := ""
	if len(cmdline) > 0 {
		first = strings.TrimSpace(cmdline[0]) // mod_wsgi pads a display-name
	}
	joined := strings.TrimSpace(strings.Join(cmdline, " "))
	switch {
	case strings.HasPrefix(first, "(wsgi:"):
		return "mod_wsgi daemon " + first
	case strings.Contains(first, "apache2") || strings.Contains(first, "httpd"):
		return "apache2 (mod_wsgi)"
	case strings.Contains(joined, "gunicorn"):
		if strings.HasPrefix(joined, "gunicorn: ") {
			return joined
		}
		return "gunicorn worker"
	case comm == "uwsgi" || strings.Contains(first, "uwsgi"):
		return "uwsgi worker"
	}
	if first == "" {
		return comm
	}
	return first
}

// listenerPort is the broker's port in a connection's name, "127.0.0.1:35534 -> 127.0.0.1:5672".
func listenerPort(name string) int {
	_, to, ok := strings.Cut(name, " -> ")
	if !ok {
		return 0
	}
	i := strings.LastIndexByte(to, ':')
	if i < 0 {
		return 0
	}
	p, _ := strconv.Atoi(to[i+1:])
	return p
}

// Run samples every interval until ctx ends (or count samples, when count > 0) and hands each
// sample to emit; it stops early when emit fails (a closed pipe).
func (w *Watcher) Run(ctx context.Context, interval time.Duration, count int, emit func(Sample) error) error {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for n := 0; count <= 0 || n < count; n++ {
		if n > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-tk.C:
			}
		}
		if err := emit(w.Sample(ctx, time.Now())); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}
