// Package proc supervises the real processes wsgilab starts (Apache, RabbitMQ, epmd, the fake
// conductor): each one in its own process group, so that everything it forks (Apache children,
// mod_wsgi daemon processes, beam's helpers) can be found and ended by group, never by name.
// Stop returns only when no process of the group is left, because Apache and mod_wsgi daemons
// running eventlet can take 5-12 s to die and a port is not free until they have.
package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Process is one started command and its process group (pgid == leader's PID).
type Process struct {
	Name string
	Cmd  *exec.Cmd
	PID  int

	done    chan struct{}
	mu      sync.Mutex
	waitErr error
	stopped bool
}

// Start starts cmd as the leader of a new process group. Output goes to logPath when given
// (appended), otherwise to the Cmd's own Stdout/Stderr. The process is registered so that
// StopAll (called on exit and on signals) can end it.
func Start(name string, cmd *exec.Cmd, logPath string) (*Process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	// If wsgilab itself is killed hard, at least the leader goes with it.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	var logf *os.File
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("%s: log: %w", name, err)
		}
		logf = f
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		if logf != nil {
			logf.Close()
		}
		return nil, fmt.Errorf("starting %s (%s): %w", name, cmd.Path, err)
	}
	p := &Process{Name: name, Cmd: cmd, PID: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		if logf != nil {
			logf.Close()
		}
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(p.done)
	}()
	register(p)
	return p, nil
}

// Done is closed when the leader has exited (its group may still have members).
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the leader has exited, and its wait error.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.waitErr
	default:
		return false, nil
	}
}

// Members lists the live PIDs of the process group (leader included while it lives).
func (p *Process) Members() []int { return GroupMembers(p.PID) }

// Stop sends sig (SIGTERM when 0) to the leader, and after grace SIGKILL to the whole group,
// then waits until no member of the group is left (at most grace+hardWait). It is safe to call
// more than once and from several goroutines.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) error {
	p.mu.Lock()
	first := !p.stopped
	p.stopped = true
	p.mu.Unlock()
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	if first {
		// The leader first: Apache and beam shut their children down in order when asked.
		_ = syscall.Kill(p.PID, sig)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if len(GroupMembers(p.PID)) == 0 {
			<-p.done
			unregister(p)
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	const hardWait = 5 * time.Second
	deadline = time.Now().Add(hardWait)
	for time.Now().Before(deadline) {
		if len(GroupMembers(p.PID)) == 0 {
			<-p.done
			unregister(p)
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s: process group %d still has members %v after SIGKILL", p.Name, p.PID, GroupMembers(p.PID))
}

var (
	regMu    sync.Mutex
	registry = map[*Process]struct{}{}
)

func register(p *Process) {
	regMu.Lock()
	registry[p] = struct{}{}
	regMu.Unlock()
	guardTell("add", p.PID)
}

func unregister(p *Process) {
	regMu.Lock()
	delete(registry, p)
	regMu.Unlock()
	guardTell("del", p.PID)
}

// StopAll stops every process started by Start and not yet stopped, in parallel, and returns
// the first error. The CLI calls it on every exit path (success, error, SIGINT, SIGTERM).
func StopAll(grace time.Duration) error {
	regMu.Lock()
	ps := make([]*Process, 0, len(registry))
	for p := range registry {
		ps = append(ps, p)
	}
	regMu.Unlock()
	errs := make(chan error, len(ps))
	for _, p := range ps {
		go func() { errs <- p.Stop(0, grace) }()
	}
	var all []error
	for range ps {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

// Running lists the processes started and not yet stopped (for leak checks in tests).
func Running() []*Process {
	regMu.Lock()
	defer regMu.Unlock()
	ps := make([]*Process, 0, len(registry))
	for p := range registry {
		ps = append(ps, p)
	}
	return ps
}
