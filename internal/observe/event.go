package observe

import "time"

// Kind says what a matched log line means for a heartbeat verdict.
type Kind string

const (
	// KindDrop: the line says an AMQP connection was lost (the broker closed it for missed
	// heartbeats, the client saw a reset or found the server unreachable).
	KindDrop Kind = "drop"
	// KindReconnect: the client established a replacement connection.
	KindReconnect Kind = "reconnect"
	// KindError: another failure (the app did not load, a publish failed, the heartbeat
	// thread hit an unexpected error).
	KindError Kind = "error"
	// KindInfo: context (a connection was accepted, authenticated, closed normally; a
	// deprecation warning).
	KindInfo Kind = "info"
)

// Event is one log line (or one multi-line record: RabbitMQ 3.10 writes the two lines of a
// missed-heartbeats close with the same header) that matched a signature rule.
//
// JSON:
//
//	{"t": "2026-11-26T11:43:53.108995Z",   time parsed from the line; when the line has none, "observed"
//	 "observed": "2026-11-26T11:43:53.5Z", when the observer read it
//	 "source": "broker",                   "broker" | "apache" | "app": whose log
//	 "file": "/run/x/rabbit.log",          the file it was read from
//	 "rule": "missed_heartbeats",          signature rule name (see Rules)
//	 "kind": "drop",                       drop | reconnect | error | info
//	 "line": "2026-11-26 ... closing AMQP connection ...\n2026-11-26 ... missed heartbeats ...",
//	                                       verbatim, continuation lines joined with "\n"
//	 "fields": {...}}                      what could be parsed from the line (EventFields)
type Event struct {
	Time     time.Time   `json:"t"`
	Observed time.Time   `json:"observed"`
	Source   string      `json:"source"`
	File     string      `json:"file,omitempty"`
	Rule     string      `json:"rule"`
	Kind     Kind        `json:"kind"`
	Line     string      `json:"line"`
	Fields   EventFields `json:"fields,omitzero"`
}

// EventFields are the parts of a line a verdict joins on. Every field is optional: a line
// fills what it says.
type EventFields struct {
	// Level is the log level as written: "error" (RabbitMQ), "wsgi:error" (Apache module:level),
	// "ERROR" (Python logging).
	Level string `json:"level,omitempty"`
	// ErlangPID is the broker's connection process, e.g. "<0.961.0>"; the lines of one
	// connection share it, which is how a close is tied to the vhost it was granted.
	ErlangPID string `json:"erlang_pid,omitempty"`
	// Connection is the broker's name of the connection, "127.0.0.1:35534 -> 127.0.0.1:45099".
	Connection string `json:"connection,omitempty"`
	// ClientName is the client-provided connection name (kombu: "<argv0>:<pid>:<uuid>").
	ClientName string `json:"client_name,omitempty"`
	// ClientPort is the client's local TCP port of the connection: the broker's peer port, the
	// sockets probe's local port, and the port in oslo's "Reconnected ... client with port N".
	ClientPort int `json:"client_port,omitempty"`
	// Vhost is the connection's virtual host: written on normal closes, otherwise learnt from
	// the "granted access to vhost" line of the same Erlang process.
	Vhost string `json:"vhost,omitempty"`
	User  string `json:"user,omitempty"`
	// HeartbeatTimeout is the negotiated timeout the broker gave up after, in seconds.
	HeartbeatTimeout int `json:"heartbeat_timeout_s,omitempty"`
	// PID is the OS process a line is about: the one that wrote it ("[pid 123:tid 456]" in
	// Apache's log, the pid field of an app or gunicorn line), or the worker a server line names.
	PID int `json:"pid,omitempty"`
	// AMQPServer is the host:port the client talks about ("AMQP server on 127.0.0.1:5672").
	AMQPServer string `json:"amqp_server,omitempty"`
	// ConnectionID is oslo.messaging's connection id ("[e2310d0f-...]"), also the uuid at the
	// end of kombu's ClientName.
	ConnectionID string `json:"connection_id,omitempty"`
	// Script is the WSGI script mod_wsgi failed to load.
	Script string `json:"script,omitempty"`
	// Error is the error text the line carries (exception and message).
	Error string `json:"error,omitempty"`
	// Seconds is a duration the line states (the fake service's import time).
	Seconds float64 `json:"seconds,omitempty"`
}
