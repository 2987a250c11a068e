package broker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"wsgilab/internal/proc"
)

// These tests run the real RabbitMQ. A machine without it fails them (install with
// scripts/install-stack.sh): a skipped broker test would hide exactly the breakage it is for.

// shared is one private node for the tests that only need a broker (vhosts, connections,
// Existing); tests of the node's own life cycle start their own.
var shared *Broker

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	if dir := os.Getenv(hardKillHelperEnv); dir != "" {
		return hardKillHelper(dir)
	}
	var pids, ports []int
	code := WithPrivate(func(b *Broker) int {
		shared = b
		code := m.Run()
		pids, ports = markedProcesses(b.Node), b.Ports()
		return code
	})
	if shared == nil {
		return code // the node did not start: WithPrivate said why
	}
	if problems := leftovers(shared.Node, pids, ports); len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: shared node left: %s\n", strings.Join(problems, "; "))
		code = 1
	}
	if running := proc.Running(); len(running) > 0 {
		for _, p := range running {
			fmt.Fprintf(os.Stderr, "FAIL: still registered with proc: %s (pid %d)\n", p.Name, p.PID)
		}
		code = 1
	}
	return code
}

// leftovers describes whatever of a stopped node is still there: a process carrying its
// marker, one of the PIDs seen while it ran (as ps shows it), or a port with a listener.
func leftovers(node string, pids, ports []int) []string {
	var problems []string
	if left := markedProcesses(node); len(left) > 0 {
		problems = append(problems, fmt.Sprintf("processes %v:\n%s", left, psList(left)))
	}
	if ps := psList(pids); ps != "" {
		// A zombie waiting for init is not a leak (it holds nothing); anything else is.
		for _, line := range strings.Split(ps, "\n") {
			if f := strings.Fields(line); len(f) >= 4 && !strings.HasPrefix(f[3], "Z") {
				problems = append(problems, "still running: "+line)
			}
		}
	}
	for _, p := range ports {
		if !proc.PortFree(p) {
			problems = append(problems, fmt.Sprintf("port %d still in use", p))
		}
	}
	return problems
}

// psList is `ps -o pid,pgid,ppid,stat,cmd` for pids, without the header ("" if none live).
func psList(pids []int) string {
	if len(pids) == 0 {
		return ""
	}
	strs := make([]string, len(pids))
	for i, p := range pids {
		strs[i] = strconv.Itoa(p)
	}
	out, _ := exec.Command("ps", "--no-headers", "-o", "pid,pgid,ppid,stat,cmd", "-p", strings.Join(strs, ",")).Output()
	return strings.TrimSpace(string(out))
}

// commsOf maps each PID to its command name (for checking what a node consists of).
func commsOf(pids []int) map[string]int {
	out := map[string]int{}
	for _, p := range pids {
		if st, err := procStat(p); err == nil {
			out[st.Comm]++
		}
	}
	return out
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newTestVhost creates a vhost on b that the test deletes when it ends.
func newTestVhost(t *testing.T, b *Broker, name string) *Vhost {
	t.Helper()
	v, err := b.NewVhost(testContext(t, 10*time.Second), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := v.Delete(context.Background()); err != nil {
			t.Errorf("deleting %s: %v", name, err)
		}
	})
	return v
}
