package fault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"wsgilab/internal/proc"
)

// hang freezes the node's Erlang VM (SIGSTOP) and resumes it (SIGCONT).
type hang struct {
	pid int

	mu   sync.Mutex
	done func() // takes the guard's "kill -CONT" back
}

func (h *hang) Inject(ctx context.Context) (time.Time, string, error) {
	if h.pid <= 0 {
		return time.Time{}, "", errors.New("the broker's VM has no PID")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// Registered first: if wsgilab is killed between the two, the guard continues a VM that
	// was never stopped, which is harmless.
	done, err := proc.UndoOnKill(fmt.Sprintf("kill -CONT %d", h.pid))
	if err != nil {
		return time.Time{}, "", err
	}
	h.done = done
	if err := syscall.Kill(h.pid, syscall.SIGSTOP); err != nil {
		return time.Time{}, "", fmt.Errorf("SIGSTOP %d: %w", h.pid, err)
	}
	t, err := waitState(ctx, h.pid, true)
	return t, fmt.Sprintf("SIGSTOP beam.smp (pid %d)", h.pid), err
}

func (h *hang) Undo(ctx context.Context) (time.Time, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done == nil {
		return time.Now(), nil
	}
	if err := syscall.Kill(h.pid, syscall.SIGCONT); err != nil {
		return time.Now(), fmt.Errorf("SIGCONT %d: %w", h.pid, err)
	}
	t, err := waitState(ctx, h.pid, false)
	if err == nil {
		h.done()
		h.done = nil
	}
	return t, err
}

// waitState waits until the process is stopped (state T) or not, as want says, and returns
// when it saw that. Signal delivery is asynchronous: kill returns before the VM's threads
// have all stopped.
func waitState(ctx context.Context, pid int, want bool) (time.Time, error) {
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return time.Now(), fmt.Errorf("pid %d: %w", pid, err)
		}
		s := string(b)
		state := ""
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
			state = s[i+2 : i+3]
		}
		if (state == "T") == want {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Now(), fmt.Errorf("pid %d still in state %s: %w", pid, state, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}
