package broker

import (
	"bufio"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// waitConnections polls vhost's connections until done says so (or 5 s pass) and returns the
// last list and how long it took.
func waitConnections(t *testing.T, vhost string, done func([]Connection) bool) ([]Connection, time.Duration) {
	t.Helper()
	began := time.Now()
	ctx := testContext(t, 10*time.Second)
	for {
		conns, err := shared.Connections(ctx, vhost)
		if err != nil {
			t.Fatal(err)
		}
		if done(conns) {
			return conns, time.Since(began)
		}
		if time.Since(began) > 5*time.Second {
			t.Fatalf("vhost %q: still %+v after 5 s", vhost, conns)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A connection shows up in its vhost only, quickly, with the negotiated heartbeat, the peer
// port of our socket and the kombu-style connection name.
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
	if took > 2*time.Second {
		t.Errorf("connection took %v to appear", took)
	}
	if len(conns) != 1 {
		t.Fatalf("vhost a: %+v", conns)
	}
	c := conns[0]
	if c.Heartbeat != 2*time.Second {
		t.Errorf("heartbeat %v, want 2s", c.Heartbeat)
	}
	if want := local.Load().(int); c.PeerPort != want {
		t.Errorf("peer port %d, our socket's local port %d", c.PeerPort, want)
	}
	if c.PeerHost != "127.0.0.1" || c.User != a.User || c.Vhost != a.Name {
		t.Errorf("connection %+v", c)
	}
	if c.ClientName != "/usr/sbin/apache2:4242:0b6f-uuid" || c.ClientPID() != 4242 {
		t.Errorf("client name %q pid %d", c.ClientName, c.ClientPID())
	}
	if c.ConnectedAt.Before(opened.Add(-2*time.Second)) || c.ConnectedAt.After(time.Now()) {
		t.Errorf("connected_at %v, opened %v", c.ConnectedAt, opened)
	}
	t.Logf("listed as %q", c.Name)
	if !strings.Contains(c.Name, ":"+strconv.Itoa(c.PeerPort)+" -> ") {
		t.Errorf("name %q does not carry the peer port", c.Name)
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
		found = found || x.PeerPort == c.PeerPort
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
	case <-time.After(10 * time.Second):
		t.Fatal("broker did not close a connection that stopped sending heartbeats")
	}
	t.Logf("broker closed the silent connection %v after the last client frame (heartbeat 1 s)", time.Since(frozeAt).Round(time.Millisecond))

	// The log line may trail the close by a moment.
	var lines []string
	deadline := time.Now().Add(3 * time.Second)
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

func TestClientPID(t *testing.T) {
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
		if got := (Connection{ClientName: name}).ClientPID(); got != want {
			t.Errorf("ClientPID(%q) = %d, want %d", name, got, want)
		}
	}
}
