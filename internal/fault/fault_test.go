package fault

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"wsgilab/internal/broker"
	"wsgilab/internal/testsupport"
)

// The faults break the package's shared node, one after another (no other test uses it). The
// helper process of TestGuardUndoesFaultsWhenKilled needs no node.
func TestMain(m *testing.M) {
	if os.Getenv("WSGILAB_FAULT_HELPER") != "" {
		os.Exit(m.Run())
	}
	os.Exit(testsupport.Main(m))
}

func dial(t *testing.T, b *broker.Broker, timeout time.Duration) (*amqp.Connection, error) {
	t.Helper()
	url := fmt.Sprintf("amqp://%s:%s@127.0.0.1:%d/", b.AdminUser, b.AdminPassword, b.AMQPPort)
	return amqp.DialConfig(url, amqp.Config{Heartbeat: 0, Dial: amqp.DefaultDial(timeout)})
}

// iptablesRules lists the rules a fault left (Rules); a machine that cannot tell fails the test.
func iptablesRules(t *testing.T) []string {
	t.Helper()
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// Each fault does to a real node, and to a client's connection, what the package says, and is
// gone once undone: the node answers new clients again and no rule is left.
func TestFaultsOnRealNode(t *testing.T) {
	for _, kind := range Kinds {
		if err := Check(kind); err != nil {
			t.Fatalf("this machine cannot inject %s: %v", kind, err)
		}
	}
	b := testsupport.SharedBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if left := iptablesRules(t); len(left) > 0 {
		t.Fatalf("wsgilab fault rules before the test: %v", left)
	}

	t.Run("restart", func(t *testing.T) {
		conn, err := dial(t, b, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		closed := conn.NotifyClose(make(chan *amqp.Error, 1))
		f, _ := New(Restart, Target{Broker: b})
		w := Run(ctx, Restart, f, 2*time.Second, func(Window) {
			if listening(b.AMQPPort) {
				t.Error("the node still listens once stopped")
			}
		})
		t.Logf("restart: %+v (held %v)", w, w.Duration())
		if w.Error != "" || w.Duration() < 2*time.Second {
			t.Errorf("window %+v", w)
		}
		select {
		case e := <-closed:
			// stop_app closes every connection with 320 CONNECTION_FORCED, then the socket.
			// amqp091-go answers Close-Ok first and, if that write meets the closed socket,
			// reports whichever of the write error and the 320 its two shutdown calls deliver
			// first (connection.go, dispatch0): seen once with the whole suite running. The
			// client sends nothing else here (no heartbeats), so a reset is that race.
			if e == nil || (e.Code != amqp.ConnectionForced &&
				!(e.Code == amqp.FrameError && strings.Contains(e.Reason, "connection reset by peer"))) {
				t.Errorf("the client's connection ended with %v, want 320 CONNECTION_FORCED", e)
			}
		case <-time.After(30 * time.Second):
			t.Error("the client's connection was not closed")
		}
		if c, err := dial(t, b, 10*time.Second); err != nil {
			t.Errorf("after start_app: %v", err)
		} else {
			c.Close()
		}
	})

	t.Run("hang", func(t *testing.T) {
		conn, err := dial(t, b, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		f, _ := New(Hang, Target{Broker: b})
		w := Run(ctx, Hang, f, time.Second, func(Window) {
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", b.VMPID()))
			if !strings.Contains(string(st), ") T ") {
				t.Errorf("the VM is not stopped: %s", st)
			}
			// The kernel still accepts the TCP connection; the AMQP handshake never comes.
			if c, err := dial(t, b, 500*time.Millisecond); err == nil {
				c.Close()
				t.Error("a frozen node completed a handshake")
			}
		})
		t.Logf("hang: %+v", w)
		if w.Error != "" {
			t.Errorf("window %+v", w)
		}
		// The old connection survived: TCP never broke.
		ch, err := conn.Channel()
		if err != nil {
			t.Errorf("the connection did not survive the hang: %v", err)
		} else {
			ch.Close()
		}
	})

	t.Run("blackhole", func(t *testing.T) {
		conn, err := dial(t, b, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		f, _ := New(Blackhole, Target{Broker: b})
		w := Run(ctx, Blackhole, f, time.Second, func(Window) {
			rules := iptablesRules(t)
			if len(rules) != 2 || !strings.Contains(strings.Join(rules, "\n"), "--dport "+strconv.Itoa(b.AMQPPort)) ||
				!strings.Contains(strings.Join(rules, "\n"), "--sport "+strconv.Itoa(b.AMQPPort)) {
				t.Errorf("rules during the blackhole: %v", rules)
			}
			// SYNs vanish: the dial times out rather than being refused.
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(b.AMQPPort), 300*time.Millisecond)
			if err == nil {
				c.Close()
				t.Error("a connection went through the blackhole")
			} else if !isTimeout(err) {
				t.Errorf("dial through the blackhole: %v, want a timeout", err)
			}
		})
		t.Logf("blackhole: %+v", w)
		if w.Error != "" {
			t.Errorf("window %+v", w)
		}
		if left := iptablesRules(t); len(left) > 0 {
			t.Errorf("rules left after Undo: %v", left)
		}
		// The old connection survived: its packets were retransmitted once let through.
		ch, err := conn.Channel()
		if err != nil {
			t.Errorf("the connection did not survive the blackhole: %v", err)
		} else {
			ch.Close()
		}
	})

	t.Run("reset", func(t *testing.T) {
		conn, err := dial(t, b, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		other, err := dial(t, b, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		closed := conn.NotifyClose(make(chan *amqp.Error, 1))
		port := conn.LocalAddr().(*net.TCPAddr).Port
		f, _ := New(Reset, Target{Broker: b, ClientPorts: func() []int { return []int{port} }})
		w := Run(ctx, Reset, f, time.Hour, nil) // an instant: the duration does not apply
		t.Logf("reset: %+v", w)
		if w.Error != "" || w.Duration() != 0 || !strings.Contains(w.Detail, "1 broker-side") {
			t.Errorf("window %+v", w)
		}
		select {
		case e := <-closed:
			if e == nil || !strings.Contains(e.Reason, "reset") {
				t.Errorf("the reset connection ended with %v, want a reset", e)
			}
		case <-time.After(30 * time.Second):
			t.Error("the reset connection did not end")
		}
		// Only that connection: the other one is fine, and so is the broker.
		if ch, err := other.Channel(); err != nil {
			t.Errorf("a connection that was not targeted: %v", err)
		} else {
			ch.Close()
		}
	})
}

// Bad kinds and a reset without connections are refused with a clear error.
func TestBadInput(t *testing.T) {
	if err := Check("unplug"); err == nil || !strings.Contains(err.Error(), "allowed: restart, hang, blackhole, reset") {
		t.Errorf("Check(unplug) = %v", err)
	}
	if _, err := New(Hang, Target{}); err == nil {
		t.Error("a fault without a private node was accepted")
	}
	r := &reset{port: 1, clients: func() []int { return nil }}
	if _, _, err := r.Inject(context.Background()); err == nil {
		t.Error("a reset of no connection was accepted")
	}
}

// wsgilab killed outright (SIGKILL) in the middle of a blackhole and a hang: the guard deletes
// the rules and continues the stopped process. The "wsgilab" is this test binary re-executed
// as a helper; the stopped process is a sleep it started outside package proc (so that the
// guard does not simply kill it).
func TestGuardUndoesFaultsWhenKilled(t *testing.T) {
	if os.Getenv("WSGILAB_FAULT_HELPER") == "1" {
		port, _ := strconv.Atoi(os.Getenv("WSGILAB_FAULT_PORT"))
		ctx := context.Background()
		if _, _, err := (&blackhole{port: port}).Inject(ctx); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		sleeper := exec.Command("sleep", "300")
		sleeper.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := sleeper.Start(); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		if _, _, err := (&hang{pid: sleeper.Process.Pid}).Inject(ctx); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(sleeper.Process.Pid)
		select {} // until killed
	}
	port := 1 // no node needed: the rules are what is checked, on a port nothing uses
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err == nil {
		port = ln.Addr().(*net.TCPAddr).Port
		defer ln.Close()
	}
	helper := exec.Command(os.Args[0], "-test.run=^TestGuardUndoesFaultsWhenKilled$")
	helper.Env = append(os.Environ(), "WSGILAB_FAULT_HELPER=1", "WSGILAB_FAULT_PORT="+strconv.Itoa(port))
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil || pid <= 0 {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("helper did not report: %v", err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	if rules := iptablesRules(t); len(rules) != 2 {
		t.Errorf("rules while the helper runs: %v", rules)
	}
	stopped := func() bool {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return err == nil && strings.Contains(string(st), ") T ")
	}
	if !stopped() {
		t.Error("the helper's process is not stopped")
	}
	helper.Process.Kill()
	helper.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && (len(iptablesRules(t)) > 0 || stopped()) {
		time.Sleep(50 * time.Millisecond)
	}
	if left := iptablesRules(t); len(left) > 0 {
		exec.Command("iptables", "-w", "10", "-F", "INPUT").Run() // do not leave the machine cut off
		t.Errorf("rules left after wsgilab was killed: %v", left)
	}
	if stopped() {
		t.Error("the stopped process was not continued after wsgilab was killed")
	}
}
