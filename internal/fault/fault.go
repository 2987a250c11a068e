// Package fault breaks the path between a service and its RabbitMQ broker, and mends it: the
// broker restarts cleanly, freezes, becomes unreachable without a word (packets dropped), or
// the service's connections are reset while the broker stays up. Each Fault acts on one
// private broker node (internal/broker) and nothing else, so that cells with nodes of their
// own can break theirs at the same time.
//
// Every fault is undone on every exit path. Undo reverses it when the caller is done (also
// after an error or an interrupt: Run undoes with a context of its own); a change outside
// wsgilab's own processes (a firewall rule, a stopped VM) is also registered with the guard
// (proc.UndoOnKill) before it is made, so that it is reversed even when wsgilab is killed
// outright. A restart needs no such registration: the node it stops and starts is one of
// wsgilab's process groups, which the guard kills.
//
// What each fault does, as measured on Debian 12 (kernel 6.x, RabbitMQ 3.10.8):
//
//   - restart: `rabbitmqctl stop_app` then, after the fault's duration, `start_app`. The node
//     stops its listener and closes every client connection with connection.close (320
//     CONNECTION_FORCED, "broker forced connection closure with reason 'shutdown'"); vhosts,
//     users and durable things survive, transient queues (oslo.messaging's) do not. It strikes
//     2-11 s after stop_app is run (the command boots an Erlang VM of its own, then the node
//     stops its plugins; measured here), and start_app takes 2-4 s to bring the listener back.
//   - hang: SIGSTOP of the node's beam.smp, then SIGCONT. The kernel keeps the sockets and
//     ACKs what clients send (into the VM's receive buffers), so TCP sees nothing wrong:
//     only AMQP heartbeats can notice.
//   - blackhole: two iptables rules on lo that DROP tcp to and from the node's AMQP port (no
//     FIN, no RST; new connections' SYNs vanish too), then deleted. TCP retransmits, and TCP
//     keepalive or TCP_USER_TIMEOUT (which oslo.messaging sets to the heartbeat timeout) are
//     what can notice.
//   - reset: the broker's side of each of the service's connections is destroyed with `ss -K`
//     (the kernel's sock_destroy, CONFIG_INET_DIAG_DESTROY): the service receives an RST
//     ("Connection reset by peer"), the broker sees its socket aborted; the broker stays up.
//     It is an instant: the fault's duration does not apply.
package fault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"wsgilab/internal/broker"
)

// The fault kinds.
const (
	Restart   = "restart"
	Hang      = "hang"
	Blackhole = "blackhole"
	Reset     = "reset"
)

// Kinds are the fault kinds, in the order tables print them.
var Kinds = []string{Restart, Hang, Blackhole, Reset}

// Fault is one way to break the path between a service and its broker.
type Fault interface {
	// Inject breaks the path and returns once the break is in effect, with the moment it
	// took effect (as close as can be observed from outside) and what was done, in words.
	Inject(ctx context.Context) (time.Time, string, error)
	// Undo mends it and returns once the path is back, with the moment it was. It is safe to
	// call after a failed Inject and more than once.
	Undo(ctx context.Context) (time.Time, error)
}

// Target is what a fault acts on.
type Target struct {
	// Broker is a private node (its AMQP port, its VM, rabbitmqctl aimed at it).
	Broker *broker.Broker
	// ClientPorts lists the local ports of the service's connections to the broker: the
	// connections reset resets (read when it is injected).
	ClientPorts func() []int
}

// New returns the fault kind on t's broker.
func New(kind string, t Target) (Fault, error) {
	if t.Broker == nil || !t.Broker.Private() {
		return nil, errors.New("fault: faults act on a private broker node that wsgilab started")
	}
	switch kind {
	case Restart:
		return &restart{b: t.Broker}, nil
	case Hang:
		return &hang{pid: t.Broker.VMPID()}, nil
	case Blackhole:
		return &blackhole{port: t.Broker.AMQPPort}, nil
	case Reset:
		if t.ClientPorts == nil {
			return nil, errors.New("fault: reset needs the service's client ports")
		}
		return &reset{port: t.Broker.AMQPPort, clients: t.ClientPorts}, nil
	}
	return nil, fmt.Errorf("fault: unknown kind %q (allowed: %s)", kind, strings.Join(Kinds, ", "))
}

// Instant says the fault is a single act (reset) rather than a state that lasts.
func Instant(kind string) bool { return kind == Reset }

// Window is one fault as it happened.
//
// JSON:
//
//	{"kind": "blackhole",
//	 "began": "...",              when the fault was asked for (restart: rabbitmqctl stop_app started)
//	 "start": "...",              when the break took effect (restart: /proc showed the node close a connection
//	                              or its listener; the node's own log may say it a little earlier)
//	 "end": "...",                when the path was back (restart: the listener was back); = start for reset
//	 "inject_ms": 12.5,           how long injecting took (restart: rabbitmqctl stop_app)
//	 "undo_ms": 9.8,              how long undoing took (restart: rabbitmqctl start_app)
//	 "detail": "iptables ...",    what was done
//	 "error": ""}                 why the fault could not be injected or undone
type Window struct {
	Kind     string    `json:"kind"`
	Began    time.Time `json:"began"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	InjectMs float64   `json:"inject_ms"`
	UndoMs   float64   `json:"undo_ms"`
	Detail   string    `json:"detail,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// Duration is how long the fault was in effect.
func (w Window) Duration() time.Duration { return w.End.Sub(w.Start) }

// undoTimeout bounds an Undo: rabbitmqctl start_app takes seconds (an Erlang VM starts for the
// command, then the node's apps), more on a loaded machine.
const undoTimeout = 90 * time.Second

// Run injects f, holds it for d (until ctx ends, if sooner), then undoes it, and returns what
// happened. started, when not nil, is called once the fault is in effect (the caller marks its
// timeline). The undo happens even when ctx has ended, with a context of its own: a fault
// must not outlive the cell.
func Run(ctx context.Context, kind string, f Fault, d time.Duration, started func(Window)) Window {
	t0 := time.Now()
	w := Window{Kind: kind, Began: t0}
	start, detail, err := f.Inject(ctx)
	w.InjectMs = millis(time.Since(t0))
	w.Start, w.Detail = start, detail
	if err == nil {
		if started != nil {
			started(w)
		}
		if !Instant(kind) {
			select {
			case <-ctx.Done():
			case <-time.After(time.Until(start.Add(d))):
			}
		}
	} else {
		w.Error = "inject: " + err.Error()
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	t1 := time.Now()
	end, uerr := f.Undo(uctx)
	w.UndoMs = millis(time.Since(t1))
	w.End = end
	if uerr != nil {
		w.Error = strings.TrimPrefix(strings.Join([]string{w.Error, "undo: " + uerr.Error()}, "; "), "; ")
	}
	if w.Start.IsZero() {
		w.Start = t0
	}
	if w.End.IsZero() || w.End.Before(w.Start) {
		w.End = w.Start
	}
	return w
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Check says whether this machine can inject kind, before anything starts: a clear one-line
// error when it cannot (the tool is missing, wsgilab is not root, the kernel lacks the
// feature).
func Check(kind string) error {
	if !slices.Contains(Kinds, kind) {
		return fmt.Errorf("unknown fault %q (allowed: %s)", kind, strings.Join(Kinds, ", "))
	}
	switch kind {
	case Blackhole:
		return checkIptables()
	case Reset:
		return checkSockDestroy()
	}
	return nil
}
