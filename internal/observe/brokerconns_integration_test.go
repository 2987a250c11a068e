package observe

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"wsgilab/internal/broker"
	"wsgilab/internal/testsupport"
)

// muteConn stops writing (silently: the client believes it sent) once muted, like an eventlet
// hub that never runs the heartbeat green thread.
type muteConn struct {
	net.Conn
	muted *atomic.Bool
}

func (c muteConn) Write(p []byte) (int, error) {
	if c.muted.Load() {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// dialMutable opens an amqp091 connection with a 1 s heartbeat whose writes can be stopped.
func dialMutable(t *testing.T, v *broker.Vhost, name string) (*amqp.Connection, int, *atomic.Bool) {
	t.Helper()
	muted := &atomic.Bool{}
	var local int
	conn, err := amqp.DialConfig(v.AMQPURL(), amqp.Config{
		Heartbeat:  time.Second,
		Properties: amqp.Table{"connection_name": name},
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := net.DialTimeout(network, addr, 5*time.Second)
			if err != nil {
				return nil, err
			}
			local = c.LocalAddr().(*net.TCPAddr).Port
			return muteConn{Conn: c, muted: muted}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, local, muted
}

// A real 3.10 node closes a connection whose client went silent, and the probes see it: the
// management API listed it with its negotiated heartbeat and name, /proc had its socket, and
// the broker log's "missed heartbeats" close is an event attributed to the cell's vhost. A
// second vhost's connection dies the same way and must not show up in this cell's timeline.
func TestBrokerIntegrationMissedHeartbeats(t *testing.T) {
	// Deadlines here bound waits for conditions, generously (a private node starts in 6 s idle,
	// 15 s or more on a loaded machine); no duration is asserted.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := testsupport.Broker(t, ctx)
	cell, err := b.NewVhost(ctx, "observe-cell")
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.NewVhost(ctx, "observe-other")
	if err != nil {
		t.Fatal(err)
	}
	var offset int64
	if st, err := os.Stat(b.LogPath); err == nil {
		offset = st.Size()
	}

	name := fmt.Sprintf("observe.test:%d:5c1c9993-6adb-4d10-92b5-1979ebd46e91", os.Getpid())
	_, port, muted := dialMutable(t, cell, name)
	_, otherPort, otherMuted := dialMutable(t, other, "other:1:00000000-0000-0000-0000-000000000000")

	o := New(Target{
		Cell: "it", Vhost: cell.Name, BrokerPort: cell.AMQPPort, Interval: 250 * time.Millisecond,
		Connections: func(ctx context.Context) ([]broker.Connection, error) {
			return b.Connections(ctx, cell.Name)
		},
		PIDs:            func() []int { return []int{os.Getpid()} },
		BrokerLog:       b.LogPath,
		BrokerLogOffset: offset,
	})
	octx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { o.Run(octx); close(done) }()
	defer func() { stop(); <-done }()

	// Wait until the management API lists the connection (its statistics lag), then go silent.
	waitFor(t, time.Minute, "the connection in the management API", func() bool {
		tl := o.Timeline()
		for _, tk := range tl.Ticks {
			if tk.Broker != nil && tk.Broker.Count == 1 {
				return true
			}
		}
		return false
	})
	silencedAt := time.Now()
	muted.Store(true)
	otherMuted.Store(true)

	var drop Event
	waitFor(t, time.Minute, "a missed_heartbeats event", func() bool {
		for _, e := range o.Timeline().Events {
			if e.Rule == "missed_heartbeats" {
				drop = e
				return true
			}
		}
		return false
	})
	// The other vhost's connection died too: once its line is in the log, wait for a sample
	// taken after that, so that the log tail has read it (and must have left it out).
	waitFor(t, time.Minute, "the other vhost's close in the broker log", func() bool {
		logged, _ := os.ReadFile(b.LogPath)
		return strings.Count(string(logged[offset:]), "missed heartbeats from client") >= 2
	})
	bothLogged := time.Now()
	waitFor(t, time.Minute, "a sample after both closes were logged", func() bool {
		ticks := o.Timeline().Ticks
		return len(ticks) > 0 && ticks[len(ticks)-1].T.After(bothLogged)
	})
	stop()
	<-done
	tl := o.Timeline()

	want := EventFields{Level: "error", ErlangPID: drop.Fields.ErlangPID, Connection: fmt.Sprintf("127.0.0.1:%d -> 127.0.0.1:%d", port, cell.AMQPPort),
		ClientName: name, ClientPort: port, Vhost: cell.Name, User: cell.User, HeartbeatTimeout: 1,
		ConnectionID: "5c1c9993-6adb-4d10-92b5-1979ebd46e91"}
	if drop.Fields != want || drop.Kind != KindDrop || drop.Source != "broker" {
		t.Errorf("drop event\n got %+v\nwant %+v", drop.Fields, want)
	}
	// The broker closes 2-3 heartbeat intervals after the last data it received (later on a
	// loaded machine): logged, not asserted; only the order is.
	t.Logf("closed %v after the client went silent (heartbeat 1 s)", drop.Time.Sub(silencedAt).Round(time.Millisecond))
	if drop.Time.Before(silencedAt.Add(-time.Second)) {
		t.Errorf("closed at %v, before the client went silent at %v", drop.Time, silencedAt)
	}
	if !strings.Contains(drop.Line, "\n") || !strings.Contains(drop.Line, "missed heartbeats from client, timeout: 1s") {
		t.Errorf("line %q", drop.Line)
	}
	for _, e := range tl.Events {
		if e.Fields.Vhost == other.Name || e.Fields.ClientPort == otherPort {
			t.Errorf("the other vhost's line is in this cell's timeline: %s", e.Line)
		}
	}
	logged, _ := os.ReadFile(b.LogPath)
	if n := strings.Count(string(logged[offset:]), "missed heartbeats from client"); n != 2 {
		t.Errorf("the broker log has %d missed-heartbeats closes, want 2 (this vhost's and the other's)", n)
	}

	// Management API: the connection, negotiated heartbeat and name; never the other vhost's.
	var listed, socketUp, socketGone bool
	for _, tk := range tl.Ticks {
		if tk.Broker != nil {
			for _, c := range tk.Broker.Connections {
				if c.ClientPort == otherPort || c.Vhost != cell.Name {
					t.Fatalf("listed another vhost's connection: %+v", c)
				}
				if c.ClientPort == port && c.Heartbeat == 1 && c.ClientName == name {
					listed = true
				}
			}
		}
		if tk.Sockets != nil {
			up := false
			for _, s := range tk.Sockets.Sockets {
				if s.LocalPort == port && s.State == "ESTABLISHED" {
					up = true
				}
			}
			if up && tk.T.Before(drop.Time) {
				socketUp = true
			}
			if !up && socketUp && tk.T.After(drop.Time) {
				socketGone = true
			}
		}
	}
	if !listed || !socketUp || !socketGone {
		t.Errorf("listed %v, socket up before the drop %v, gone after it %v", listed, socketUp, socketGone)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
