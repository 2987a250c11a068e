package fault

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/procfs"

	"wsgilab/internal/broker"
)

// restart stops the node's RabbitMQ application and starts it again (the Erlang VM stays up).
type restart struct {
	b *broker.Broker

	mu      sync.Mutex
	stopped bool
}

// listenPoll is how often the node's port is looked at while rabbitmqctl works: the
// command itself takes a second or more (it boots an Erlang VM of its own), so its return is
// a poor clock for when the node actually stopped or started listening.
const listenPoll = 20 * time.Millisecond

func (r *restart) Inject(ctx context.Context) (time.Time, string, error) {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	// The node closes its clients' connections and stops its listener within a few ms of each
	// other; the first of the two is when the fault struck.
	_, before := brokerSide(r.b.AMQPPort)
	gone := watch(ctx, r.b.AMQPPort, func(listen bool, conns map[uint64]bool) bool {
		if !listen {
			return true
		}
		for ino := range before {
			if !conns[ino] {
				return true
			}
		}
		return false
	})
	err := r.ctl(ctx, "stop_app")
	t := gone()
	if err != nil {
		return t, "", err
	}
	return t, "rabbitmqctl -n " + r.b.Node + " stop_app", nil
}

func (r *restart) Undo(ctx context.Context) (time.Time, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		return time.Now(), nil
	}
	back := watch(ctx, r.b.AMQPPort, func(listen bool, _ map[uint64]bool) bool { return listen })
	err := r.ctl(ctx, "start_app")
	t := back()
	if err != nil {
		return t, err
	}
	r.stopped = false
	return t, nil
}

func (r *restart) ctl(ctx context.Context, args ...string) error {
	cmd, err := r.b.CtlCommand(ctx, "", args...)
	if err != nil {
		return err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("rabbitmqctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// watch polls, from now on, what /proc/net/tcp says of the node's port, and returns a function
// that stops polling and returns the first moment cond held (or the moment it is called, if it
// never did). /proc/net/tcp is read, rather than connecting: a probe connection would be a
// client the broker logs, and a probe bind could take the port from a node that is about to
// listen on it.
func watch(ctx context.Context, port int, cond func(listen bool, conns map[uint64]bool) bool) func() time.Time {
	ctx, cancel := context.WithCancel(ctx)
	seen := make(chan time.Time, 1)
	done := make(chan struct{})
	holds := func() bool { return cond(brokerSide(port)) }
	go func() {
		defer close(done)
		tk := time.NewTicker(listenPoll)
		defer tk.Stop()
		for {
			if holds() {
				seen <- time.Now()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
		}
	}()
	return func() time.Time {
		cancel()
		<-done
		select {
		case t := <-seen:
			return t
		default:
			return time.Now()
		}
	}
}

// listening reports whether a socket listens on port for TCP.
func listening(port int) bool {
	l, _ := brokerSide(port)
	return l
}

// brokerSide reads /proc/net/tcp{,6}: whether a socket listens on port, and the inodes of the
// established connections whose local port it is (the broker's side of its clients').
func brokerSide(port int) (listen bool, conns map[uint64]bool) {
	conns = map[uint64]bool{}
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return false, conns
	}
	for _, read := range []func() (procfs.NetTCP, error){fs.NetTCP, fs.NetTCP6} {
		lines, err := read()
		if err != nil {
			continue
		}
		for _, l := range lines {
			if int(l.LocalPort) != port {
				continue
			}
			switch l.St {
			case 10: // LISTEN
				listen = true
			case 1: // ESTABLISHED
				conns[l.Inode] = true
			}
		}
	}
	return listen, conns
}
