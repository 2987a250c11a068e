package apache

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"wsgilab/apps/fakeservice"
	"wsgilab/internal/proc"
	"wsgilab/internal/testsupport"
)

func freePort(t *testing.T) int {
	t.Helper()
	ports, err := proc.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return ports[0]
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// assertGone checks that no PID of pids is alive and the port is free.
func assertGone(t *testing.T, pids []int, port int) {
	t.Helper()
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
				t.Errorf("pid %d still alive after Stop: %s", pid, st)
			}
		}
	}
	if !proc.PortFree(port) {
		t.Errorf("port %d still in use after Stop", port)
	}
}

// The fake service without a transport URL serves / and /status (no broker needed); one
// server per MPM x mode, started in parallel. Checks the app's environment, the daemon's
// processes and threads as the app sees them, the MPM as apachectl -M and server-status
// report it, the access log format, and that Stop leaves nothing.
func TestStartServesEveryMPMAndMode(t *testing.T) {
	for _, mpm := range MPMs {
		for _, mode := range Modes {
			t.Run(mpm+"-"+mode, func(t *testing.T) {
				t.Parallel()
				dir := testsupport.Dir(t)
				app, _, err := fakeservice.Write(filepath.Join(dir, "app"))
				if err != nil {
					t.Fatal(err)
				}
				c := Config{Dir: filepath.Join(dir, "apache"), Port: freePort(t), MPM: mpm, Mode: mode, AppPath: app,
					Env: []string{"WSGILAB_TOPIC=topic-" + mpm + "-" + mode, "WSGILAB_HEARTBEAT=pthread"}}
				if mode == "daemon" {
					c.Processes, c.Threads, c.Preload = 2, 3, true
				}
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				t0 := time.Now()
				s, err := Start(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("started in %v", time.Since(t0).Round(time.Millisecond))
				stopped := false
				defer func() {
					if !stopped {
						s.Stop()
					}
				}()

				if got, want := s.LoadedMPM(), "mpm_"+mpm+"_module (shared)"; got != want {
					t.Errorf("LoadedMPM() = %q, want %q", got, want)
				}
				code, hdr, body := get(t, s.URL()+"/")
				if code != 200 || body != "ok\n" || hdr.Get("X-App-Time-Us") == "" || hdr.Get("X-Pid") == "" {
					t.Fatalf("GET /: %d %v %q", code, hdr, body)
				}
				_, _, body = get(t, s.URL()+"/status")
				var st struct {
					PID               int    `json:"pid"`
					Topic             string `json:"topic"`
					Heartbeat         string `json:"heartbeat"`
					ProcessGroup      string `json:"process_group"`
					ThreadsPerProcess int    `json:"threads_per_process"`
					MaximumProcesses  int    `json:"maximum_processes"`
					Multithread       bool   `json:"multithread"`
				}
				if err := json.Unmarshal([]byte(body), &st); err != nil {
					t.Fatalf("/status: %v: %s", err, body)
				}
				// The launching environment reaches os.environ in both modes.
				if st.Topic != "topic-"+mpm+"-"+mode || st.Heartbeat != "pthread" {
					t.Errorf("environment did not reach the app: %s", body)
				}
				roles := map[string]int{}
				for _, p := range s.Processes() {
					roles[p.Role]++
				}
				if mode == "daemon" {
					if st.ProcessGroup != DaemonGroup || st.ThreadsPerProcess != 3 || st.MaximumProcesses != 2 || !st.Multithread {
						t.Errorf("daemon app sees %+v", st)
					}
					if roles["wsgi-daemon"] != 2 {
						t.Errorf("processes by role: %v, want 2 wsgi-daemon", roles)
					}
				} else {
					if st.ProcessGroup != "" || roles["wsgi-daemon"] != 0 {
						t.Errorf("embedded app sees %+v, processes %v", st, roles)
					}
					if st.Multithread != (mpm != "prefork") {
						t.Errorf("embedded under %s: wsgi.multithread=%v", mpm, st.Multithread)
					}
				}
				code, _, body = get(t, s.StatusURL()+"?auto")
				if code != 200 || !strings.Contains(body, "ServerMPM: "+mpm) {
					t.Errorf("server-status: %d %s", code, body)
				}

				// The access log names the app's process and time (Apache writes it at the end of
				// each request, so the lines are there by now).
				logData, err := os.ReadFile(s.AccessLog())
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(logData), `"GET /status HTTP/1.1" 200 `) ||
					!strings.Contains(string(logData), " "+strconv.Itoa(st.PID)+" ") {
					t.Errorf("access log lacks the /status line with app pid %d:\n%s", st.PID, logData)
				}
				errLog, _ := os.ReadFile(s.ErrorLog())
				if !strings.Contains(string(errLog), "Loading Python script file") {
					t.Errorf("error log lacks mod_wsgi's info lines:\n%s", errLog)
				}

				pids := s.PIDs()
				t0 = time.Now()
				if err := s.Stop(); err != nil {
					t.Fatal(err)
				}
				stopped = true
				t.Logf("%d processes stopped in %v", len(pids), time.Since(t0).Round(time.Millisecond))
				assertGone(t, pids, c.Port)
			})
		}
	}
}

// Stop kills a process once it has logged mod_wsgi's "Terminating Python" rather than wait for
// Python's finalisation: a prefork server whose children all loaded the fake service (their
// finalisations run at once, 0.2 s of CPU each) has some cut short, only ones that logged the
// line and never finished it ("Python has shutdown"), and nothing is left.
func TestStopCutsFinalisationShort(t *testing.T) {
	dir := testsupport.Dir(t)
	app, _, err := fakeservice.Write(filepath.Join(dir, "app"))
	if err != nil {
		t.Fatal(err)
	}
	const children = 6
	c := Config{Dir: filepath.Join(dir, "apache"), Port: freePort(t), MPM: "prefork", Mode: "embedded", AppPath: app,
		StartServers: children, MaxSpareServers: 64}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s, err := Start(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			s.Stop()
		}
	}()
	// Concurrent requests until every child has answered one (each child loads the app at its
	// first request).
	served := map[string]bool{}
	for len(served) < children && ctx.Err() == nil {
		pids := make(chan string, children)
		for range children {
			go func() {
				resp, err := http.Get(s.URL() + "/")
				if err != nil {
					pids <- ""
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				pids <- resp.Header.Get("X-Pid")
			}()
		}
		for range children {
			if pid := <-pids; pid != "" {
				served[pid] = true
			}
		}
	}
	if len(served) < children {
		t.Fatalf("only %d of %d children answered: %v", len(served), children, ctx.Err())
	}

	pids := s.PIDs()
	t0 := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	cut := s.FinalisationCut()
	t.Logf("%d processes stopped in %v, %d cut in finalisation: %v", len(pids), time.Since(t0).Round(time.Millisecond), len(cut), cut)
	assertGone(t, pids, c.Port)
	errLog, err := os.ReadFile(s.ErrorLog())
	if err != nil {
		t.Fatal(err)
	}
	if len(cut) == 0 {
		t.Fatalf("no process cut short in finalisation; the log's end:\n%s", tail(string(errLog), 40))
	}
	for _, pid := range cut {
		tag := "mod_wsgi (pid=" + strconv.Itoa(pid) + "): "
		if !strings.Contains(string(errLog), tag+"Terminating Python.") || strings.Contains(string(errLog), tag+"Python has shutdown.") {
			t.Errorf("pid %d was cut, but the log does not show it in finalisation:\n%s", pid, tail(string(errLog), 40))
		}
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// processesMentioning lists the live processes whose command line contains s (e.g. a run dir:
// Apache's children and mod_wsgi daemons keep the parent's "-f DIR/httpd.conf").
func processesMentioning(s string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), s) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

func TestStartAppRaisesAtImport(t *testing.T) {
	for _, mode := range Modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			app := testApp(t, "raise RuntimeError('boom at import')\n")
			c := Config{Dir: filepath.Join(testsupport.Dir(t), "apache"), Port: freePort(t), MPM: "event", Mode: mode, AppPath: app}
			if mode == "daemon" {
				c.Processes, c.Threads = 1, 1
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			s, err := Start(ctx, c)
			if err == nil {
				s.Stop()
				t.Fatal("Start succeeded with an app that raises at import")
			}
			if !strings.Contains(err.Error(), "RuntimeError: boom at import") || !strings.Contains(err.Error(), app) {
				t.Errorf("error does not name the app and its exception: %v", err)
			}
			t.Log(err)
			if left := processesMentioning(c.Dir); len(left) != 0 {
				t.Errorf("left running: %v", left)
			}
			if !proc.PortFree(c.Port) {
				t.Errorf("port %d still in use", c.Port)
			}
		})
	}
}

func TestStartPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := Config{Dir: filepath.Join(testsupport.Dir(t), "apache"), Port: l.Addr().(*net.TCPAddr).Port, MPM: "event",
		Mode: "embedded", AppPath: testApp(t, helloApp)}
	_, err = Start(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("want 'already in use', got %v", err)
	}
}

// A broken module passes Validate but not `apache2 -t`, whose output must reach the caller.
func TestStartConfigTestFails(t *testing.T) {
	mods := testsupport.Dir(t)
	for _, m := range []string{"mod_mpm_event.so", "mod_authz_core.so", "mod_authz_host.so", "mod_status.so"} {
		if err := os.Symlink(filepath.Join(ModulesDir, m), filepath.Join(mods, m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(mods, "mod_wsgi.so"), []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func(old string) { ModulesDir = old }(ModulesDir)
	ModulesDir = mods
	c := Config{Dir: filepath.Join(testsupport.Dir(t), "apache"), Port: freePort(t), MPM: "event", Mode: "embedded",
		AppPath: testApp(t, helloApp)}
	_, err := Start(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "apache2 -t") || !strings.Contains(err.Error(), "Cannot load") {
		t.Fatalf("want apache2 -t's 'Cannot load' output, got %v", err)
	}
}

func TestMissingPackages(t *testing.T) {
	app := testApp(t, helloApp)
	c := Config{Dir: filepath.Join(testsupport.Dir(t), "apache"), Port: freePort(t), MPM: "event", Mode: "embedded", AppPath: app}
	defer func(b, m string) { Binary, ModulesDir = b, m }(Binary, ModulesDir)

	Binary = "/nonexistent/apache2"
	if _, err := Start(context.Background(), c); err == nil || !strings.Contains(err.Error(), "install package apache2-bin") {
		t.Errorf("missing binary: %v", err)
	}
	Binary = "/usr/sbin/apache2"
	mods := testsupport.Dir(t)
	for _, m := range []string{"mod_mpm_event.so", "mod_status.so"} {
		os.Symlink(filepath.Join("/usr/lib/apache2/modules", m), filepath.Join(mods, m))
	}
	ModulesDir = mods
	if _, err := Start(context.Background(), c); err == nil || !strings.Contains(err.Error(), "install package libapache2-mod-wsgi-py3") {
		t.Errorf("missing mod_wsgi: %v", err)
	}
}

// A run directory too deep for a unix socket path (sun_path is 108 bytes): the mod_wsgi daemon
// sockets go to a short directory of their own, which Stop removes.
func TestDaemonModeInDeepDirectory(t *testing.T) {
	app := testApp(t, "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n")
	deep := filepath.Join(testsupport.Dir(t), strings.Repeat("d", 60), strings.Repeat("e", 40))
	c := Config{Dir: filepath.Join(deep, "apache"), Port: freePort(t), MPM: "event", Mode: "daemon",
		Processes: 1, Threads: 1, AppPath: app}
	if socketPathFits(c.socketPrefix()) {
		t.Fatalf("test directory %s is not deep enough", c.Dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Start(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	sockDir := s.ownSocketDir
	if sockDir == "" || !socketPathFits(filepath.Join(sockDir, "wsgi")) {
		t.Errorf("socket dir %q", sockDir)
	}
	resp, err := http.Get(s.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET / = %d", resp.StatusCode)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sockDir); !os.IsNotExist(err) {
		t.Errorf("socket dir %s left behind (%v)", sockDir, err)
	}
}
