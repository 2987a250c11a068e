package proc

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A leader that ignores SIGTERM and has a child in the background: Stop must escalate to
// SIGKILL for the whole group and return only when both are gone.
func TestStopEndsWholeGroup(t *testing.T) {
	cmd := exec.Command("sh", "-c", `trap "" TERM; sleep 300 & echo started; wait`)
	p, err := Start("stubborn", cmd, filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(p.Members()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	members := p.Members()
	if len(members) < 2 {
		t.Fatalf("expected leader and child in group, got %v", members)
	}
	if err := p.Stop(syscall.SIGTERM, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if left := GroupMembers(p.PID); len(left) != 0 {
		t.Fatalf("group members left after Stop: %v", left)
	}
	for _, pid := range members {
		if syscall.Kill(pid, 0) == nil {
			t.Fatalf("pid %d still alive", pid)
		}
	}
	if len(Running()) != 0 {
		t.Fatalf("registry not empty: %v", Running())
	}
}

func TestStopAllAndDescendants(t *testing.T) {
	p, err := Start("tree", exec.Command("sh", "-c", `sh -c "sleep 300" & sleep 300`), "")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(Descendants(p.PID)) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if d := Descendants(p.PID); len(d) < 2 {
		t.Fatalf("descendants of %d: %v", p.PID, d)
	}
	if err := StopAll(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	if left := GroupMembers(p.PID); len(left) != 0 {
		t.Fatalf("left: %v", left)
	}
}

func TestPorts(t *testing.T) {
	ports, err := FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	if ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Fatalf("ports not distinct: %v", ports)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if PortFree(port) || CheckPortFree(port) == nil {
		t.Fatal("a listening port reported free")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := WaitListening(ctx, port, nil); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := WaitPortsFree(ctx, port); err != nil {
		t.Fatal(err)
	}
}

func TestWaitListeningNoticesExit(t *testing.T) {
	p, err := Start("quitter", exec.Command("sh", "-c", "exit 3"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(0, time.Second)
	ports, _ := FreePorts(1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := WaitListening(ctx, ports[0], p); err == nil || ctx.Err() != nil {
		t.Fatalf("expected an early 'exited' error, got %v (ctx %v)", err, ctx.Err())
	}
}

// wsgilab killed outright (SIGKILL: no handler runs): the guard still ends the process groups it
// had started, children included, which Pdeathsig alone would leave orphaned, and removes the
// directories registered with RemoveOnKill, except one taken back with KeepOnExit. The
// "wsgilab" here is this test binary re-executed as a helper.
func TestGuardEndsGroupsWhenKilled(t *testing.T) {
	if os.Getenv("WSGILAB_PROC_HELPER") == "1" {
		p, err := Start("helper-group", exec.Command("sh", "-c", "sleep 300 & sleep 300"), "")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		dir, err := os.MkdirTemp("", "wsgilab-guard-test-")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		kept, err := os.MkdirTemp("", "wsgilab-guard-test-kept-")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		RemoveOnKill(dir)
		RemoveOnKill(kept)
		KeepOnExit(kept)
		fmt.Println(p.PID, dir, kept)
		select {} // until killed
	}
	helper := exec.Command(os.Args[0], "-test.run=^TestGuardEndsGroupsWhenKilled$")
	helper.Env = append(os.Environ(), "WSGILAB_PROC_HELPER=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	var pgid int
	var dir, kept string
	if _, err := fmt.Fscan(out, &pgid, &dir, &kept); err != nil || pgid <= 0 {
		helper.Process.Kill()
		t.Fatalf("helper did not report its group: %v", err)
	}
	defer os.RemoveAll(kept)
	// Generous deadlines: they bound a wait for a condition, they do not time anything.
	deadline := time.Now().Add(30 * time.Second)
	for len(GroupMembers(pgid)) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	members := GroupMembers(pgid)
	if len(members) < 2 {
		helper.Process.Kill()
		t.Fatalf("group %d: %v, want the leader and its child", pgid, members)
	}
	helper.Process.Kill() // SIGKILL
	helper.Wait()
	deadline = time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		alive := 0
		for _, pid := range members {
			if syscall.Kill(pid, 0) == nil {
				if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(b), ") Z ") {
					alive++
				}
			}
		}
		_, statErr := os.Stat(dir)
		if alive == 0 && os.IsNotExist(statErr) {
			// The guard is done once the registered directory is gone: the kept one stays.
			if _, err := os.Stat(kept); err != nil {
				t.Errorf("the directory taken back with KeepOnExit was removed: %v", err)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	os.RemoveAll(dir)
	t.Fatalf("after their starter was killed: group %d members %v, temp dir %s still there?", pgid, GroupMembers(pgid), dir)
}

// wsgilab killed outright with changes registered through UndoOnKill: the guard runs the undo
// command still registered and not the one whose change wsgilab had already undone (done). The
// "wsgilab" is this test binary re-executed as a helper; the changes are files, the undos
// write a second file each.
func TestGuardUndoesWhenKilled(t *testing.T) {
	if os.Getenv("WSGILAB_PROC_HELPER") == "undo" {
		dir := os.Getenv("WSGILAB_PROC_DIR")
		if _, err := UndoOnKill("touch " + filepath.Join(dir, "undone-by-guard")); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		done, err := UndoOnKill("touch " + filepath.Join(dir, "undone-twice"))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		done() // wsgilab undid this one itself
		done()
		if _, err := UndoOnKill("two\nlines"); err == nil {
			fmt.Println("error: a command of two lines was accepted")
			os.Exit(1)
		}
		// A process group too, so that the guard's end (its groups killed) can be waited for.
		p, err := Start("helper-group", exec.Command("sleep", "300"), "")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(p.PID)
		select {} // until killed
	}
	dir := t.TempDir()
	helper := exec.Command(os.Args[0], "-test.run=^TestGuardUndoesWhenKilled$")
	helper.Env = append(os.Environ(), "WSGILAB_PROC_HELPER=undo", "WSGILAB_PROC_DIR="+dir)
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	var pgid int
	if _, err := fmt.Fscan(out, &pgid); err != nil || pgid <= 0 {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("helper did not report its group: %v", err)
	}
	helper.Process.Kill() // SIGKILL
	helper.Wait()
	// The guard runs the undos before it kills the groups: once the group is gone, they ran.
	deadline := time.Now().Add(30 * time.Second)
	for len(GroupMembers(pgid)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if left := GroupMembers(pgid); len(left) > 0 {
		t.Fatalf("group %d still has %v", pgid, left)
	}
	if _, err := os.Stat(filepath.Join(dir, "undone-by-guard")); err != nil {
		t.Errorf("the registered undo did not run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "undone-twice")); err == nil {
		t.Error("the guard ran an undo that wsgilab had marked done")
	}
}
