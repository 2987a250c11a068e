package heartbeat

import (
	"time"

	"wsgilab/internal/observe"
)

// What saw a connection go (Findings.DropSeenBy, and the sources of connKeys and loss).
const (
	bySockets           = "sockets"
	byBrokerConnections = "broker_connections"
	byBrokerLog         = "broker_log"
)

// conn is what the management API told of one client port.
type conn struct {
	// name is the client-provided name, when the API gave it: kombu keeps it across
	// reconnects, so it ties a replacement connection and a process (its PID) to a port.
	name      string
	heartbeat int
}

// view is one sample of one source: the connections alive, by client port, with the key that
// tells a connection from a later one on the same port.
type view struct {
	t     time.Time
	alive map[int]string
}

// connViews are the two views of the cell's connections over the whole timeline, and what is
// known of its client ports. Two views because neither is enough alone: /proc sees a close at
// once but knows no vhost, name or heartbeat; the management API knows them but lists a new
// connection up to a few seconds late (it drops a closed one at once).
type connViews struct {
	sockets []view // /proc, from every tick that sampled it
	broker  []view // management API, this vhost's connections
	// known is the last name and heartbeat the management API gave for each port, over the
	// whole timeline: a port it never listed is not here, so presence means the heartbeat
	// is known.
	known map[int]conn
	// ports are the cell's client ports, for attributing a broker line that names no vhost:
	// every /proc socket in any state (its connection may be closing when the line is
	// written) and every port the management API listed for this vhost.
	ports map[int]bool
}

// views reads the two views of the cell's connections from the timeline's ticks; vhost ""
// keeps every vhost's connections, and so does a connection with no vhost.
func views(tl observe.Timeline, vhost string) connViews {
	cv := connViews{known: map[int]conn{}, ports: map[int]bool{}}
	for _, tk := range tl.Ticks {
		if tk.Sockets != nil {
			vw := view{t: tk.T, alive: map[int]string{}}
			for _, s := range tk.Sockets.Sockets {
				cv.ports[s.LocalPort] = true
				if s.State == "ESTABLISHED" {
					vw.alive[s.LocalPort] = s.Key()
				}
			}
			cv.sockets = append(cv.sockets, vw)
		}
		if tk.Broker != nil {
			vw := view{t: tk.T, alive: map[int]string{}}
			for _, c := range tk.Broker.Connections {
				if !inVhost(c.Vhost, vhost) {
					continue
				}
				cv.ports[c.ClientPort] = true
				vw.alive[c.ClientPort] = c.Key()
				in := cv.known[c.ClientPort]
				if c.ClientName != "" {
					in.name = c.ClientName
				}
				in.heartbeat = c.Heartbeat
				cv.known[c.ClientPort] = in
			}
			cv.broker = append(cv.broker, vw)
		}
	}
	return cv
}

// inVhost says whether a management API connection may be the cell's: an API that gave no
// vhost (or a cell judged for every vhost) cannot tell, so it counts.
func inVhost(connVhost, vhost string) bool {
	return vhost == "" || connVhost == "" || connVhost == vhost
}

// connKeys are connections by client port, with the key each source ("sockets",
// "broker_connections") knew them by; a connection may be known to one source only.
type connKeys map[int]map[string]string

func (ck connKeys) add(port int, src, key string) {
	if ck[port] == nil {
		ck[port] = map[string]string{}
	}
	ck[port][src] = key
}

// aliveAtIdleStart are the connections alive when the idle began: the ones heartbeats alone
// had to keep up. /proc: the first sample in the idle (a connection the last warm-up request
// opened shows up there). Management API: every connection it listed during the idle that was
// connected by the warm-up end (its lag may hide one for the first seconds of the idle, and a
// connection opened during the idle is a replacement, not one that had to survive).
func aliveAtIdleStart(sockets []view, ticks []observe.Tick, vhost string, ph Phases) connKeys {
	start := connKeys{}
	for _, vw := range sockets {
		if !vw.t.Before(ph.WarmupEnd) && !vw.t.After(ph.ProbeStart) {
			for p, k := range vw.alive {
				start.add(p, bySockets, k)
			}
			break
		}
	}
	// From the ticks, not the views: a view keeps no connected_at.
	for _, tk := range ticks {
		if tk.Broker == nil || tk.T.Before(ph.WarmupEnd) || tk.T.After(ph.ProbeStart) {
			continue
		}
		for _, c := range tk.Broker.Connections {
			if inVhost(c.Vhost, vhost) && !c.ConnectedAt.After(ph.WarmupEnd) {
				start.add(c.ClientPort, byBrokerConnections, c.Key())
			}
		}
	}
	return start
}

// loss is when a connection was lost and which source saw it first.
type loss struct {
	at time.Time
	by string // sockets | broker_connections
}

// lossTimes says when each connection alive at the idle's start was lost, up to end (later
// closes are the teardown's): the earliest over the sources that knew it, /proc first on a
// tie since it is exact. A connection still alive at end is not in the result.
func lossTimes(start connKeys, cv connViews, end time.Time) map[int]loss {
	lost := map[int]loss{}
	for port, srcs := range start {
		for _, src := range []string{bySockets, byBrokerConnections} {
			key, ok := srcs[src]
			if !ok {
				continue
			}
			views := cv.sockets
			if src == byBrokerConnections {
				views = cv.broker
			}
			t, ok := lostIn(views, port, key, end)
			if !ok {
				continue
			}
			if old, ok := lost[port]; !ok || t.Before(old.at) {
				lost[port] = loss{at: t, by: src}
			}
		}
	}
	return lost
}

// lostIn is when one source lost the connection key on port: its first sample after the last
// one that still had it, up to end. The last, not the first missing: a source that briefly
// misses a connection it lists again has not lost it.
func lostIn(views []view, port int, key string, end time.Time) (time.Time, bool) {
	last := -1
	for i, vw := range views {
		if vw.t.After(end) {
			break
		}
		if vw.alive[port] == key {
			last = i
		}
	}
	if last >= 0 && last+1 < len(views) && !views[last+1].t.After(end) {
		return views[last+1].t, true
	}
	return time.Time{}, false
}

// aliveAtIdleEnd are the client ports alive when the probe began: what either source listed
// in its last sample by then, less the connections lost by then (the management API may still
// list one /proc has seen go). A replacement opened during the idle counts: the count is what
// the probe found, and reconnects are counted apart.
func aliveAtIdleEnd(cv connViews, lost map[int]loss, probeStart time.Time) map[int]bool {
	after := map[int]bool{}
	for _, views := range [][]view{cv.sockets, cv.broker} {
		if i := lastAtOrBefore(views, probeStart); i >= 0 {
			for p := range views[i].alive {
				after[p] = true
			}
		}
	}
	for p, l := range lost {
		if !l.at.After(probeStart) {
			delete(after, p)
		}
	}
	return after
}

// lastAtOrBefore is the index of the last view sampled at or before t, -1 if none was.
func lastAtOrBefore(views []view, t time.Time) int {
	i := -1
	for j, vw := range views {
		if vw.t.After(t) {
			break
		}
		i = j
	}
	return i
}

// negotiatedHeartbeat is the heartbeat of the connections that had to survive the idle, the
// shortest if they differ (the first to be missed); nil when the management API never listed
// any of them (only /proc saw them), since a heartbeat the broker did not report is unknown,
// not off.
func negotiatedHeartbeat(start connKeys, known map[int]conn) *int {
	var hb *int
	for port := range start {
		if c, ok := known[port]; ok && (hb == nil || c.heartbeat < *hb) {
			h := c.heartbeat
			hb = &h
		}
	}
	return hb
}
