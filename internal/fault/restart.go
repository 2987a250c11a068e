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

// listenPoll is how often the node's listener is looked for while rabbitmqctl works: the
// command itself takes a second or more (it boots an Erlang VM of its own), so its return is
// a poor clock for when the node actually stopped or started listening.
const listenPoll = 20 * time.Millisecond

func (r *restart) Inject(ctx context.Context) (time.Time, string, error) {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	gone := watchListener(ctx, r.b.AMQPPort, false)
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
	back := watchListener(ctx, r.b.AMQPPort, true)
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

// watchListener polls, from now on, whether something listens on 127.0.0.1:port, and returns
// a function that stops polling and returns the first moment the listener's presence was
// want (or the moment it is called, if that was never seen). /proc/net/tcp is read, rather
// than connecting: a probe connection would be a client the broker logs, and a probe bind
// could take the port from a node that is about to listen on it.
func watchListener(ctx context.Context, port int, want bool) func() time.Time {
	ctx, cancel := context.WithCancel(ctx)
	seen := make(chan time.Time, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(listenPoll)
		defer tk.Stop()
		for {
			if listening(port) == want {
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
		// One last look once the command returned: the state it waited for must be there.
		if listening(port) == want {
			select {
			case t := <-seen:
				cancel()
				<-done
				return t
			default:
			}
		}
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

// listening reports whether a socket listens on 127.0.0.1:port (or any address) for TCP.
func listening(port int) bool {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return false
	}
	for _, read := range []func() (procfs.NetTCP, error){fs.NetTCP, fs.NetTCP6} {
		lines, err := read()
		if err != nil {
			continue
		}
		for _, l := range lines {
			if l.St == 10 && int(l.LocalPort) == port { // 10: LISTEN
				return true
			}
		}
	}
	return false
}
