package heartbeat

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"wsgilab/internal/broker"
	"wsgilab/internal/observe"
)

// Broker log rules the verdict reads: how the broker says a connection closed.
const (
	ruleMissedHeartbeats = "missed_heartbeats" // it gave up on the client's heartbeats
	ruleClientClosedTCP  = "client_closed_tcp" // the client's side closed without an AMQP close
	ruleConnectionClosed = "connection_closed" // a normal AMQP close by the client
)

// brokerLines are the broker's close lines of this cell.
type brokerLines struct {
	missed    []observe.Event   // "missed heartbeats from client" closes, in log order
	closeRule map[int]string    // client port -> the rule of its last close line
	closedAt  map[int]time.Time // client port -> its first "client unexpectedly closed TCP" line
}

// firstMissedTimeout is the heartbeat timeout the broker gave up after on its earliest
// missed-heartbeats close (0 if the line does not say).
func (b brokerLines) firstMissedTimeout() int {
	var first time.Time
	timeout := 0
	for _, e := range b.missed {
		if first.IsZero() || e.Time.Before(first) {
			first, timeout = e.Time, e.Fields.HeartbeatTimeout
		}
	}
	return timeout
}

// clientLines are what the client's own log says of its connections.
type clientLines struct {
	drops  int // lines of kind drop: the client saw a connection fail
	errors int // lines of kind drop or error (Findings.ClientErrors)
	// reconnects are the Reconnected lines, one key each: "port N" when the line names the new
	// connection's port (so that the same connection seen as a replacement counts once),
	// otherwise "line I".
	reconnects map[string]bool
}

// logLines are the log lines of the idle and the probe (after the warm-up end, up to the end),
// classified.
type logLines struct {
	broker   brokerLines
	client   clientLines
	evidence []observe.Event // the lines that are not informational, in log order
}

// classifyLogLines reads the log lines of the idle and the probe. Broker lines count only when
// they are this cell's (by vhost, else by one of cellPorts: the broker is shared by the cells of
// a run); every other source is the cell's own client.
func classifyLogLines(events []observe.Event, ph Phases, vhost string, cellPorts map[int]bool) logLines {
	ll := logLines{
		broker: brokerLines{closeRule: map[int]string{}, closedAt: map[int]time.Time{}},
		client: clientLines{reconnects: map[string]bool{}},
	}
	for i, e := range events {
		if !e.Time.After(ph.WarmupEnd) || e.Time.After(ph.End) {
			continue
		}
		if e.Source == "broker" {
			if !attributed(e, vhost, cellPorts) {
				continue
			}
			switch e.Rule {
			case ruleMissedHeartbeats:
				ll.broker.missed = append(ll.broker.missed, e)
				ll.broker.closeRule[e.Fields.ClientPort] = e.Rule
			case ruleClientClosedTCP:
				ll.broker.closeRule[e.Fields.ClientPort] = e.Rule
				if _, ok := ll.broker.closedAt[e.Fields.ClientPort]; !ok {
					ll.broker.closedAt[e.Fields.ClientPort] = e.Time
				}
			case ruleConnectionClosed:
				ll.broker.closeRule[e.Fields.ClientPort] = e.Rule
			}
		} else {
			switch e.Kind {
			case observe.KindDrop:
				ll.client.drops++
				ll.client.errors++
			case observe.KindError:
				ll.client.errors++
			case observe.KindReconnect:
				if e.Fields.ClientPort != 0 {
					ll.client.reconnects[fmt.Sprintf("port %d", e.Fields.ClientPort)] = true
				} else {
					ll.client.reconnects[fmt.Sprintf("line %d", i)] = true
				}
			}
		}
		if e.Kind != observe.KindInfo {
			ll.evidence = append(ll.evidence, e)
		}
	}
	return ll
}

// attributed says whether a broker line belongs to this cell: by its vhost when the line (or an
// earlier line of the same connection) named one, otherwise by a client port of the cell.
func attributed(e observe.Event, vhost string, cellPorts map[int]bool) bool {
	if e.Fields.Vhost != "" {
		return vhost == "" || e.Fields.Vhost == vhost
	}
	return e.Fields.ClientPort != 0 && cellPorts[e.Fields.ClientPort]
}

// drops are the cell's dropped connections, and its lost connections by how they closed.
type drops struct {
	ports map[int]bool // client ports of the dropped connections
	// count is Findings.DroppedConns: the ports, plus the missed-heartbeats closes that name
	// no port (each is a connection, just not one we can tell).
	count int
	// How the lost connections closed, for the reason: from the client's side (a process
	// exit), with no close line at all (a silent cut), normally (not drops). One the broker
	// closed for missed heartbeats is none of these: the reason counts those lines.
	byClient, vanished, normal int
}

// droppedConnections tells drops among the lost connections by how the broker says they
// closed: a normal AMQP close is the client's own doing, not a drop. A missed-heartbeats close
// is a drop even when neither source saw its connection go (the management API may list a
// connection late, and /proc may not hold it).
func droppedConnections(lost map[int]loss, b brokerLines) drops {
	d := drops{ports: map[int]bool{}}
	for port := range lost {
		switch b.closeRule[port] {
		case ruleConnectionClosed:
			d.normal++
			continue
		case ruleClientClosedTCP:
			d.byClient++
		case ruleMissedHeartbeats:
			// a drop, told in the reason by its broker line
		default:
			d.vanished++
		}
		d.ports[port] = true
	}
	missedPorts := map[int]bool{}
	for _, e := range b.missed {
		if e.Fields.ClientPort != 0 {
			missedPorts[e.Fields.ClientPort] = true
		}
	}
	for p := range missedPorts {
		d.ports[p] = true
	}
	d.count = len(d.ports)
	if n := len(b.missed) - len(missedPorts); n > 0 {
		d.count += n
	}
	return d
}

// reconnects counts the client's reconnections: its Reconnected lines (logged) and the
// connections that replaced a dropped one. A replacement is told by its name, which kombu
// keeps across reconnects ("<argv0>:<pid>:<uuid>"): a connection under a dropped one's name
// that was not alive when the idle began. It is how a reconnect shows when the client logs
// none (oslo's heartbeat thread reconnects without a Reconnected line).
func reconnects(logged map[string]bool, dropped map[int]bool, known map[int]conn, start connKeys) int {
	seen := map[string]bool{}
	for k := range logged {
		seen[k] = true
	}
	lostNames := map[string]bool{}
	for p := range dropped {
		if c, ok := known[p]; ok && c.name != "" {
			lostNames[c.name] = true
		}
	}
	for p, c := range known {
		if _, old := start[p]; !old && c.name != "" && lostNames[c.name] {
			seen[fmt.Sprintf("port %d", p)] = true
		}
	}
	return len(seen)
}

// timeToDrop is how long the connections lasted without traffic: from the warm-up end to the
// earliest sign of a drop, and what saw it (broker_log, sockets, broker_connections): the
// broker's missed-heartbeats or client-closed line, else the connection vanishing from /proc
// or the management API. Only the connections of the processes the warm-up reached count
// (Observations.WarmPIDs, matched to kombu's name); a connection whose process is unknown
// counts. Nil and "" without a drop.
func timeToDrop(warmupEnd time.Time, warmPIDs []int, b brokerLines, dropped map[int]bool, lost map[int]loss, known map[int]conn) (*float64, string) {
	warm := warmProcesses(warmPIDs)
	var at time.Time
	var by string
	for _, e := range b.missed {
		if warm(e.Fields.ClientName) && (at.IsZero() || e.Time.Before(at)) {
			at, by = e.Time, byBrokerLog
		}
	}
	// In port order: on a tie the first port's source names the drop, the same every time.
	for _, p := range slices.Sorted(maps.Keys(dropped)) {
		if c, ok := known[p]; ok && !warm(c.name) {
			continue
		}
		if t, ok := b.closedAt[p]; ok && (at.IsZero() || t.Before(at)) {
			at, by = t, byBrokerLog
		}
		if l, ok := lost[p]; ok && (at.IsZero() || l.at.Before(at)) {
			at, by = l.at, l.by
		}
	}
	if at.IsZero() {
		return nil, ""
	}
	s := math.Round(at.Sub(warmupEnd).Seconds()*1000) / 1000
	return &s, by
}

// warmProcesses says whether a connection, by its kombu name, belongs to a process the warm-up
// reached. A name without a PID, or no list of such processes, cannot rule one out.
func warmProcesses(pids []int) func(kombuName string) bool {
	warm := map[int]bool{}
	for _, pid := range pids {
		warm[pid] = true
	}
	return func(name string) bool {
		pid := broker.KombuPID(name)
		return len(warm) == 0 || pid == 0 || warm[pid]
	}
}
