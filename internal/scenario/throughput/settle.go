package throughput

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"wsgilab/internal/runner"
)

// A run measures a cell at rest only if nothing else is still working: a process that began
// loading the app during the previous run (an import of eventlet and oslo.messaging costs a
// second or more of CPU, much more with a few at once on a small machine), or a request that
// the previous run abandoned at its end. Before every run, settle waits until the app
// processes of every cell have used less than quietCPU of CPU over a quietWindow, at most
// maxSettle. /proc counts CPU in 10 ms ticks, so "quiet" is no tick charged in the window: an
// import or a request still running is charged one in far less than 100 ms, and a settle costs
// one window even when all is quiet, before each of the run's 12-20 runs.
const (
	quietWindow = 100 * time.Millisecond
	quietCPU    = 10 * time.Millisecond // 10% of one core
	maxSettle   = 20 * time.Second
)

// settle waits until the app processes of stacks are quiet (see above) and returns how long
// it waited, and whether they were quiet in the end.
func settle(ctx context.Context, stacks []*runner.Stack) (time.Duration, bool) {
	began := time.Now()
	last := appCPU(stacks)
	for time.Since(began) < maxSettle {
		select {
		case <-ctx.Done():
			return time.Since(began), false
		case <-time.After(quietWindow):
		}
		now := appCPU(stacks)
		if now-last < quietCPU {
			return time.Since(began), true
		}
		last = now
	}
	return time.Since(began), false
}

// appCPU is the CPU time used so far by the app processes of stacks (user + system, from
// /proc). A process that ends or starts between two readings shifts the sum; that reads as
// activity, which is what it is.
func appCPU(stacks []*runner.Stack) time.Duration {
	var total time.Duration
	for _, s := range stacks {
		if s == nil {
			continue
		}
		for _, p := range s.AppProcesses() {
			total += processCPU(p.PID)
		}
	}
	return total
}

// processCPU is utime + stime of pid (0 when it is gone).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	// Fields 14 and 15 (utime, stime), in clock ticks of 10 ms.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
