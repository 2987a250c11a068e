package observe

import (
	"regexp"
	"strconv"
)

// Side says whose log a rule reads: the broker's (shared by every cell of a run) or the
// client's (the cell's own Apache error log and app logs).
type Side string

const (
	SideBroker Side = "broker"
	SideClient Side = "client"
)

// Rule is one log signature. Pattern runs on the message of a line, after the format's
// header (timestamp, level, pid) has been taken off; for RabbitMQ's multi-line records the
// messages of the record are joined with "\n". Named groups fill EventFields:
// timeout, vhost, user, server, client_port, connection_id, script, error.
// The first rule of a side that matches a line wins, so specific rules come first.
type Rule struct {
	Name    string
	Side    Side
	Kind    Kind
	Pattern *regexp.Regexp
	// Why says where the line comes from and what it means, for people reading the table.
	Why string
}

// connID is oslo.messaging's "[<connection id>] " prefix on its connection messages.
const connID = `(?:\[(?P<connection_id>[0-9a-f-]{6,})\] )?`

// Rules is the signature table. The broker lines are the real RabbitMQ 3.10.8 formats
// (rabbit_reader.erl; testdata/rabbit-3.10.8.log was written by a real node), the client lines
// the oslo.messaging impl_rabbit.py messages of 14.0.3 (Debian 12) and of the 2019 releases
// the write-ups grepped (the "heartbeart" typo), and mod_wsgi 4.9 / Apache 2.4 messages.
var Rules = []Rule{
	// --- broker ---
	{"missed_heartbeats", SideBroker, KindDrop,
		regexp.MustCompile(`missed heartbeats from client, timeout: (?P<timeout>\d+)s`),
		"rabbit_reader: the broker heard nothing from the client for 2-3 heartbeat intervals and closed the connection; " +
			"3.10 writes it as two lines, \"closing AMQP connection <pid> (peer -> local - name):\" + this one, with no vhost"},
	{"client_closed_tcp", SideBroker, KindDrop,
		regexp.MustCompile(`client unexpectedly closed TCP connection`),
		"the client side closed the socket without an AMQP close: its process exited (Apache reaped or killed a child) or it reset the connection"},
	{"broker_connection_error", SideBroker, KindError,
		regexp.MustCompile(`(?s)^Error on AMQP connection (?P<error>.*)`),
		"the broker failed a connection (handshake timeout, socket error)"},
	{"connection_closed", SideBroker, KindInfo,
		regexp.MustCompile(`^closing AMQP connection <[^>]*> \(.*, vhost: '(?P<vhost>[^']*)', user: '(?P<user>[^']*)'\)`),
		"normal close by the client (connection.close)"},
	{"connection_granted", SideBroker, KindInfo,
		regexp.MustCompile(`user '(?P<user>[^']*)' authenticated and granted access to vhost '(?P<vhost>[^']*)'`),
		"the connection is open in a vhost: ties the Erlang pid (and peer port) to the vhost for later lines. " +
			"(The \"accepting AMQP connection\" line before it is read for the same purpose but is no event: " +
			"it does not name the vhost yet, so a shared log would put every cell's accepts in every timeline.)"},

	// --- client: oslo.messaging ---
	{"heartbeat_thread_reset", SideClient, KindDrop,
		regexp.MustCompile(`Unexpected error during heartbea(?:r)?t thread processing, retrying\.\.\.:\s*(?P<error>.*(?:ConnectionResetError|Connection reset by peer|BrokenPipeError|Broken pipe).*)`),
		"impl_rabbit heartbeat thread, 2019 releases: the line the write-ups grepped (\"heartbeart\" typo), the broker had closed the connection"},
	{"heartbeat_thread_error", SideClient, KindError,
		regexp.MustCompile(`Unexpected error during heartbea(?:r)?t thread processing, retrying\.\.\.(?::\s*(?P<error>.+))?`),
		"impl_rabbit heartbeat thread: 2019 releases spelled it \"heartbeart\" and appended the exception (the write-ups' grep); 14.x logs it without"},
	{"heartbeat_recoverable_error", SideClient, KindDrop,
		regexp.MustCompile(`A recoverable connection/channel error occurred, trying to reconnect: (?P<error>.*)`),
		"impl_rabbit heartbeat thread noticed the connection is gone and reconnects (e.g. \"Too many heartbeats missed\")"},
	{"amqp_unreachable", SideClient, KindDrop,
		regexp.MustCompile(connID + `AMQP server on (?P<server>\S+) is unreachable: (?P<error>.*?)\. Trying again in`),
		"impl_rabbit ensure(): the next use of a dropped connection failed (14.x: \"[Errno 104] Connection reset by peer\")"},
	{"amqp_closed_connection", SideClient, KindError,
		regexp.MustCompile(connID + `AMQP server (?P<server>\S+) closed the connection\. Check login credentials: (?P<error>.*)`),
		"impl_rabbit: the broker refused the connection (credentials, vhost permissions)"},
	{"reconnected", SideClient, KindReconnect,
		regexp.MustCompile(connID + `Reconnected to AMQP server on (?P<server>\S+) via \[\w+\] client with port (?P<client_port>\d+)`),
		"impl_rabbit: a replacement connection is up; its client port is the broker's peer port of the new connection"},
	{"connection_failed", SideClient, KindError,
		regexp.MustCompile(`Connection failed: (?P<error>.*) \(retrying in [\d.]+ seconds\)`),
		"impl_rabbit ensure_connection(): could not connect to the broker"},
	{"publish_failed", SideClient, KindError,
		regexp.MustCompile(`Failed to publish message to topic '[^']*': (?P<error>.*)`),
		"impl_rabbit: a cast/call could not be sent"},
	{"consume_failed", SideClient, KindError,
		regexp.MustCompile(`Failed to consume message from queue: (?P<error>.*)`),
		"impl_rabbit: a consumer (RPC reply queue) lost its connection"},
	{"messaging_timeout", SideClient, KindError,
		regexp.MustCompile(`MessagingTimeout: Timed out waiting for a reply to message ID (?P<error>\w+)`),
		"oslo.messaging: an RPC call got no reply within its timeout (the last line of the app's traceback; " +
			"seed 002's failure pattern: \"Timed out waiting for a reply\" everywhere)"},
	{"discarded_unacknowledged", SideClient, KindError,
		regexp.MustCompile(`Discarding RPC request due to failed acknowledge: (?P<error>.*)`),
		"oslo.messaging's RPC server (the conductor) acknowledges a message before it runs it; when the ack fails " +
			"(the connection is gone) it drops the message unprocessed, and a transient queue the broker lost with it " +
			"will not redeliver it: a cast the service was told was sent, lost"},
	{"duplicate_message", SideClient, KindError,
		regexp.MustCompile(`ignoring duplicate message (?P<error>\S+)`),
		"oslo.messaging's RPC server (the conductor) got a message whose unique id it had just processed: " +
			"a redelivery after a lost acknowledgement, dropped by the driver's own duplicate check"},
	{"process_forked_after_connection", SideClient, KindError,
		regexp.MustCompile(`Process forked after connection established!`),
		"impl_rabbit: a connection opened before fork is shared by children (preloading the app in the Apache parent)"},
	{"heartbeat_unsupported", SideClient, KindInfo,
		regexp.MustCompile(`Heartbeat support requested but it is not supported by the kombu driver or the broker`),
		"impl_rabbit: no heartbeat thread will run"},
	{"heartbeat_in_pthread_deprecated", SideClient, KindInfo,
		regexp.MustCompile(`Option "heartbeat_in_pthread" from group "oslo_messaging_rabbit" is deprecated`),
		"oslo.config deprecation warning of releases that deprecate heartbeat_in_pthread (2024.2 on)"},

	// --- client: mod_wsgi and Apache ---
	{"wsgi_script_failed", SideClient, KindError,
		regexp.MustCompile(`Failed to exec Python script file '(?P<script>[^']+)'`),
		"mod_wsgi: the app raised while being imported; the exception is the last traceback line that follows"},
	{"wsgi_no_application", SideClient, KindError,
		regexp.MustCompile(`Target WSGI script '(?P<script>[^']+)' does not contain WSGI application`),
		"mod_wsgi: the script loaded but defines no application callable"},
	{"wsgi_daemon_unreachable", SideClient, KindError,
		regexp.MustCompile(`Unable to connect to WSGI daemon process '(?P<error>[^']+)'`),
		"mod_wsgi: the daemon process is not there (crashed, restarting, backlog full)"},
	{"wsgi_response_timeout", SideClient, KindError,
		regexp.MustCompile(`Timeout when reading response headers from daemon process '(?P<error>[^']+)'`),
		"mod_wsgi: a daemon process did not answer in time"},
	{"wsgi_daemon_died", SideClient, KindError,
		regexp.MustCompile(`Truncated or oversized response headers received from daemon process '(?P<error>[^']+)'`),
		"mod_wsgi: the daemon process died while serving a request"},
	{"apache_child_crash", SideClient, KindError,
		regexp.MustCompile(`child pid \d+ exit signal (?P<error>.+)`),
		"Apache: a child process crashed (AH00051/AH00052)"},
	{"max_request_workers", SideClient, KindInfo,
		regexp.MustCompile(`server reached MaxRequestWorkers setting`),
		"Apache: every worker was busy (AH00161)"},
	// --- client: uWSGI (2.0.21) ---
	{"uwsgi_worker_died", SideClient, KindError,
		regexp.MustCompile(`DAMN ! worker \d+ \(pid: (?P<pid>\d+)\) died(?P<error>.*)`),
		"uWSGI's master saw a worker die (killed, crashed, or out of memory) and respawns it"},
	{"uwsgi_harakiri", SideClient, KindError,
		regexp.MustCompile(`HARAKIRI ON WORKER \d+ \(pid: (?P<pid>\d+)`),
		"uWSGI killed a worker whose request ran past --harakiri"},
	{"uwsgi_threads_disabled", SideClient, KindInfo,
		regexp.MustCompile(`Python threads support is disabled\. You can enable it with --enable-threads`),
		"uWSGI without --enable-threads or --threads: the GIL is never handed to another Python thread, so no native thread (heartbeat_in_pthread's included) runs"},

	// --- client: gunicorn (20.1) ---
	{"gunicorn_worker_timeout", SideClient, KindError,
		regexp.MustCompile(`WORKER TIMEOUT \(pid:(?P<pid>\d+)\)`),
		"gunicorn's arbiter killed a worker that had not notified it within --timeout (a blocked worker)"},
	{"gunicorn_worker_killed", SideClient, KindError,
		regexp.MustCompile(`Worker with pid (?P<pid>\d+) was terminated due to signal (?P<error>\d+)`),
		"gunicorn: a worker ended by a signal (the arbiter's kill after a timeout, or the OOM killer)"},
	{"gunicorn_worker_boot_failed", SideClient, KindError,
		regexp.MustCompile(`Exception in worker process`),
		"gunicorn: a worker could not load the app (the traceback that follows says why)"},

	// Generic ones last: a line the specific rules above explain is not counted twice.
	{"connection_reset", SideClient, KindDrop,
		regexp.MustCompile(`(?P<error>(?:ConnectionResetError|Connection reset by peer).*)`),
		"a socket read or write found the connection reset (the broker had closed it)"},
	{"python_exception", SideClient, KindError,
		regexp.MustCompile(`^\s*(?P<error>(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception): .*)`),
		"the last line of a Python traceback (the reason a script failed to import, for example)"},
}

// match runs the rules of side over msg and returns the first match with its fields.
func match(rules []Rule, side Side, msg string) (*Rule, EventFields, bool) {
	for i := range rules {
		r := &rules[i]
		if r.Side != side {
			continue
		}
		m := r.Pattern.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		var f EventFields
		for gi, name := range r.Pattern.SubexpNames() {
			if name == "" || m[gi] == "" {
				continue
			}
			v := m[gi]
			switch name {
			case "timeout":
				f.HeartbeatTimeout, _ = strconv.Atoi(v)
			case "vhost":
				f.Vhost = v
			case "user":
				f.User = v
			case "server":
				f.AMQPServer = v
			case "client_port":
				f.ClientPort, _ = strconv.Atoi(v)
			case "connection_id":
				f.ConnectionID = v
			case "script":
				f.Script = v
			case "pid":
				f.PID, _ = strconv.Atoi(v)
			case "seconds":
				f.Seconds, _ = strconv.ParseFloat(v, 64)
			case "error":
				f.Error = v
			}
		}
		return r, f, true
	}
	return nil, EventFields{}, false
}

// ProcessRules are the Apache and mod_wsgi lines that say when a process came to life and when
// it loaded the app: what the spikes scenario lines up with slow requests (mod_wsgi 4.9 and the
// MPMs at LogLevel wsgi:info mpm_*:info, which internal/apache configures). They are kept
// apart from Rules because they are context, not heartbeat evidence: a heartbeat timeline
// would fill with one line per Apache child.
var ProcessRules = []Rule{
	{"wsgi_script_load", SideClient, KindInfo,
		regexp.MustCompile(`Loading Python script file '(?P<script>[^']+)'`),
		"mod_wsgi imports the WSGI script in this process: on its first request in embedded mode or " +
			"lazy daemon mode (the request waits for the whole import), at process start when preloaded"},
	{"wsgi_create_interpreter", SideClient, KindInfo,
		regexp.MustCompile(`Create interpreter '[^']*'`),
		"mod_wsgi creates a sub-interpreter on first use (application groups other than %{GLOBAL})"},
	{"wsgi_daemon_start", SideClient, KindInfo,
		regexp.MustCompile(`Starting process '[^']+' with uid=`),
		"mod_wsgi starts (or restarts) a daemon process"},
	{"wsgi_python_init", SideClient, KindInfo,
		regexp.MustCompile(`Initializing Python\.`),
		"mod_wsgi initialises Python in a new process: an Apache child at fork (before it accepts) or a daemon"},
	{"mpm_spawning", SideClient, KindInfo,
		regexp.MustCompile(`server seems busy, .*spawning \d+ children`),
		"prefork/worker/event: fewer idle workers than MinSpare*, the parent forks more children (AH00162)"},
	{"app_loaded", SideClient, KindInfo,
		regexp.MustCompile(`fakeservice loaded in pid (?P<pid>\d+) in (?P<seconds>[\d.]+)s`),
		"the fake service's own account of its import (seconds from its first line to its last): " +
			"under servers that log no load of their own (uWSGI, gunicorn) the load began that long before"},
	{"gunicorn_worker_boot", SideClient, KindInfo,
		regexp.MustCompile(`Booting worker with pid: (?P<pid>\d+)`),
		"gunicorn's arbiter starts (or restarts) a worker"},
	{"uwsgi_worker_spawn", SideClient, KindInfo,
		regexp.MustCompile(`(?:spawned uWSGI worker \d+ \(pid: |Respawned uWSGI worker \d+ \(new pid: )(?P<pid>\d+)`),
		"uWSGI's master forks (or re-forks) a worker"},
}
