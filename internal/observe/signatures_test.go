package observe

import (
	"testing"
)

// Every rule against a real message (header taken off). Where a line was seen in a real log it
// is copied from testdata or the seeds; the mod_wsgi and Apache messages not triggered here
// are their printf formats from the Debian 12 binaries, filled in.
func TestRules(t *testing.T) {
	cases := []struct {
		side Side
		msg  string
		rule string
		want EventFields
	}{
		// RabbitMQ 3.10.8, testdata/rabbit-3.10.8.log: the two lines of one record, joined.
		{SideBroker, "closing AMQP connection <0.892.0> (127.0.0.1:56032 -> 127.0.0.1:45099 - wsgi:10179:f65aaa8f-7974-49f3-9d0e-5ac7791db390):\nmissed heartbeats from client, timeout: 2s",
			"missed_heartbeats", EventFields{HeartbeatTimeout: 2}},
		{SideBroker, "closing AMQP connection <0.914.0> (127.0.0.1:56074 -> 127.0.0.1:45099 - abrupt:10179, vhost: 'cellA', user: 'guest'):\nclient unexpectedly closed TCP connection",
			"client_closed_tcp", EventFields{}},
		{SideBroker, "closing AMQP connection <0.908.0> (127.0.0.1:56058 -> 127.0.0.1:45099 - nohb:10179:542e80da-6fea-4011-9755-9f2f62cc575b, vhost: 'cellA', user: 'guest')",
			"connection_closed", EventFields{Vhost: "cellA", User: "guest"}},
		{SideBroker, "connection <0.892.0> (127.0.0.1:56032 -> 127.0.0.1:45099 - wsgi:10179:f65aaa8f-7974-49f3-9d0e-5ac7791db390): user 'guest' authenticated and granted access to vhost 'cellA'",
			"connection_granted", EventFields{Vhost: "cellA", User: "guest"}},
		{SideBroker, "Error on AMQP connection <0.569.0> (127.0.0.1:54321 -> 127.0.0.1:5672, state: starting):\n{handshake_timeout,frame_header}",
			"broker_connection_error", EventFields{Error: "<0.569.0> (127.0.0.1:54321 -> 127.0.0.1:5672, state: starting):\n{handshake_timeout,frame_header}"}},

		// oslo.messaging: seed 000 (2019, nova-api.log) and testdata/oslo-14.0.3*.log (Debian 12).
		{SideClient, "[-] Unexpected error during heartbeart thread processing, retrying...: ConnectionResetError: [Errno 104] Connection reset by peer",
			"heartbeat_thread_reset", EventFields{Error: "ConnectionResetError: [Errno 104] Connection reset by peer"}},
		{SideClient, "[-] Unexpected error during heartbeat thread processing, retrying...: KeyError: 'x'",
			"heartbeat_thread_error", EventFields{Error: "KeyError: 'x'"}},
		{SideClient, "[-] Unexpected error during heartbeat thread processing, retrying...",
			"heartbeat_thread_error", EventFields{}},
		{SideClient, "[-] A recoverable connection/channel error occurred, trying to reconnect: Server unexpectedly closed connection",
			"heartbeat_recoverable_error", EventFields{Error: "Server unexpectedly closed connection"}},
		{SideClient, "[-] [dcd41128-5669-4a9a-832c-a819e613b38a] AMQP server on 127.0.0.1:45099 is unreachable: [Errno 104] Connection reset by peer. Trying again in 1 seconds.",
			"amqp_unreachable", EventFields{ConnectionID: "dcd41128-5669-4a9a-832c-a819e613b38a", AMQPServer: "127.0.0.1:45099", Error: "[Errno 104] Connection reset by peer"}},
		{SideClient, "[-] [dcd41128-5669-4a9a-832c-a819e613b38a] Reconnected to AMQP server on 127.0.0.1:45099 via [amqp] client with port 48638.",
			"reconnected", EventFields{ConnectionID: "dcd41128-5669-4a9a-832c-a819e613b38a", AMQPServer: "127.0.0.1:45099", ClientPort: 48638}},
		{SideClient, "ConnectionResetError: [Errno 104] Connection reset by peer",
			"connection_reset", EventFields{Error: "ConnectionResetError: [Errno 104] Connection reset by peer"}},
		// impl_rabbit.py 14.0.3 format strings.
		{SideClient, "[-] [dcd41128-5669-4a9a-832c-a819e613b38a] AMQP server 127.0.0.1:45099 closed the connection. Check login credentials: Socket closed",
			"amqp_closed_connection", EventFields{ConnectionID: "dcd41128-5669-4a9a-832c-a819e613b38a", AMQPServer: "127.0.0.1:45099", Error: "Socket closed"}},
		{SideClient, "[-] Connection failed: [Errno 111] ECONNREFUSED (retrying in 2.0 seconds)",
			"connection_failed", EventFields{Error: "[Errno 111] ECONNREFUSED"}},
		{SideClient, "[-] Failed to publish message to topic 'openstack': [Errno 104] Connection reset by peer",
			"publish_failed", EventFields{Error: "[Errno 104] Connection reset by peer"}},
		{SideClient, "[-] Failed to consume message from queue: Queue.declare: (404) NOT_FOUND",
			"consume_failed", EventFields{Error: "Queue.declare: (404) NOT_FOUND"}},
		// The last line of the fake app's traceback when /call times out, and the conductor's
		// line for a redelivered cast (amqpdriver.py 14.0.3: casts have no msg_id, "None").
		{SideClient, "oslo_messaging.exceptions.MessagingTimeout: Timed out waiting for a reply to message ID 5b6ab6a1e23e4f8e8f0d4a1f38f3c3bb",
			"messaging_timeout", EventFields{Error: "5b6ab6a1e23e4f8e8f0d4a1f38f3c3bb"}},
		{SideClient, "[-] ignoring duplicate message None",
			"duplicate_message", EventFields{Error: "None"}},
		// The conductor's log in a failover run: a restart closed its connection while it
		// acknowledged a cast (amqpdriver.py 14.0.3).
		{SideClient, "[-] Discarding RPC request due to failed acknowledge: [Errno 104] Connection reset by peer",
			"discarded_unacknowledged", EventFields{Error: "[Errno 104] Connection reset by peer"}},
		{SideClient, "[-] Process forked after connection established! This can result in unpredictable behavior. See: https://docs.openstack.org/oslo.messaging/latest/reference/transport.html",
			"process_forked_after_connection", EventFields{}},
		{SideClient, "[-] Heartbeat support requested but it is not supported by the kombu driver or the broker",
			"heartbeat_unsupported", EventFields{}},
		// oslo.config's deprecation format (cfg.py) for the option deprecated in 2024.2.
		{SideClient, `[-] Option "heartbeat_in_pthread" from group "oslo_messaging_rabbit" is deprecated for removal.  Its value may be silently ignored in the future.`,
			"heartbeat_in_pthread_deprecated", EventFields{}},

		// mod_wsgi 4.9.4 / Apache 2.4.71: testdata/apache-error.log and the binaries' formats.
		{SideClient, "mod_wsgi (pid=11075): Failed to exec Python script file '/tmp/obscap/apache/bad.wsgi'.",
			"wsgi_script_failed", EventFields{Script: "/tmp/obscap/apache/bad.wsgi"}},
		{SideClient, "mod_wsgi (pid=11075): Target WSGI script '/srv/app.wsgi' does not contain WSGI application 'application'.",
			"wsgi_no_application", EventFields{Script: "/srv/app.wsgi"}},
		{SideClient, "mod_wsgi (pid=4242): Unable to connect to WSGI daemon process 'nova' on '/run/wsgi.1.0.1.sock' after multiple attempts as listener backlog limit was exceeded or the socket does not exist.",
			"wsgi_daemon_unreachable", EventFields{Error: "nova"}},
		{SideClient, "Timeout when reading response headers from daemon process 'nova': /srv/app.wsgi",
			"wsgi_response_timeout", EventFields{Error: "nova"}},
		{SideClient, "Truncated or oversized response headers received from daemon process 'nova': /srv/app.wsgi",
			"wsgi_daemon_died", EventFields{Error: "nova"}},
		{SideClient, "AH00052: child pid 4242 exit signal Segmentation fault (11)",
			"apache_child_crash", EventFields{Error: "Segmentation fault (11)"}},
		{SideClient, "AH00161: server reached MaxRequestWorkers setting, consider raising the MaxRequestWorkers setting",
			"max_request_workers", EventFields{}},
		{SideClient, "ModuleNotFoundError: No module named 'oslo_messaging_does_not_exist'",
			"python_exception", EventFields{Error: "ModuleNotFoundError: No module named 'oslo_messaging_does_not_exist'"}},
	}
	covered := map[string]bool{}
	cases = append(cases, []struct {
		side Side
		msg  string
		rule string
		want EventFields
	}{
		// uWSGI 2.0.21: lines of a real log here, and printf formats of /usr/bin/uwsgi-core filled in.
		{SideClient, "DAMN ! worker 1 (pid: 15034) died, killed by signal 9 :( trying respawn ...",
			"uwsgi_worker_died", EventFields{PID: 15034, Error: ", killed by signal 9 :( trying respawn ..."}},
		{SideClient, "*** HARAKIRI ON WORKER 2 (pid: 15035, try: 1) ***", "uwsgi_harakiri", EventFields{PID: 15035}},
		{SideClient, "*** Python threads support is disabled. You can enable it with --enable-threads ***",
			"uwsgi_threads_disabled", EventFields{}},
		// gunicorn 20.1.0 (arbiter.py), header taken off.
		{SideClient, "WORKER TIMEOUT (pid:15135)", "gunicorn_worker_timeout", EventFields{PID: 15135}},
		{SideClient, "Worker with pid 15135 was terminated due to signal 9", "gunicorn_worker_killed",
			EventFields{PID: 15135, Error: "9"}},
		{SideClient, "Exception in worker process", "gunicorn_worker_boot_failed", EventFields{}},
	}...)
	for _, c := range cases {
		r, f, ok := match(Rules, c.side, c.msg)
		if !ok {
			t.Errorf("%q: no rule matched, want %s", c.msg, c.rule)
			continue
		}
		if r.Name != c.rule {
			t.Errorf("%q: rule %s, want %s", c.msg, r.Name, c.rule)
		}
		if f != c.want {
			t.Errorf("%s: fields %+v, want %+v", c.rule, f, c.want)
		}
		covered[r.Name] = true
	}
	for _, r := range Rules {
		if !covered[r.Name] {
			t.Errorf("rule %s has no test line", r.Name)
		}
	}
}

// Lines that must not match: what a healthy cell writes, and a rule of one side never matches
// the other's lines.
func TestRulesIgnoreNoise(t *testing.T) {
	noise := []struct {
		side Side
		msg  string
	}{
		{SideBroker, "connection <0.892.0> (127.0.0.1:56032 -> 127.0.0.1:45099) has a client-provided name: wsgi:10179:f65aaa8f"},
		{SideBroker, "accepting AMQP connection <0.892.0> (127.0.0.1:56032 -> 127.0.0.1:45099)"},
		{SideBroker, "Successfully set permissions for 'guest' in virtual host 'cellA' to '.*', '.*', '.*'"},
		{SideBroker, "[-] [x] Reconnected to AMQP server on 127.0.0.1:45099 via [amqp] client with port 48638."},
		{SideClient, "missed heartbeats from client, timeout: 2s"},
		{SideClient, "[-] [dcd41128-5669-4a9a-832c-a819e613b38a] Connected to AMQP server on 127.0.0.1:45099 via [amqp] client with port 50178."},
		{SideClient, "mod_wsgi (pid=11075): Exception occurred processing WSGI script '/tmp/obscap/apache/bad.wsgi'."},
		{SideClient, "Traceback (most recent call last):"},
		{SideClient, "AH00163: Apache/2.4.71 (Debian) mod_wsgi/4.9.4 Python/3.11 configured -- resuming normal operations"},
	}
	for _, n := range noise {
		if r, _, ok := match(Rules, n.side, n.msg); ok {
			t.Errorf("%s line %q matched %s", n.side, n.msg, r.Name)
		}
	}
}
