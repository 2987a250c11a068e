package observe

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readAll tails a fixture from its start and returns every event.
func readAll(t *testing.T, lt *LogTail) []Event {
	t.Helper()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	_, ev, err := lt.Sample(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	ev = append(ev, lt.Flush(now)...)
	lt.Close()
	return ev
}

func byRule(ev []Event, rule string) []Event {
	var out []Event
	for _, e := range ev {
		if e.Rule == rule {
			out = append(out, e)
		}
	}
	return out
}

// testdata/rabbit-3.10.8.log was written by a real 3.10.8 node: connections in vhosts cellA and
// cellB whose clients stopped sending heartbeats (2 s), a normal close and an abrupt one.
func TestBrokerLogFixture(t *testing.T) {
	ev := readAll(t, NewLogTail("broker", LogFile{Path: "testdata/rabbit-3.10.8.log", Source: "broker", Format: FormatRabbit}))

	missed := byRule(ev, "missed_heartbeats")
	if len(missed) != 2 {
		t.Fatalf("missed_heartbeats events: %d, want 2: %+v", len(missed), ev)
	}
	a := missed[0]
	wantT := time.Date(2026, 11, 26, 11, 43, 0, 364040000, time.UTC)
	if !a.Time.Equal(wantT) {
		t.Errorf("time %v, want %v", a.Time, wantT)
	}
	want := EventFields{
		Level: "error", ErlangPID: "<0.892.0>", Connection: "127.0.0.1:56032 -> 127.0.0.1:45099",
		ClientName: "wsgi:10179:f65aaa8f-7974-49f3-9d0e-5ac7791db390", ClientPort: 56032,
		Vhost: "cellA", User: "guest", HeartbeatTimeout: 2, ConnectionID: "f65aaa8f-7974-49f3-9d0e-5ac7791db390",
	}
	if a.Fields != want {
		t.Errorf("fields\n got %+v\nwant %+v", a.Fields, want)
	}
	// The record is both lines, verbatim: the first names the connection, the second the cause.
	lines := strings.Split(a.Line, "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "wsgi:10179:f65aaa8f-7974-49f3-9d0e-5ac7791db390):") ||
		!strings.HasSuffix(lines[1], "[error] <0.892.0> missed heartbeats from client, timeout: 2s") {
		t.Errorf("line %q", a.Line)
	}
	if a.Kind != KindDrop || a.Source != "broker" {
		t.Errorf("kind %s source %s", a.Kind, a.Source)
	}
	// The vhost is not on the close lines: it comes from each connection's "granted" line.
	if missed[1].Fields.Vhost != "cellB" || missed[1].Fields.ClientPort != 56042 {
		t.Errorf("second drop: %+v", missed[1].Fields)
	}

	abrupt := byRule(ev, "client_closed_tcp")
	if len(abrupt) != 1 || abrupt[0].Fields.ClientPort != 56074 || abrupt[0].Fields.Vhost != "cellA" || abrupt[0].Fields.ClientName != "abrupt:10179" {
		t.Errorf("client_closed_tcp: %+v", abrupt)
	}
	normal := byRule(ev, "connection_closed")
	if len(normal) != 1 || normal[0].Fields.ClientPort != 56058 || normal[0].Kind != KindInfo {
		t.Errorf("connection_closed: %+v", normal)
	}
	if n := len(byRule(ev, "connection_granted")); n != 4 {
		t.Errorf("connection_granted: %d, want 4", n)
	}
	// The vhost-store, accepting and client-provided-name lines match no rule.
	if len(ev) != 4+1+1+2 {
		t.Errorf("%d events, want 8", len(ev))
	}
	for i := 1; i < len(ev); i++ {
		if ev[i].Time.Before(ev[i-1].Time) {
			t.Errorf("events out of order at %d", i)
		}
	}
}

// With a vhost, the shared broker log keeps only this cell's lines and those it cannot place.
func TestBrokerLogVhostFilter(t *testing.T) {
	lt := NewLogTail("broker", LogFile{Path: "testdata/rabbit-3.10.8.log", Source: "broker", Format: FormatRabbit})
	lt.Vhost = "cellB"
	ev := readAll(t, lt)
	for _, e := range ev {
		if e.Fields.Vhost != "cellB" && e.Fields.Vhost != "" {
			t.Errorf("kept a %s line: %s", e.Fields.Vhost, e.Line)
		}
	}
	if m := byRule(ev, "missed_heartbeats"); len(m) != 1 || m[0].Fields.ClientPort != 56042 {
		t.Errorf("missed_heartbeats: %+v", m)
	}
	if n := len(ev); n != 2 {
		t.Errorf("%d events, want cellB's granted line and its drop", n)
	}
}

// testdata/apache-error.log: a WSGI script failing to import (mod_wsgi 4.9.4, prefork), and the
// real oslo.messaging 14.0.3 lines of an eventlet app under prefork whose connection the broker
// had dropped.
func TestApacheErrorLogFixture(t *testing.T) {
	lt := NewLogTail("client", LogFile{Path: "testdata/apache-error.log", Source: "apache", Format: FormatApache})
	lt.Location = time.UTC // the fixture was written on a UTC machine; Apache writes no zone
	ev := readAll(t, lt)
	var rules []string
	for _, e := range ev {
		rules = append(rules, e.Rule)
	}
	want := []string{"wsgi_script_failed", "python_exception", "wsgi_script_failed", "python_exception",
		"max_request_workers", "amqp_unreachable", "reconnected"}
	if strings.Join(rules, " ") != strings.Join(want, " ") {
		t.Fatalf("rules\n got %v\nwant %v", rules, want)
	}
	f := ev[0]
	if !f.Time.Equal(time.Date(2026, 11, 26, 11, 43, 25, 743981000, time.UTC)) || f.Fields.PID != 11075 ||
		f.Fields.Level != "wsgi:error" || f.Fields.Script != "/tmp/obscap/apache/bad.wsgi" {
		t.Errorf("script failure: %v %+v", f.Time, f.Fields)
	}
	if ev[1].Fields.Error != "ModuleNotFoundError: No module named 'oslo_messaging_does_not_exist'" || ev[1].Fields.PID != 11075 {
		t.Errorf("exception: %+v", ev[1].Fields)
	}
	u := ev[5]
	if u.Fields.PID != 30053 || u.Fields.AMQPServer != "127.0.0.1:45099" || u.Fields.Error != "[Errno 104] Connection reset by peer" ||
		u.Fields.ConnectionID != "0e5bd7ce-f710-41b0-80bb-e7e4ec22be7b" || u.Kind != KindDrop {
		t.Errorf("unreachable: %+v", u.Fields)
	}
	if r := ev[6]; r.Fields.ClientPort != 40402 || r.Kind != KindReconnect ||
		!r.Time.Equal(time.Date(2026, 11, 26, 11, 54, 45, 693625000, time.UTC)) {
		t.Errorf("reconnected: %v %+v", r.Time, r.Fields)
	}
}

// oslo.log's own format: 14.0.3 at INFO (a drop found by the next cast, and one found by the
// heartbeat thread), at DEBUG (the traceback ends in the reset), and the 2019 nova-api.log lines
// of the write-ups with the "heartbeart" typo.
func TestPythonLogFixtures(t *testing.T) {
	lt := NewLogTail("app", LogFile{Path: "testdata/oslo-14.0.3.log", Source: "app", Format: FormatPython})
	lt.Location = time.UTC
	ev := readAll(t, lt)
	if len(ev) != 3 || ev[0].Rule != "amqp_unreachable" || ev[1].Rule != "reconnected" || ev[2].Rule != "heartbeat_recoverable_error" {
		t.Fatalf("events: %+v", ev)
	}
	if ev[1].Fields.ClientPort != 48638 || ev[1].Fields.PID != 21854 || ev[1].Fields.Level != "INFO" ||
		!ev[1].Time.Equal(time.Date(2026, 11, 26, 11, 49, 12, 133000000, time.UTC)) {
		t.Errorf("reconnected: %v %+v", ev[1].Time, ev[1].Fields)
	}
	if ev[2].Fields.Error != "Server unexpectedly closed connection" {
		t.Errorf("recoverable: %+v", ev[2].Fields)
	}

	lt = NewLogTail("app", LogFile{Path: "testdata/oslo-14.0.3-debug.log", Source: "app", Format: FormatPython})
	lt.Location = time.UTC
	ev = readAll(t, lt)
	var rules []string
	for _, e := range ev {
		rules = append(rules, e.Rule)
	}
	if strings.Join(rules, " ") != "connection_reset amqp_unreachable reconnected" {
		t.Fatalf("debug rules: %v", rules)
	}
	// The traceback line has no header: it takes the time and pid of the line that began it.
	if !ev[0].Time.Equal(time.Date(2026, 11, 26, 11, 58, 32, 89000000, time.UTC)) || ev[0].Fields.PID != 11978 {
		t.Errorf("traceback line: %v %+v", ev[0].Time, ev[0].Fields)
	}

	lt = NewLogTail("app", LogFile{Path: "testdata/nova-api-2019.log", Source: "app", Format: FormatPython})
	lt.Location = time.UTC
	ev = readAll(t, lt)
	hb := byRule(ev, "heartbeat_thread_reset")
	if len(hb) != 4 || len(ev) != 4 {
		t.Fatalf("2019 lines: %d heartbeat errors of %d events", len(hb), len(ev))
	}
	if hb[2].Fields.PID != 22 || hb[2].Fields.Level != "WARNING" || hb[2].Kind != KindDrop || hb[2].Fields.Error != "ConnectionResetError: [Errno 104] Connection reset by peer" {
		t.Errorf("2019: %+v", hb[2].Fields)
	}
}

// The tailer follows a file that does not exist yet, then grows by partial lines and by the
// two lines of a RabbitMQ record written apart, then is truncated.
func TestLogTailGrowth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rabbit.log")
	lt := NewLogTail("broker", LogFile{Path: path, Source: "broker", Format: FormatRabbit})
	defer lt.Close()
	now := time.Now()
	sample := func() []Event {
		t.Helper()
		_, ev, err := lt.Sample(context.Background(), now)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	if ev := sample(); len(ev) != 0 {
		t.Fatalf("events from a missing file: %v", ev)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	write := func(s string) {
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	granted := "2026-11-26 11:42:54.361740+00:00 [info] <0.892.0> connection <0.892.0> (127.0.0.1:56032 -> 127.0.0.1:45099 - wsgi:1:f65aaa8f-7974-49f3-9d0e-5ac7791db390): user 'guest' authenticated and granted access to vhost 'cellA'\n"
	write(granted[:50]) // a writer in the middle of a line
	if ev := sample(); len(ev) != 0 {
		t.Fatalf("events from half a line: %v", ev)
	}
	write(granted[50:])
	sample() // held: the record could go on
	if ev := sample(); len(ev) != 1 || ev[0].Rule != "connection_granted" {
		t.Fatalf("after a quiet poll: %+v", ev)
	}
	write("2026-11-26 11:43:00.364040+00:00 [error] <0.892.0> closing AMQP connection <0.892.0> (127.0.0.1:56032 -> 127.0.0.1:45099 - wsgi:1:f65aaa8f-7974-49f3-9d0e-5ac7791db390):\n")
	if ev := sample(); len(ev) != 0 {
		t.Fatalf("first line of a record emitted alone: %+v", ev)
	}
	write("2026-11-26 11:43:00.364040+00:00 [error] <0.892.0> missed heartbeats from client, timeout: 2s\n")
	sample()
	ev := sample()
	if len(ev) != 1 || ev[0].Rule != "missed_heartbeats" || ev[0].Fields.Vhost != "cellA" || strings.Count(ev[0].Line, "\n") != 1 {
		t.Fatalf("record: %+v", ev)
	}
	// Truncated (a new log): read from its start.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	write("2026-11-26 11:50:00.000001+00:00 [warning] <0.914.0> closing AMQP connection <0.914.0> (127.0.0.1:56074 -> 127.0.0.1:45099 - x, vhost: 'cellA', user: 'guest'):\n" +
		"2026-11-26 11:50:00.000001+00:00 [warning] <0.914.0> client unexpectedly closed TCP connection\n")
	ev = append(sample(), lt.Flush(now)...)
	if len(ev) != 1 || ev[0].Rule != "client_closed_tcp" || ev[0].Fields.ClientPort != 56074 {
		t.Fatalf("after truncation: %+v", ev)
	}
}

// An offset skips what the shared broker log held before the cell began.
func TestLogTailOffset(t *testing.T) {
	b, err := os.ReadFile("testdata/rabbit-3.10.8.log")
	if err != nil {
		t.Fatal(err)
	}
	// Start at the abrupt close: the drops of 11:43:00 follow, the earlier lines are skipped.
	off := strings.Index(string(b), "2026-11-26 11:42:57.367745")
	lt := NewLogTail("broker", LogFile{Path: "testdata/rabbit-3.10.8.log", Source: "broker", Format: FormatRabbit, Offset: int64(off)})
	ev := readAll(t, lt)
	if len(ev) != 3 || ev[0].Rule != "client_closed_tcp" || ev[1].Rule != "missed_heartbeats" {
		t.Fatalf("events: %+v", ev)
	}
	// Without the granted lines the vhost is unknown, but the connection is still named.
	if ev[1].Fields.Vhost != "" || ev[1].Fields.ClientPort != 56032 {
		t.Errorf("fields: %+v", ev[1].Fields)
	}
}

// The Observer tails a log that a writer appends to while it runs: every line arrives once,
// in time order, with the time written on it.
func TestObserverTailsGrowingLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	lt := NewLogTail("client_logs", LogFile{Path: path, Source: "apache", Format: FormatApache})
	lt.Location = time.UTC
	o := New(Target{Interval: 20 * time.Millisecond}, lt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()

	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	for i := range n {
		ts := time.Date(2026, 11, 26, 11, 54, 0, i*1000000, time.UTC).Format("Mon Jan 02 15:04:05.000000 2006")
		line := "[" + ts + "] [wsgi:error] [pid 30053:tid 30053] [client 127.0.0.1:38788] 2026-11-26 11:54:45.693 30053 INFO oslo.messaging._drivers.impl_rabbit [-] Reconnected to AMQP server on 127.0.0.1:45099 via [amqp] client with port " + strconv.Itoa(40000+i) + ".\n"
		// Split each line over two writes to catch a poll between them.
		f.WriteString(line[:40])
		time.Sleep(3 * time.Millisecond)
		f.WriteString(line[40:])
	}
	f.Close()
	time.Sleep(60 * time.Millisecond)
	cancel()
	<-done
	tl := o.Timeline()
	if len(tl.Events) != n {
		t.Fatalf("%d events, want %d", len(tl.Events), n)
	}
	for i, e := range tl.Events {
		if e.Fields.ClientPort != 40000+i {
			t.Fatalf("event %d: port %d", i, e.Fields.ClientPort)
		}
		if want := time.Date(2026, 11, 26, 11, 54, 0, i*1000000, time.UTC); !e.Time.Equal(want) {
			t.Fatalf("event %d: time %v, want %v", i, e.Time, want)
		}
	}
	if len(tl.Ticks) < 3 {
		t.Errorf("only %d ticks", len(tl.Ticks))
	}
}
