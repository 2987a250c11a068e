package observe

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/procfs"

	"wsgilab/internal/proc"
)

// cpuOf is pid's CPU time so far, in seconds.
func cpuOf(t *testing.T, pid int) float64 {
	t.Helper()
	p, err := procfs.NewProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return st.CPUTime()
}

// busyLoop starts a shell loop that burns CPU (under timeout, for at most 30 s) and returns the
// loop's PID. Orphaned, it is reparented away from this process (outside its tree); otherwise
// it is below it. It is killed by PID when the test ends.
func busyLoop(t *testing.T, orphaned bool) int {
	t.Helper()
	loop := `timeout 30 sh -c 'while :; do :; done'`
	cmd := exec.Command("sh", "-c", loop)
	if orphaned {
		// The outer shell prints timeout's PID and exits: the loop's grandparent is gone.
		cmd = exec.Command("sh", "-c", loop+` >/dev/null 2>&1 & echo $!`)
	}
	var top int
	if orphaned {
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if top, err = strconv.Atoi(strings.TrimSpace(string(out))); err != nil {
			t.Fatal(err)
		}
	} else {
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		top = cmd.Process.Pid
		t.Cleanup(func() { cmd.Wait() })
	}
	// The loop is the shell below timeout, once timeout has started it.
	var pid int
	for deadline := time.Now().Add(10 * time.Second); pid == 0 && time.Now().Before(deadline); {
		for _, d := range proc.Descendants(top) {
			if b, err := os.ReadFile("/proc/" + strconv.Itoa(d) + "/cmdline"); err == nil && strings.HasPrefix(string(b), "sh\x00") {
				pid = d
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() {
		syscall.Kill(top, syscall.SIGKILL)
		if pid != 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if pid == 0 {
		t.Fatalf("no loop below %d", top)
	}
	return pid
}

// A busy loop outside the lab's process tree is other CPU; the same loop inside it is not. Both
// checked against the loop's own CPU time, so that whatever else runs meanwhile (other test
// packages) cannot make them fail: other CPU is at least the outside loop's, and the tree's
// CPU at least the inside loop's.
func TestOtherCPU(t *testing.T) {
	for _, orphaned := range []bool{true, false} {
		name := map[bool]string{true: "outside", false: "inside"}[orphaned]
		t.Run(name, func(t *testing.T) {
			pid := busyLoop(t, orphaned)
			a, err := TakeOwnCPUSample()
			if err != nil {
				t.Fatal(err)
			}
			loop0 := cpuOf(t, pid)
			time.Sleep(time.Second)
			loop := cpuOf(t, pid) - loop0
			b, err := TakeOwnCPUSample()
			if err != nil {
				t.Fatal(err)
			}
			if loop < 0.1 {
				t.Fatalf("the loop got %.2fs of CPU in 1 s: cannot tell", loop)
			}
			pct := OtherCPUPct(a, b)
			loopPct := 100 * loop / (b.At.Sub(a.At).Seconds() * float64(b.CPUs))
			tree := b.Tree - a.Tree
			t.Logf("loop %.2fs (%.0f%% of the machine), other %.0f%%, tree %.2fs, CPUs %d", loop, loopPct, pct, tree, b.CPUs)
			if orphaned && pct < 0.8*loopPct {
				t.Errorf("other CPU %.0f%%, but the loop outside the tree alone took %.0f%%", pct, loopPct)
			}
			if !orphaned && tree < 0.8*loop {
				t.Errorf("the tree used %.2fs, but the loop inside it alone took %.2fs", tree, loop)
			}
			if pct < 0 || pct > 100 {
				t.Errorf("other CPU %.1f%% out of range", pct)
			}
		})
	}
}
