package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"wsgilab/internal/apache"
	"wsgilab/internal/proc"
	"wsgilab/internal/testsupport"
)

// Bad configurations fail in-process before anything starts: one "wsgilab up: ..." line on
// stderr, exit code 2 (as every subcommand's bad input), no process left.
func TestUpBadConfigs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	noWSGI := t.TempDir()
	for _, m := range []string{"mod_mpm_event.so", "mod_status.so"} {
		os.Symlink(filepath.Join(apache.ModulesDir, m), filepath.Join(noWSGI, m))
	}

	tests := []struct {
		name  string
		args  []string
		setup func() func()
		want  string
	}{
		{"unknown MPM", []string{"--mpm", "turbo"}, nil, `unknown MPM "turbo" (allowed: prefork, worker, event)`},
		{"threads=0", []string{"--mode", "daemon", "--threads", "0"}, nil, "--threads 0: must be >= 1"},
		{"processes=0 in embedded mode", []string{"--processes", "0"}, nil, "--processes 0: must be >= 1"},
		{"processes=0 in daemon mode", []string{"--mode", "daemon", "--processes", "0"}, nil, "--processes 0: must be >= 1"},
		{"missing --dir", []string{"--dir", "/nonexistent/dir"}, nil, "--dir: stat /nonexistent/dir: no such file or directory"},
		{"malformed --broker", []string{"--broker", "rabbit", "--management", "http://127.0.0.1:15672/"}, nil, `--broker "rabbit": not an AMQP URL`},
		{"malformed --management", []string{"--broker", "amqp://u:p@127.0.0.1:5672/", "--management", "https://h/"}, nil, "--management"},
		{"daemon option in embedded mode", []string{"--mode", "embedded", "--processes", "2"}, nil,
			"processes is a mod_wsgi daemon-mode option"},
		{"preload in embedded mode", []string{"--preload"}, nil, "preload is a mod_wsgi daemon-mode option"},
		{"unknown heartbeat", []string{"--heartbeat", "sometimes"}, nil, `unknown heartbeat mode "sometimes"`},
		{"port in use", []string{"--port", busy}, nil, "port " + busy + " on 127.0.0.1 is already in use"},
		{"missing app", []string{"--app", "/nonexistent/app.wsgi"}, nil, "WSGI app /nonexistent/app.wsgi does not exist"},
		{"broker without management", []string{"--broker", "amqp://u:p@127.0.0.1:5672/"}, nil, "--broker and --management go together"},
		{"apache2 not installed", nil, func() func() {
			old := apache.Binary
			apache.Binary = "/nonexistent/sbin/apache2"
			return func() { apache.Binary = old }
		}, "/nonexistent/sbin/apache2 is missing: install package apache2-bin"},
		{"mod_wsgi not installed", nil, func() func() {
			old := apache.ModulesDir
			apache.ModulesDir = noWSGI
			return func() { apache.ModulesDir = old }
		}, "mod_wsgi.so is missing: install package libapache2-mod-wsgi-py3"},
		{"bad flag", []string{"--processes", "two"}, nil, `invalid argument "two" for "--processes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				defer tt.setup()()
			}
			var stdout, stderr strings.Builder
			code := run(append([]string{"up"}, tt.args...), &stdout, &stderr)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stdout %q stderr %q", code, stdout.String(), stderr.String())
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "wsgilab up: ") || !strings.Contains(msg, tt.want) {
				t.Errorf("stderr %q: want one 'wsgilab up:' line containing %q", msg, tt.want)
			}
			if n := len(proc.Running()); n != 0 {
				t.Errorf("%d processes started", n)
			}
		})
	}
}

// buildWsgilab builds the binary into the test's temp dir (the build cache makes the second
// build a link).
func buildWsgilab(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wsgilab")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// upProcess is a `wsgilab up` child process with its output collected.
type upProcess struct {
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	done           chan struct{}
	code           int
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startUp(t *testing.T, bin string, args ...string) *upProcess {
	t.Helper()
	u := &upProcess{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	u.cmd = exec.Command(bin, append([]string{"up"}, args...)...)
	u.cmd.Stdout, u.cmd.Stderr = u.stdout, u.stderr
	if err := u.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		u.cmd.Wait()
		u.code = u.cmd.ProcessState.ExitCode()
		close(u.done)
	}()
	t.Cleanup(func() {
		select {
		case <-u.done:
		default:
			u.cmd.Process.Signal(syscall.SIGTERM)
			<-u.done
		}
	})
	return u
}

// wait waits for the process to exit (at most d) and returns its exit code.
func (u *upProcess) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-u.done:
		return u.code
	case <-time.After(d):
		t.Fatalf("wsgilab up still running after %v\nstdout:\n%s\nstderr:\n%s", d, u.stdout, u.stderr)
		return -1
	}
}

// processesUnder lists live processes whose command line or initial environment mentions dir:
// Apache and its children (-f DIR/.../httpd.conf), the conductor (its script path), RabbitMQ's
// beam, epmd and helpers (RABBITMQ_* variables pointing below DIR).
func processesUnder(dir string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			continue // a zombie holds nothing
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		env, _ := os.ReadFile("/proc/" + e.Name() + "/environ")
		if strings.Contains(string(cmdline), dir) || strings.Contains(string(env), dir) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// assertNothingLeft checks that no process of the run is alive and the run dir is gone.
func assertNothingLeft(t *testing.T, parent string) {
	t.Helper()
	if left := processesUnder(parent); len(left) > 0 {
		t.Errorf("left running:\n%s", strings.Join(left, "\n"))
	}
	ents, _ := os.ReadDir(parent)
	for _, e := range ents {
		t.Errorf("run dir not removed: %s", filepath.Join(parent, e.Name()))
	}
}

// Ctrl-C while the private RabbitMQ node boots: the node, its epmd and helpers are stopped, the
// run dir is removed, the exit code says "interrupted".
func TestUpInterruptedWhileBrokerStarts(t *testing.T) {
	parent := testsupport.Dir(t)
	u := startUp(t, buildWsgilab(t), "--dir", parent)
	// Into the boot: the Erlang VM runs (the node is not up before it has run for seconds).
	waitFor(t, "the broker's Erlang VM", time.Minute, func() bool {
		return strings.Contains(strings.Join(processesUnder(parent), "\n"), "beam.smp")
	})
	u.cmd.Process.Signal(syscall.SIGINT)
	code := u.wait(t, 90*time.Second)
	if code != 130 || !strings.Contains(u.stderr.String(), "interrupted during start-up") {
		t.Errorf("exit %d, stderr:\n%s", code, u.stderr)
	}
	assertNothingLeft(t, parent)
}

// With one private broker for the rest (passed as an existing broker, which also exercises
// --broker/--management): an app raising at import, Ctrl-C while Apache starts, and a full
// up / serve / SIGTERM cycle.
func TestUpWithBroker(t *testing.T) {
	bin := buildWsgilab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := testsupport.Broker(t, ctx)
	brokerArgs := testsupport.BrokerFlags(b)
	upVhosts := func() []string {
		vs, err := b.Management().ListVhosts()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range vs {
			if strings.HasPrefix(v.Name, "wsgilab-up-") {
				out = append(out, v.Name)
			}
		}
		return out
	}

	t.Run("app raises at import", func(t *testing.T) {
		parent := testsupport.Dir(t)
		app := filepath.Join(testsupport.Dir(t), "broken.wsgi")
		os.WriteFile(app, []byte("raise RuntimeError('settings module not found (test)')\n"), 0o644)
		u := startUp(t, bin, append([]string{"--dir", parent, "--app", app, "--mode", "daemon", "--preload"}, brokerArgs...)...)
		code := u.wait(t, 90*time.Second)
		msg := u.stderr.String()
		if code == 0 || !strings.Contains(msg, "RuntimeError: settings module not found (test)") ||
			strings.Count(msg, "\n") != 1 {
			t.Errorf("exit %d, want one error line naming the exception; stderr:\n%s", code, msg)
		}
		assertNothingLeft(t, parent)
		if vs := upVhosts(); len(vs) > 0 {
			t.Errorf("vhosts left on the broker: %v", vs)
		}
	})

	t.Run("interrupted while Apache starts", func(t *testing.T) {
		parent := testsupport.Dir(t)
		// An import cost keeps the app loading long enough to be interrupted in the middle.
		u := startUp(t, bin, append([]string{"--dir", parent, "--import-cost", "3s", "--mpm", "prefork"}, brokerArgs...)...)
		// Apache's children run: the readiness request is in the app's 3 s import.
		waitFor(t, "Apache's parent and children", time.Minute, func() bool {
			return strings.Count(strings.Join(processesUnder(parent), "\n"), "httpd.conf") >= 2
		})
		u.cmd.Process.Signal(syscall.SIGINT)
		code := u.wait(t, 90*time.Second)
		if code != 130 {
			t.Errorf("exit %d, stderr:\n%s", code, u.stderr)
		}
		assertNothingLeft(t, parent)
		if vs := upVhosts(); len(vs) > 0 {
			t.Errorf("vhosts left on the broker: %v", vs)
		}
	})

	t.Run("up, serve, SIGTERM", func(t *testing.T) {
		parent := testsupport.Dir(t)
		t0 := time.Now()
		u := startUp(t, bin, append([]string{"--dir", parent, "--mpm", "event", "--mode", "daemon", "--processes", "2",
			"--threads", "1", "--heartbeat", "pthread"}, brokerArgs...)...)
		waitFor(t, "the ready banner", 2*time.Minute, func() bool {
			select {
			case <-u.done:
				t.Fatalf("exited %d:\n%s\n%s", u.code, u.stdout, u.stderr)
			default:
			}
			return strings.Contains(u.stdout.String(), "Ctrl-C to stop")
		})
		t.Logf("up in %v with the broker running", time.Since(t0).Round(time.Millisecond))
		out := u.stdout.String()
		for _, want := range []string{"mpm_event_module (shared)", "daemon mode, 2 process(es) x 1 thread(s)",
			"/server-status?auto", "  log       ", "access ", "(user " + b.AdminUser + ", password " + b.AdminPassword + ")",
			"Conductor   pid "} {
			if !strings.Contains(out, want) {
				t.Errorf("banner lacks %q:\n%s", want, out)
			}
		}
		var url string
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "Service" {
				url = f[1]
			}
		}
		resp, err := http.Get(url + "call")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "conductor_pid") {
			t.Errorf("GET %scall: %d %s", url, resp.StatusCode, body)
		}
		if len(upVhosts()) != 1 {
			t.Errorf("want the session's vhost on the broker, got %v", upVhosts())
		}
		t0 = time.Now()
		u.cmd.Process.Signal(syscall.SIGTERM)
		if code := u.wait(t, 90*time.Second); code != 0 {
			t.Errorf("exit %d after SIGTERM; stderr:\n%s", code, u.stderr)
		}
		t.Logf("torn down in %v", time.Since(t0).Round(time.Millisecond))
		assertNothingLeft(t, parent)
		if vs := upVhosts(); len(vs) > 0 {
			t.Errorf("vhosts left on the broker: %v", vs)
		}
	})
}
