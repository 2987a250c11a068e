package broker

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
	amqp "github.com/rabbitmq/amqp091-go"
)

// waitDeadline bounds the waits for a condition on the broker. It is generous on purpose: it
// only stops a test that would hang, and times nothing (a loaded machine is slow, not wrong).
const waitDeadline = 60 * time.Second

// waitConnections polls vhost's connections until done says so (or waitDeadline passes) and
// returns the last list and how long it took.
func waitConnections(t *testing.T, vhost string, done func([]Connection) bool) ([]Connection, time.Duration) {
	t.Helper()
	began := time.Now()
	ctx := testContext(t, waitDeadline+10*time.Second)
	for {
		conns, err := shared.Connections(ctx, vhost)
		if err != nil {
			t.Fatal(err)
		}
		if done(conns) {
			return conns, time.Since(began)
		}
		if time.Since(began) > waitDeadline {
			t.Fatalf("vhost %q: still %+v after %v", vhost, conns, waitDeadline)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A connection shows up in its vhost only, with the negotiated heartbeat, the client port of
// our socket and the kombu-style connection name. How soon it shows is logged, not asserted:
// it depends on the node's collect_statistics_interval and on the machine's load.
func TestConnectionsPerVhost(t *testing.T) {
	a := newTestVhost(t, shared, "wsgilab-test-conn-a")
	b := newTestVhost(t, shared, "wsgilab-test-conn-b")

	var local atomic.Value
	cfg := amqp.Config{
		Heartbeat:  2 * time.Second,
		Properties: amqp.Table{"connection_name": "/usr/sbin/apache2:4242:0b6f-uuid"},
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := net.DialTimeout(network, addr, 5*time.Second)
			if err == nil {
				local.Store(c.LocalAddr().(*net.TCPAddr).Port)
			}
			return c, err
		},
	}
	opened := time.Now()
	conn, err := amqp.DialConfig(a.AMQPURL(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conns, took := waitConnections(t, a.Name, func(c []Connection) bool { return len(c) > 0 })
	t.Logf("connection listed %v after open (collect_statistics_interval %d ms)", took.Round(time.Millisecond), statsIntervalMS)
	if len(conns) != 1 {
		t.Fatalf("vhost a: %+v", conns)
	}
	c := conns[0]
	if c.Heartbeat != 2 {
		t.Errorf("heartbeat %d s, want 2", c.Heartbeat)
	}
	if want := local.Load().(int); c.ClientPort != want {
		t.Errorf("client port %d, our socket's local port %d", c.ClientPort, want)
	}
	if c.PeerHost != "127.0.0.1" || c.User != a.User || c.Vhost != a.Name {
		t.Errorf("connection %+v", c)
	}
	if c.ClientName != "/usr/sbin/apache2:4242:0b6f-uuid" || c.ClientPID() != 4242 {
		t.Errorf("client name %q pid %d", c.ClientName, c.ClientPID())
	}
	if c.ConnectedAt.Before(opened.Add(-2*time.Second)) || c.ConnectedAt.After(time.Now()) || c.ConnectedAt.Location() != time.UTC {
		t.Errorf("connected_at %v, opened %v", c.ConnectedAt, opened)
	}
	t.Logf("listed as %q", c.Name)
	if !strings.Contains(c.Name, ":"+strconv.Itoa(c.ClientPort)+" -> ") {
		t.Errorf("name %q does not carry the client port", c.Name)
	}

	if other, err := shared.Connections(testContext(t, 5*time.Second), b.Name); err != nil || len(other) != 0 {
		t.Errorf("vhost b lists %+v (%v)", other, err)
	}
	all, err := shared.Connections(testContext(t, 5*time.Second), "")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, x := range all {
		found = found || x.ClientPort == c.ClientPort
	}
	if !found {
		t.Errorf("all-vhost listing misses the connection: %+v", all)
	}

	conn.Close()
	_, took = waitConnections(t, a.Name, func(c []Connection) bool { return len(c) == 0 })
	t.Logf("closed connection gone from the API after %v", took.Round(time.Millisecond))
}

// freezableConn passes traffic until frozen, then silently drops what the client writes: to
// the broker the client is alive but sends nothing, as a mod_wsgi process whose eventlet hub
// never runs.
type freezableConn struct {
	net.Conn
	frozen atomic.Bool
}

func (c *freezableConn) Write(p []byte) (int, error) {
	if c.frozen.Load() {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// The broker's verdict on a silent client lands in LogPath as MissedHeartbeatsMarker, next to
// the connection's peer port, and the connection leaves the API.
func TestMissedHeartbeatsLogged(t *testing.T) {
	v := newTestVhost(t, shared, "wsgilab-test-heartbeat")
	var fc *freezableConn
	const clientName = "/usr/sbin/apache2:5151:hb-uuid"
	conn, err := amqp.DialConfig(v.AMQPURL(), amqp.Config{
		Heartbeat:  time.Second,
		Properties: amqp.Table{"connection_name": clientName},
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := net.DialTimeout(network, addr, 5*time.Second)
			if err != nil {
				return nil, err
			}
			fc = &freezableConn{Conn: c}
			return fc, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	peer := strconv.Itoa(fc.LocalAddr().(*net.TCPAddr).Port)
	logFrom := fileSize(shared.LogPath)
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	waitConnections(t, v.Name, func(c []Connection) bool { return len(c) == 1 })

	frozeAt := time.Now()
	fc.frozen.Store(true)
	select {
	case <-closed:
	case <-time.After(waitDeadline):
		t.Fatal("broker did not close a connection that stopped sending heartbeats")
	}
	t.Logf("broker closed the silent connection %v after the last client frame (heartbeat 1 s)", time.Since(frozeAt).Round(time.Millisecond))

	// The log line may trail the close by a moment.
	var lines []string
	deadline := time.Now().Add(waitDeadline)
	for time.Now().Before(deadline) {
		lines = linesAround(t, shared.LogPath, logFrom, MissedHeartbeatsMarker)
		if len(lines) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(lines) == 0 {
		t.Fatalf("no %q in %s", MissedHeartbeatsMarker, shared.LogPath)
	}
	t.Logf("broker log:\n%s", strings.Join(lines, "\n"))
	// The first line names the connection: peer port and the client's connection_name.
	if want := "(127.0.0.1:" + peer + " -> 127.0.0.1:" + strconv.Itoa(shared.AMQPPort) + " - " + clientName + "):"; !strings.Contains(lines[0], want) {
		t.Errorf("line before the marker lacks %q", want)
	}
	waitConnections(t, v.Name, func(c []Connection) bool { return len(c) == 0 })
}

// linesAround returns the line with marker (written after offset from) and the line before.
func linesAround(t *testing.T, path string, from int64, marker string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(from, 0); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	var prev string
	for sc.Scan() {
		if strings.Contains(sc.Text(), marker) {
			return []string{prev, sc.Text()}
		}
		prev = sc.Text()
	}
	return nil
}

// The PID of a kombu connection name is the second field from the right: argv0 may contain
// colons, and the uuid never does.
func TestKombuPID(t *testing.T) {
	for name, want := range map[string]int{
		"mod_wsgi:1234:abcd":           1234,
		"/usr/bin/python3:77:u-u-i-d":  77,
		"C:\\weird:path:88:uuid":       88,
		"":                             0,
		"no-pid":                       0,
		"x:notanumber:uuid":            0,
		"nova-api-wsgi:-1:uuid":        0,
		"http://odd:argv0:4321:uuid-1": 4321,
	} {
		if got := KombuPID(name); got != want {
			t.Errorf("KombuPID(%q) = %d, want %d", name, got, want)
		}
		if got := (Connection{ClientName: name}).ClientPID(); got != want {
			t.Errorf("ClientPID of %q = %d, want %d", name, got, want)
		}
	}
}

// testdata/management-connections.json is GET /api/connections of a real 3.10.8 node: a py-amqp
// connection in cellA with a 10 s heartbeat and a client-provided name, one in cellB with
// heartbeats off. The mapping keeps the recorded JSON shape the observe probe writes.
func TestConnectionFromInfoFixture(t *testing.T) {
	b, err := os.ReadFile("testdata/management-connections.json")
	if err != nil {
		t.Fatal(err)
	}
	var infos []rabbithole.ConnectionInfo
	if err := json.Unmarshal(b, &infos); err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 {
		t.Fatalf("%d connections", len(infos))
	}
	a := connectionFromInfo(infos[0])
	if a.ClientProperties["connection_name"] != a.ClientName {
		t.Errorf("client properties %v", a.ClientProperties)
	}
	a.ClientProperties = nil
	want := Connection{
		Name: "127.0.0.1:48420 -> 127.0.0.1:45099", ClientName: "mod_wsgi:10307:8dbed295-9b98-45eb-8d65-9f7594de469a",
		Vhost: "cellA", User: "guest", ClientPort: 48420, State: "running", Heartbeat: 10,
		ConnectedAt: time.UnixMilli(1795693387089).UTC(), RecvOct: 331, SendOct: 537, PeerHost: "127.0.0.1",
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("\n got %+v\nwant %+v", a, want)
	}
	if a.ClientPID() != 10307 {
		t.Errorf("ClientPID %d", a.ClientPID())
	}
	second := connectionFromInfo(infos[1])
	if second.Heartbeat != 0 || second.ClientName != "" || second.Vhost != "cellB" || second.ClientPort != 48436 {
		t.Errorf("second: %+v", second)
	}
	if a.Key() != "48420@1795693387089" || a.Key() == second.Key() {
		t.Errorf("keys %q and %q", a.Key(), second.Key())
	}

	// The JSON names are those of recorded timelines; client properties are not recorded.
	got, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(got, &fields); err != nil {
		t.Fatal(err)
	}
	wantFields := map[string]any{
		"name": "127.0.0.1:48420 -> 127.0.0.1:45099", "client_name": "mod_wsgi:10307:8dbed295-9b98-45eb-8d65-9f7594de469a",
		"vhost": "cellA", "user": "guest", "client_port": 48420.0, "state": "running", "heartbeat_s": 10.0,
		"connected_at": "2026-11-26T11:43:07.089Z", "recv_oct": 331.0, "send_oct": 537.0, "channels": 0.0,
		"peer_host": "127.0.0.1",
	}
	if !reflect.DeepEqual(fields, wantFields) {
		t.Errorf("JSON %s\nwant %v", got, wantFields)
	}
	var back Connection
	if err := json.Unmarshal(got, &back); err != nil || !reflect.DeepEqual(back, a) {
		t.Errorf("round trip: %+v %v", back, err)
	}
}
