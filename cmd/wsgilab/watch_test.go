package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"wsgilab/internal/broker"
	"wsgilab/internal/testsupport"
	"wsgilab/internal/watch"
)

// Bad input is one line and exit 2 before anything is contacted.
func TestWatchBadInput(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "--management is required"},
		{[]string{"--management", "https://127.0.0.1:15672/"}, "https is not supported"},
		{[]string{"--management", "http://127.0.0.1:15672/api/connections"}, "give the API's root"},
		{[]string{"--management", "http://127.0.0.1:15672/", "--interval", "0s"}, "--interval 0s: must be > 0"},
		{[]string{"--management", "http://127.0.0.1:15672/", "--broker-log", "/nonexistent-wsgilab/rabbit.log"}, "--broker-log: stat /nonexistent-wsgilab/rabbit.log"},
		{[]string{"--management", "http://127.0.0.1:15672/", "--count", "-1"}, "--count -1: must be >= 0"},
		{[]string{"--interval", "soon"}, `invalid argument "soon" for "--interval"`},
	} {
		var stdout, stderr strings.Builder
		code := run(append([]string{"watch"}, tt.args...), &stdout, &stderr)
		msg := stderr.String()
		if code != 2 || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "wsgilab watch: ") || !strings.Contains(msg, tt.want) {
			t.Errorf("%v: exit %d, stderr %q: want exit 2 and one line containing %q", tt.args, code, msg, tt.want)
		}
	}
}

// upService is what a `wsgilab up` banner says of the service.
type upService struct {
	url, vhost string
}

func waitUpBanner(t *testing.T, u *upProcess) upService {
	t.Helper()
	waitFor(t, "the ready banner", 3*time.Minute, func() bool {
		select {
		case <-u.done:
			t.Fatalf("wsgilab up exited %d:\n%s\n%s", u.code, u.stdout, u.stderr)
		default:
		}
		return strings.Contains(u.stdout.String(), "Ctrl-C to stop")
	})
	var s upService
	sc := bufio.NewScanner(strings.NewReader(u.stdout.String()))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Service":
			s.url = strings.TrimSuffix(f[1], "/")
		case len(f) >= 2 && f[0] == "vhost":
			s.vhost = f[1]
		}
	}
	if s.url == "" || s.vhost == "" {
		t.Fatalf("no service URL or vhost in the banner:\n%s", u.stdout)
	}
	return s
}

func getOK(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
}

// connectionSet is a vhost's connections as the broker lists them, as comparable strings.
func connectionSet(t *testing.T, b *broker.Broker, vhost string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cs, err := b.Connections(ctx, vhost)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.Key()+" "+c.ClientName+" "+c.State)
	}
	slices.Sort(out)
	return out
}

// watchProcess is `wsgilab watch --json` running, its samples collected as they come.
type watchProcess struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	samples []watch.Sample
	raw     []string
	done    chan struct{}
	stderr  *lockedBuffer
}

func startWatch(t *testing.T, bin string, args ...string) *watchProcess {
	t.Helper()
	w := &watchProcess{done: make(chan struct{}), stderr: &lockedBuffer{}}
	w.cmd = exec.Command(bin, append([]string{"watch", "--json"}, args...)...)
	w.cmd.Stderr = w.stderr
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var s watch.Sample
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				w.mu.Lock()
				w.raw = append(w.raw, "unparsable: "+sc.Text())
				w.mu.Unlock()
				continue
			}
			w.mu.Lock()
			w.samples = append(w.samples, s)
			w.raw = append(w.raw, sc.Text())
			w.mu.Unlock()
		}
		w.cmd.Wait()
	}()
	t.Cleanup(func() {
		w.cmd.Process.Signal(syscall.SIGINT)
		<-w.done
	})
	return w
}

func (w *watchProcess) snapshot() []watch.Sample {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]watch.Sample(nil), w.samples...)
}

// `wsgilab watch` against stacks that `wsgilab up` started on one broker: it shows a green
// heartbeat's connections dropping through an idle, each close with the time the broker's log
// gives it, after the broker wrote it; and it changes nothing: a stack with a native heartbeat
// keeps the same connections and processes before and after being watched, and watch saw them.
func TestWatch(t *testing.T) {
	bin := buildWsgilab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b := testsupport.Broker(t, ctx)
	brokerArgs := testsupport.BrokerFlags(b)
	mgmt := brokerArgs[3]

	// A 2 s heartbeat in a green thread: mod_wsgi lets it starve, the broker closes after 4-6 s.
	greenDir, steadyDir := testsupport.Dir(t), testsupport.Dir(t)
	greenUp := startUp(t, bin, append([]string{"--dir", greenDir, "--mpm", "event", "--mode", "daemon", "--processes", "2",
		"--threads", "1", "--heartbeat-timeout", "2"}, brokerArgs...)...)
	steadyUp := startUp(t, bin, append([]string{"--dir", steadyDir, "--mpm", "event", "--mode", "daemon", "--processes", "2",
		"--threads", "1", "--heartbeat", "pthread"}, brokerArgs...)...)
	green, steady := waitUpBanner(t, greenUp), waitUpBanner(t, steadyUp)

	t.Run("read-only", func(t *testing.T) {
		for range 6 {
			getOK(t, steady.url+"/cast")
		}
		// The management API lists a new connection on its next statistics round (1 s on a
		// private node): wait until the list has settled.
		var before []string
		waitFor(t, "the steady stack's connections to settle", time.Minute, func() bool {
			a := connectionSet(t, b, steady.vhost)
			time.Sleep(1500 * time.Millisecond)
			before = connectionSet(t, b, steady.vhost)
			return len(before) > 0 && slices.Equal(a, before)
		})
		procsBefore := processesUnder(steadyDir)
		w := startWatch(t, bin, "--management", mgmt, "--match", "mod_wsgi", "--interval", "300ms", "--count", "5")
		<-w.done
		if code := w.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("watch --count 5: exit %d\n%s", code, w.stderr)
		}
		after, procsAfter := connectionSet(t, b, steady.vhost), processesUnder(steadyDir)
		if !slices.Equal(before, after) {
			t.Errorf("the broker's connections changed while watched:\nbefore %v\nafter  %v", before, after)
		}
		if !slices.Equal(procsBefore, procsAfter) {
			t.Errorf("the processes changed while watched:\nbefore %v\nafter  %v", procsBefore, procsAfter)
		}
		// And watch saw them: every connection of the vhost, established, under its process.
		samples := w.snapshot()
		if len(samples) != 5 {
			t.Fatalf("%d samples, want 5", len(samples))
		}
		last := samples[len(samples)-1]
		seen := map[int]bool{}
		for _, p := range last.Processes {
			for _, c := range p.Connections {
				if c.Vhost == steady.vhost && c.Socket == "ESTABLISHED" && c.BrokerState == "running" && broker.KombuPID(c.Name) == p.PID &&
					strings.HasPrefix(p.Server, "mod_wsgi daemon") {
					seen[c.ClientPort] = true
				}
			}
		}
		// The vhost's connections from mod_wsgi (the conductor's, "conductor.py:...", do not match).
		want := 0
		for _, c := range before {
			if strings.Contains(c, " mod_wsgi:") {
				want++
			}
		}
		if want == 0 || len(seen) != want {
			t.Errorf("watch shows %d of the vhost's %d mod_wsgi connections: %+v", len(seen), want, last)
		}
	})

	t.Run("heartbeat drop", func(t *testing.T) {
		w := startWatch(t, bin, "--management", mgmt, "--match", "mod_wsgi", "--broker-log", b.LogPath, "--interval", "250ms")
		waitFor(t, "watch's first sample", time.Minute, func() bool { return len(w.snapshot()) > 0 })
		for range 6 {
			getOK(t, green.url+"/cast")
		}
		// Then idle: nothing runs the green heartbeat.
		var closed watch.Close
		var at time.Time
		waitFor(t, "a heartbeat close of the green stack in watch's output", 2*time.Minute, func() bool {
			for _, s := range w.snapshot() {
				for _, c := range s.Closes {
					if c.Rule == "missed_heartbeats" && c.Vhost == green.vhost {
						closed, at = c, s.T
						return true
					}
				}
			}
			return false
		})
		// The time watch gives the close is the broker log's, and watch showed it after the
		// broker wrote it.
		logged := brokerLogClose(t, b.LogPath, closed.ClientPort)
		if !closed.T.Equal(logged) {
			t.Errorf("watch says the close of port %d was at %v, the broker's log %v", closed.ClientPort, closed.T, logged)
		}
		if at.Before(logged) {
			t.Errorf("watch reported the close in its sample of %v, before the broker logged it at %v", at, logged)
		}
		if closed.HeartbeatTimeout != 2 || broker.KombuPID(closed.Name) == 0 || closed.PID != broker.KombuPID(closed.Name) {
			t.Errorf("close %+v", closed)
		}
		// Before the close watch had the connection open under the process its name gives; in
		// the samples after, the broker no longer lists it and the churn counts it.
		var wasOpen, goneAfter bool
		for _, s := range w.snapshot() {
			listed := false
			for _, p := range s.Processes {
				for _, c := range p.Connections {
					if c.ClientPort == closed.ClientPort && c.BrokerState != "" && p.PID == closed.PID {
						listed = true
					}
				}
			}
			if s.T.Before(logged) && listed {
				wasOpen = true
			}
			if !s.T.Before(at) && !listed && s.ClosedTotal > 0 && s.ClosesTotal > 0 {
				goneAfter = true
			}
		}
		if !wasOpen || !goneAfter {
			t.Errorf("port %d: open before the close %v, gone after %v\n%s", closed.ClientPort, wasOpen, goneAfter, strings.Join(w.raw, "\n"))
		}
		w.cmd.Process.Signal(syscall.SIGINT)
		<-w.done
		if code := w.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("watch after SIGINT: exit %d\n%s", code, w.stderr)
		}
	})
}

// brokerLogClose is the time of the broker log's "closing AMQP connection" line for the client
// port (RabbitMQ's file log: "2026-12-02 04:41:07.179123+00:00 [error] <0.1.0> closing AMQP
// connection <0.1.0> (127.0.0.1:PORT -> ...").
func brokerLogClose(t *testing.T, path string, port int) time.Time {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^(\S+ \S+) \[\w+\] <[\d.]+> closing AMQP connection <[\d.]+> \(127\.0\.0\.1:` + strconv.Itoa(port) + ` `)
	for _, line := range strings.Split(string(b), "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			tm, err := time.Parse("2006-01-02 15:04:05.999999999-07:00", m[1])
			if err != nil {
				t.Fatal(err)
			}
			return tm
		}
	}
	t.Fatalf("no close of port %d in %s", port, path)
	return time.Time{}
}
