package failover

import (
	"slices"
	"strings"
	"time"

	"wsgilab/internal/observe"
)

// Conn is one of the service's connections to the broker when the fault struck.
//
// JSON: {"client_port": 35534, "pids": [4242], "connection_id": "e2310d0f-...",
// "detect_s": 5.0, "detected_by": "amqp_unreachable"}
// connection_id is oslo.messaging's (the uuid of kombu's connection name, from the management
// API; "" when the API had not listed the connection yet); detect_s is the time from the
// fault's start to the client's first line that it lost the broker on this connection (null:
// it never said so).
type Conn struct {
	ClientPort   int      `json:"client_port"`
	PIDs         []int    `json:"pids"`
	ConnectionID string   `json:"connection_id,omitempty"`
	DetectS      *float64 `json:"detect_s"`
	DetectedBy   string   `json:"detected_by,omitempty"`

	// line is the line that timed DetectS (evidence.go shows it).
	line *observe.Event
}

// Detection is when the service noticed it had lost the broker.
//
// JSON: {"connections": 4, "detected": 4, "first_s": 0.1, "last_s": 10.8, "per_connection": [Conn, ...]}
// first_s and last_s are over the detected connections (null when none was).
type Detection struct {
	Connections   int      `json:"connections"`
	Detected      int      `json:"detected"`
	FirstS        *float64 `json:"first_s"`
	LastS         *float64 `json:"last_s"`
	PerConnection []Conn   `json:"per_connection"`
}

// Churn is what the fault did to the connections.
//
// JSON: {"broker_before": 7, "broker_min": 0, "broker_after": 7, "reconnects": 4,
// "conductor_reconnects": 1, "new_sockets": 4}
// broker_*: the vhost's connections in the management API (the conductor's included) at the
// last sample before the fault, the fewest while it lasted (-1: the API did not answer), and at
// the end; reconnects: the service's "Reconnected" lines; new_sockets: the service's sockets to
// the broker that opened after the fault began.
type Churn struct {
	BrokerBefore        int `json:"broker_before"`
	BrokerMin           int `json:"broker_min"`
	BrokerAfter         int `json:"broker_after"`
	Reconnects          int `json:"reconnects"`
	ConductorReconnects int `json:"conductor_reconnects"`
	NewSockets          int `json:"new_sockets"`
}

// Sources of the cell's log lines: the server's error log (with the app's stderr), the
// conductor's, the broker's.
const (
	sourceConductor = "conductor"
	sourceBroker    = "broker"
)

// lossRules are the client's lines that say it lost the broker: the driver's connection
// errors, its heartbeat thread's, a publish or consume that failed, a reset socket.
var lossRules = []string{"amqp_unreachable", "amqp_closed_connection", "heartbeat_recoverable_error",
	"heartbeat_thread_error", "heartbeat_thread_reset", "connection_failed", "publish_failed", "consume_failed",
	"connection_reset"}

// ruleReconnected is the driver's line for a replacement connection.
const ruleReconnected = "reconnected"

// serviceLine says the event is the service's own (the server's log), not the conductor's or
// the broker's.
func serviceLine(e observe.Event) bool {
	return e.Source != sourceConductor && e.Source != sourceBroker
}

// settled is how long before the fault the sample of its connections is taken: a sample is
// timed by its tick's start but its probes read a little later, and under load a sample just
// before a restart already misses the connections the node was closing.
const settled = time.Second

// connectionsAtFault are the service's established sockets to the broker at the last sample
// taken a second or more before the fault (/proc), each named by the management API's listing
// of that time (kombu's connection name ends with oslo's connection id).
func connectionsAtFault(tl observe.Timeline, faultStart time.Time) []Conn {
	var sockets *observe.SocketReading
	var listing *observe.BrokerReading
	for _, tk := range tl.Ticks {
		if tk.T.After(faultStart.Add(-settled)) {
			break
		}
		if tk.Sockets != nil {
			sockets = tk.Sockets
		}
		if tk.Broker != nil {
			listing = tk.Broker
		}
	}
	if sockets == nil {
		return nil
	}
	var out []Conn
	for _, s := range sockets.Sockets {
		if s.State != "ESTABLISHED" {
			continue
		}
		c := Conn{ClientPort: s.LocalPort, PIDs: s.PIDs}
		if listing != nil {
			for _, bc := range listing.Connections {
				if bc.ClientPort == s.LocalPort {
					c.ConnectionID = connectionID(bc.ClientName)
				}
			}
		}
		out = append(out, c)
	}
	return out
}

// connectionID is the uuid at the end of kombu's connection name ("argv0:pid:uuid"), which
// oslo.messaging prints as "[uuid]" in its lines.
func connectionID(clientName string) string {
	i := strings.LastIndexByte(clientName, ':')
	if i < 0 {
		return ""
	}
	return clientName[i+1:]
}

// detection finds, for each connection alive when the fault struck, the service's first line
// after it that says the broker was lost: a line naming the connection's id, or a line of its
// process that names no connection (the heartbeat thread's and ensure_connection's lines do
// not; every connection of a process is lost with the broker alike), up to the end of the
// traffic. A line a few ms before the fault's recorded start counts (faultSlack), as 0 s.
func detection(conns []Conn, events []observe.Event, ph Phases) Detection {
	d := Detection{Connections: len(conns), PerConnection: []Conn{}}
	for _, c := range conns {
		for _, e := range events {
			if !serviceLine(e) || !slices.Contains(lossRules, e.Rule) || e.Time.Before(ph.FaultStart.Add(-faultSlack)) ||
				(!ph.TrafficEnd.IsZero() && e.Time.After(ph.TrafficEnd)) {
				continue
			}
			named := e.Fields.ConnectionID != ""
			if named && e.Fields.ConnectionID != c.ConnectionID {
				continue
			}
			if !named && !slices.Contains(c.PIDs, e.Fields.PID) {
				continue
			}
			c.DetectS, c.DetectedBy = ptr(max(0, round2(e.Time.Sub(ph.FaultStart).Seconds()))), e.Rule
			c.line = &e
			break
		}
		if c.DetectS != nil {
			d.Detected++
			if d.FirstS == nil || *c.DetectS < *d.FirstS {
				d.FirstS = ptr(*c.DetectS)
			}
			if d.LastS == nil || *c.DetectS > *d.LastS {
				d.LastS = ptr(*c.DetectS)
			}
		}
		d.PerConnection = append(d.PerConnection, c)
	}
	return d
}

// churn counts the broker's connections around the fault, the reconnects, and the service's
// new sockets.
func churn(tl observe.Timeline, atFault []Conn, ph Phases) Churn {
	ch := Churn{BrokerMin: -1}
	known := map[int]bool{}
	for _, c := range atFault {
		known[c.ClientPort] = true
	}
	newSockets := map[string]bool{}
	for _, tk := range tl.Ticks {
		if tk.Broker != nil {
			switch {
			case tk.T.Before(ph.FaultStart):
				ch.BrokerBefore = tk.Broker.Count
			case !tk.T.After(ph.FaultEnd):
				if ch.BrokerMin < 0 || tk.Broker.Count < ch.BrokerMin {
					ch.BrokerMin = tk.Broker.Count
				}
			}
			if !ph.TrafficEnd.IsZero() && !tk.T.After(ph.TrafficEnd) {
				ch.BrokerAfter = tk.Broker.Count
			}
		}
		if tk.Sockets != nil && !tk.T.Before(ph.FaultStart) {
			for _, s := range tk.Sockets.Sockets {
				if s.State == "ESTABLISHED" && !known[s.LocalPort] {
					newSockets[s.Key()] = true
				}
			}
		}
	}
	ch.NewSockets = len(newSockets)
	for _, e := range tl.Events {
		if e.Rule != ruleReconnected || e.Time.Before(ph.FaultStart) {
			continue
		}
		if serviceLine(e) {
			ch.Reconnects++
		} else if e.Source == sourceConductor {
			ch.ConductorReconnects++
		}
	}
	return ch
}

func round2(x float64) float64 { return float64(int64(x*100+0.5*sign(x))) / 100 }

func sign(x float64) float64 {
	if x < 0 {
		return -1
	}
	return 1
}
