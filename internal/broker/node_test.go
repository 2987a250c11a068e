package broker

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"wsgilab/internal/proc"
)

// The shared node is what StartPrivate promises: loopback only, files in its dir, a generated
// admin user instead of guest, and the processes the leak checks look for.
func TestPrivateNodeLayout(t *testing.T) {
	b := shared
	if !strings.HasPrefix(b.Node, "wsgilab-") || !strings.HasSuffix(b.Node, "@localhost") {
		t.Errorf("node name %q", b.Node)
	}
	// The target is 8 s, but timing is not asserted: packages' tests run in parallel on a
	// small machine and a loaded start-up is not a broken one.
	t.Logf("startup took %v (target 8 s)", b.StartupTime.Round(time.Millisecond))
	for _, f := range []string{b.LogPath, b.Dir + "/.erlang.cookie", b.Dir + "/rabbitmq.conf", b.Dir + "/mnesia"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("expected %s: %v", f, err)
		}
	}
	if b.ManagementURL() != fmt.Sprintf("http://127.0.0.1:%d/", b.ManagementPort) {
		t.Errorf("ManagementURL %q", b.ManagementURL())
	}
	// Every listener of the node and its epmd is on loopback.
	out, err := exec.Command("ss", "-Hltn").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, port := range b.Ports() {
		suffix := ":" + strconv.Itoa(port)
		found := false
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 4 || !strings.HasSuffix(f[3], suffix) {
				continue
			}
			found = true
			if !strings.HasPrefix(f[3], "127.0.0.1:") && !strings.HasPrefix(f[3], "[::1]:") {
				t.Errorf("port %d listens on %s, not loopback", port, f[3])
			}
		}
		if !found {
			t.Errorf("nothing listens on port %d", port)
		}
	}
	// guest must not exist; the admin can use the API.
	if _, err := b.Management().GetUser("guest"); err == nil {
		t.Error("user guest exists")
	}
	who, err := b.Management().Whoami()
	if err != nil || who.Name != b.AdminUser {
		t.Errorf("whoami: %+v %v", who, err)
	}
	// The leak checks find beam, its helpers and epmd by their environment marker.
	comms := commsOf(b.Processes())
	for _, want := range []string{"beam.smp", "epmd", "erl_child_setup"} {
		if comms[want] == 0 {
			t.Errorf("no %s among the node's processes %v", want, comms)
		}
	}
	// The VM a fault freezes is beam.smp itself, not a script that started it.
	if c := commsOf([]int{b.VMPID()}); c["beam.smp"] != 1 {
		t.Errorf("VMPID %d is %v, want beam.smp", b.VMPID(), c)
	}
}

// Two runs at once must not collide: names, ports, dirs, epmd. Both are started and stopped
// concurrently, and after Stop nothing of either is left.
func TestTwoPrivateNodesAtOnce(t *testing.T) {
	ctx := testContext(t, 90*time.Second)
	var (
		wg      sync.WaitGroup
		brokers [2]*Broker
		errs    [2]error
	)
	for i := range brokers {
		wg.Go(func() { brokers[i], errs[i] = StartPrivate(ctx, t.TempDir()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, b := range brokers {
				if b != nil {
					b.Stop()
				}
			}
			t.Fatalf("node %d: %v", i, err)
		}
	}
	a, b := brokers[0], brokers[1]
	t.Logf("started concurrently in %v and %v", a.StartupTime.Round(time.Millisecond), b.StartupTime.Round(time.Millisecond))
	if a.Node == b.Node || a.Dir == b.Dir {
		t.Errorf("same node name or dir: %s %s", a.Node, a.Dir)
	}
	seen := map[int]bool{}
	for _, p := range append(append(append([]int{}, a.Ports()...), b.Ports()...), shared.Ports()...) {
		if seen[p] {
			t.Errorf("port %d used twice", p)
		}
		seen[p] = true
	}
	// Each answers with its own credentials, about itself.
	for _, x := range brokers {
		ov, err := x.Management().Overview()
		if err != nil || ov.Node != x.Node {
			t.Errorf("overview of %s: %v %v", x.Node, ov, err)
		}
	}

	type snapshot struct {
		pids, ports []int
	}
	var snaps [2]snapshot
	for i, x := range brokers {
		snaps[i] = snapshot{markedProcesses(x.Node), x.Ports()}
	}
	var stopTimes [2]time.Duration
	for i, x := range brokers {
		wg.Go(func() {
			began := time.Now()
			errs[i] = x.Stop()
			stopTimes[i] = time.Since(began)
		})
	}
	wg.Wait()
	t.Logf("stopped concurrently in %v and %v", stopTimes[0].Round(time.Millisecond), stopTimes[1].Round(time.Millisecond))
	for i, x := range brokers {
		if errs[i] != nil {
			t.Errorf("stop %s: %v", x.Node, errs[i])
		}
		if p := leftovers(x.Node, snaps[i].pids, snaps[i].ports); len(p) > 0 {
			t.Errorf("%s left: %s", x.Node, strings.Join(p, "; "))
		}
		if err := x.Stop(); err != nil {
			t.Errorf("second Stop: %v", err)
		}
	}
	// The shared node did not notice.
	if _, err := shared.Management().Whoami(); err != nil {
		t.Errorf("shared node after the others stopped: %v", err)
	}
}

// A port taken between choosing and binding makes the boot fail; StartPrivate retries with
// new ports and leaves nothing of the failed attempt.
func TestRetryWhenPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	var calls int
	var firstPorts []int
	pickPorts = func(n int) ([]int, error) {
		calls++
		ports, err := proc.FreePorts(n)
		if calls == 1 && err == nil {
			ports[2] = takenPort // the distribution port: the node notices it first
			firstPorts = ports
		}
		return ports, err
	}
	defer func() { pickPorts = proc.FreePorts }()

	b, err := StartPrivate(testContext(t, 90*time.Second), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	if calls != 2 {
		t.Errorf("pickPorts called %d times, want 2", calls)
	}
	t.Logf("ready after one collision in %v (last attempt)", b.StartupTime.Round(time.Millisecond))
	for _, p := range firstPorts {
		if p != takenPort && !proc.PortFree(p) {
			t.Errorf("port %d of the failed attempt still in use", p)
		}
	}
	// Only the second attempt's epmd and node run.
	comms := commsOf(b.Processes())
	if comms["epmd"] != 1 || comms["beam.smp"] != 1 {
		t.Errorf("processes after a retry: %v", comms)
	}
}

// If wsgilab itself is killed with SIGKILL (no deferred Stop, no signal handler), the node and
// its epmd must still go: they carry the parent-death signal.
func TestHardKillLeavesNothing(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), hardKillHelperEnv+"="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "READY ") {
				lines <- sc.Text()
				return
			}
		}
		close(lines)
	}()
	var line string
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("helper exited without starting a node")
		}
		line = l
	case <-time.After(60 * time.Second):
		t.Fatal("helper did not start a node")
	}
	f := strings.Fields(line) // READY node port...
	node := f[1]
	var ports []int
	for _, s := range f[2:] {
		p, _ := strconv.Atoi(s)
		ports = append(ports, p)
	}
	pids := markedProcesses(node)
	if len(pids) < 3 {
		t.Fatalf("helper's node has processes %v", commsOf(pids))
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	// A generous deadline for the guard's work: it bounds the wait, it times nothing.
	deadline := time.Now().Add(60 * time.Second)
	for {
		problems := leftovers(node, pids, ports)
		if len(problems) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGKILL of wsgilab: %s", strings.Join(problems, "; "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const hardKillHelperEnv = "WSGILAB_BROKER_TEST_HARDKILL_DIR"

// hardKillHelper runs in the child process of TestHardKillLeavesNothing: start a node, say so,
// and wait to be killed.
func hardKillHelper(dir string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := StartPrivate(ctx, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Print("READY ", b.Node)
	for _, p := range b.Ports() {
		fmt.Print(" ", p)
	}
	fmt.Println()
	time.Sleep(2 * time.Minute)
	b.Stop()
	return 1
}

// The CLI works against the private node with the environment CtlCommand gives it (cookie in
// the run dir, the node's own epmd).
func TestCtlCommand(t *testing.T) {
	v := newTestVhost(t, shared, "wsgilab-test-ctl")
	cmd, err := shared.CtlCommand(testContext(t, 30*time.Second), "rabbitmqctl", "-q", "list_vhosts")
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	if !strings.Contains(string(out), v.Name) {
		t.Errorf("list_vhosts does not show %s:\n%s", v.Name, out)
	}
	if _, err := (&Broker{}).CtlCommand(context.Background(), ""); err == nil {
		t.Error("CtlCommand on an existing broker should fail")
	}
}

// A boot cut short by its context leaves nothing running.
func TestStartPrivateCancelled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	b, err := StartPrivate(ctx, dir)
	if err == nil {
		b.Stop()
		t.Fatal("a node booted in 1.5 s; this test needs a slower boot")
	}
	t.Logf("cancelled boot: %.200s", err)
	home := "HOME=" + dir + "/rabbitmq"
	for pid, env := range privateNodeEnvs() {
		if slices.Contains(env, home) {
			t.Errorf("process of the cancelled node still running:\n%s", psList([]int{pid}))
		}
	}
}

// privateNodeEnvs maps every live process of any private node to its environment.
func privateNodeEnvs() map[int][]string {
	out := map[int][]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		env := strings.Split(string(data), "\x00")
		for _, kv := range env {
			if strings.HasPrefix(kv, markerEnv+"=") {
				out[pid] = env
				break
			}
		}
	}
	return out
}

func TestStartPrivateBadDir(t *testing.T) {
	file := t.TempDir() + "/file"
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := StartPrivate(context.Background(), file); err == nil {
		t.Error("StartPrivate in a regular file succeeded")
	}
}
