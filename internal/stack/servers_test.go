package stack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"wsgilab/internal/observe"
	"wsgilab/internal/proc"
	"wsgilab/internal/server"
	"wsgilab/internal/testsupport"
)

// uWSGI and gunicorn cells on the real stack: each serves the fake service (/, /cast, /call),
// its two workers are its app processes and the ones that answer, what the server says it runs
// is read from its own log, the app's stderr lands in that log, its AMQP connections carry the
// serving worker's PID, and Stop leaves no process and a free port. Start-up and teardown times
// are logged (the 3 s is measured, not asserted: timings drift on two shared cores).
func TestOtherServers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		o      server.Options
		loaded []string // words of Loaded()
		kombu  string   // kombu's name prefix: the process's argv[0]
	}{
		{"uwsgi-threads", server.Options{Server: "uwsgi", Processes: 2, EnableThreads: true},
			[]string{"uWSGI 2.0", "Python threads on", "app imported in the master before the fork"}, "uwsgi:"},
		{"uwsgi-lazy", server.Options{Server: "uwsgi", Processes: 2, LazyApps: true},
			[]string{"Python threads off", "app imported in each worker"}, "uwsgi:"},
		{"gunicorn-eventlet", server.Options{Server: "gunicorn", Processes: 2, Worker: "eventlet"},
			[]string{"gunicorn 20.1", "eventlet workers"}, "gunicorn:"},
		{"gunicorn-sync-preload", server.Options{Server: "gunicorn", Processes: 2, Preload: true},
			[]string{"sync workers", "app imported in the arbiter before the fork"}, "gunicorn:"},
	}
	opts := make([]Options, len(cases))
	names := make([]string, len(cases))
	for i, cc := range cases {
		opts[i] = Options{Options: cc.o, MonkeyPatch: true, Heartbeat: "pthread", HeartbeatTimeout: 30}
		names[i] = cc.name
	}
	cells, errs := startAll(t, names, opts)
	for i, cc := range cases {
		t.Run(cc.name, func(t *testing.T) {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			c := cells[i]
			t.Logf("serving /call %v after Start (%s)", c.StartupTime.Round(time.Millisecond), c.Server.Loaded())
			for _, w := range cc.loaded {
				if !strings.Contains(c.Server.Loaded(), w) {
					t.Errorf("Loaded() = %q, want it to say %q", c.Server.Loaded(), w)
				}
			}
			workers := c.AppProcesses()
			var workerPIDs []int
			for _, p := range workers {
				workerPIDs = append(workerPIDs, p.PID)
			}
			if len(workers) != 2 || c.AppRole() != server.RoleWorker {
				t.Fatalf("app processes %v (role %s), want 2 workers", workers, c.AppRole())
			}
			for _, path := range []string{"/", "/cast", "/call"} {
				code, hdr, body := get(t, c.URL()+path)
				pid, _ := strconv.Atoi(hdr.Get("X-Pid"))
				if code != 200 || !slices.Contains(workerPIDs, pid) {
					t.Fatalf("GET %s: %d, X-Pid %q (workers %v): %s", path, code, hdr.Get("X-Pid"), workerPIDs, body)
				}
			}
			st := statusWithConnections(t, c.URL())
			if !slices.Contains(workerPIDs, st.PID) {
				t.Errorf("/status pid %d is not a worker %v", st.PID, workerPIDs)
			}
			for _, conn := range st.Connections {
				if want := cc.kombu + strconv.Itoa(st.PID) + ":"; !strings.HasPrefix(conn.Name, want) {
					t.Errorf("connection named %q, want %s...", conn.Name, want)
				}
			}
			// The app's own stderr is in the server's log, through the server's log format.
			events, err := observe.ReadProcessEvents(server.LogFile(c.Server))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(events, func(e observe.Event) bool { return e.Rule == "app_loaded" && e.Fields.Seconds > 0 }) {
				t.Errorf("no app_loaded line in %s: %+v", c.Server.Log(), events)
			}
			entries, err := accessEntries(c.Server.AccessLog())
			if err != nil || !slices.ContainsFunc(entries, func(e observe.AccessEntry) bool {
				return e.URL == "/call" && slices.Contains(workerPIDs, e.ApachePID) && e.ApacheUs > 0
			}) {
				t.Errorf("access log %s has no /call of a worker (%v): %+v", c.Server.AccessLog(), err, entries)
			}
		})
	}

	for i, cc := range cases {
		c := cells[i]
		if c == nil {
			continue
		}
		pids := c.PIDs()
		t0 := time.Now()
		if err := c.Stop(); err != nil {
			t.Errorf("%s: Stop: %v", cc.name, err)
		}
		t.Logf("%s: %d processes stopped in %v", cc.name, len(pids), time.Since(t0).Round(time.Millisecond))
		for _, pid := range pids {
			if alive(pid) {
				t.Errorf("%s: pid %d alive after Stop", cc.name, pid)
			}
		}
		if !proc.PortFree(c.Port()) {
			t.Errorf("%s: port %d in use after Stop", cc.name, c.Port())
		}
	}
}

func accessEntries(path string) ([]observe.AccessEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []observe.AccessEntry
	for _, line := range strings.Split(string(b), "\n") {
		if e, ok := observe.ParseAccessLine(line); ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// A user's app that raises at import under uWSGI and gunicorn: Start fails naming the exception,
// the error carries the server's log for evidence, and nothing is left running.
func TestOtherServersAppRaisesAtImport(t *testing.T) {
	t.Parallel()
	for _, srv := range []string{"uwsgi", "gunicorn"} {
		t.Run(srv, func(t *testing.T) {
			dir := testsupport.Dir(t)
			app := filepath.Join(dir, "broken.wsgi")
			if err := os.WriteFile(app, []byte("raise ImportError('no module named novaclient (test)')\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c, err := Start(ctx, filepath.Join(dir, "cell"), testsupport.Vhost(t, "test-broken-"+srv),
				Options{Options: server.Options{Server: srv, Processes: 1}, AppPath: app})
			if err == nil {
				c.Stop()
				t.Fatal("Start succeeded with an app that raises at import")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), "ImportError: no module named novaclient (test)") {
				t.Errorf("error does not name the app's exception: %v", err)
			}
			var se *StartError
			if !errors.As(err, &se) || se.Log.Source != srv {
				t.Errorf("error carries no %s log: %#v", srv, err)
			}
			if left := processesMentioning(dir); len(left) > 0 {
				t.Errorf("left running: %v", left)
			}
		})
	}
}

// Each server's knobs are refused by the others, before anything starts.
func TestServerKnobsValidate(t *testing.T) {
	for _, tt := range []struct {
		o    server.Options
		want string
	}{
		{server.Options{Server: "uwsgi", Worker: "eventlet"}, `worker class "eventlet" is a gunicorn option`},
		{server.Options{Server: "uwsgi", MPM: "event"}, "do not apply to uWSGI"},
		{server.Options{Server: "uwsgi", Threads: 4}, "threads must be 1 with Python threads off"},
		{server.Options{Server: "gunicorn", EnableThreads: true}, "uWSGI options, not gunicorn's"},
		{server.Options{Server: "gunicorn", Worker: "tornado"}, `unknown gunicorn worker class "tornado"`},
		{server.Options{Server: "gunicorn", Threads: 4}, "only the gthread worker runs threads"},
		{server.Options{Server: "apache", MPM: "event", Mode: "embedded", Worker: "sync"}, "gunicorn option, not Apache's"},
		{server.Options{Server: "tomcat"}, `unknown server "tomcat" (allowed: apache, uwsgi, gunicorn)`},
		{server.Options{Server: "gunicorn", Worker: "gthread", Threads: 4}, ""},
		{server.Options{Server: "uwsgi", EnableThreads: true, Threads: 4, LazyApps: true}, ""},
	} {
		err := (Options{Options: tt.o}).Validate()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v: got %v, want %q", tt.o, err, tt.want)
		}
	}
}
