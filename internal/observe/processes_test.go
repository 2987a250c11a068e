package observe

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// processLog is a real error log's process lines (mod_wsgi 4.9.4, Apache 2.4, LogLevel wsgi:info):
// a child initialising Python, the parent's start, an interpreter attached, a child loading the
// script on its first request and the fake app's own line when the import ended, a daemon
// starting and a daemon thread loading the script.
const processLog = `[Thu Nov 26 12:33:50.159031 2026] [wsgi:info] [pid 28190:tid 28190] mod_wsgi (pid=28190): Initializing Python.
[Thu Nov 26 12:33:50.167494 2026] [mpm_prefork:notice] [pid 28188:tid 28188] AH00163: Apache/2.4.71 (Debian) mod_wsgi/4.9.4 Python/3.11 configured -- resuming normal operations
[Thu Nov 26 12:33:50.234556 2026] [wsgi:info] [pid 28192:tid 28192] mod_wsgi (pid=28192): Attach interpreter ''.
[Thu Nov 26 12:33:50.251637 2026] [wsgi:info] [pid 28189:tid 28189] [client 127.0.0.1:34466] mod_wsgi (pid=28189, process='', application=''): Loading Python script file '/tmp/cell/app/app.wsgi'.
[Thu Nov 26 12:33:51.697700 2026] [wsgi:error] [pid 28189:tid 28189] 2026-11-26 12:33:51.697 28189 INFO wsgilab.fakeservice [-] fakeservice loaded in pid 28189 in 1.444s (monkey_patch=False heartbeat=green timeout=60s rate=2 import_cost=0.30s topic=wsgilab tcp_keepalive=0s)
[Thu Nov 26 12:35:36.527039 2026] [wsgi:info] [pid 31250:tid 31250] mod_wsgi (pid=31250): Starting process 'wsgilab' with uid=33, gid=33 and threads=5.
[Thu Nov 26 12:55:10.490544 2026] [wsgi:info] [pid 10888:tid 10970] [remote 127.0.0.1:47410] mod_wsgi (pid=10888, process='wsgilab', application=''): Loading Python script file '/tmp/cell/app/app.wsgi'.
`

var processLogWant = []string{"wsgi_python_init:28190", "wsgi_script_load:28189", "app_loaded:28189", "wsgi_daemon_start:31250",
	"wsgi_script_load:10888"}

func rulesAndPIDs(events []Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Rule+":"+strconv.Itoa(e.Fields.PID))
	}
	return out
}

// The process lines of a real error log go through ProcessRules with the PID that wrote them.
func TestReadProcessEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	if err := os.WriteFile(path, []byte(processLog), 0o644); err != nil {
		t.Fatal(err)
	}
	events, err := ReadProcessEvents(LogFile{Path: path, Source: "apache", Format: FormatApache})
	if err != nil {
		t.Fatal(err)
	}
	if got := rulesAndPIDs(events); !slices.Equal(got, processLogWant) {
		t.Errorf("events %v, want %v", got, processLogWant)
	}
	if events[1].Fields.Script != "/tmp/cell/app/app.wsgi" || events[1].Time.Nanosecond() != 251637000 {
		t.Errorf("load event %+v", events[1])
	}
}

// NewProcessLog is the same reading as a probe: each sample gives the process lines appended
// since the last, a line cut in the middle waits for its end, and Flush reads what is left.
func TestProcessLogProbe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	cut := len(processLog) - 40 // inside the last line
	writeFile(t, path, processLog[:cut])
	lt := NewProcessLog(LogFile{Path: path, Source: "apache", Format: FormatApache})
	defer lt.Close()
	if lt.Name() != "process_log" {
		t.Errorf("name %q", lt.Name())
	}
	now := time.Now()
	v, first, err := lt.Sample(context.Background(), now)
	if v != nil || err != nil {
		t.Fatalf("sample: %v, %v", v, err)
	}
	if got := rulesAndPIDs(first); !slices.Equal(got, processLogWant[:4]) {
		t.Errorf("first sample %v, want %v", got, processLogWant[:4])
	}
	if first[0].Source != "apache" || first[0].File != path || !first[0].Observed.Equal(now) {
		t.Errorf("event %+v", first[0])
	}
	appendTo(t, path, processLog[cut:])
	_, second, _ := lt.Sample(context.Background(), now)
	if got := rulesAndPIDs(second); !slices.Equal(got, processLogWant[4:]) {
		t.Errorf("second sample %v, want %v", got, processLogWant[4:])
	}
	appendTo(t, path, `[Thu Nov 26 12:55:12.100000 2026] [wsgi:info] [pid 10890:tid 10890] mod_wsgi (pid=10890): Initializing Python.`)
	if _, ev, _ := lt.Sample(context.Background(), now); len(ev) != 0 {
		t.Errorf("a line without its newline: %v", rulesAndPIDs(ev))
	}
	appendTo(t, path, "\n")
	if got := rulesAndPIDs(lt.Flush(now)); !slices.Equal(got, []string{"wsgi_python_init:10890"}) {
		t.Errorf("flushed %v", got)
	}
}

// The processes probe returns what its lister returns, every sample.
func TestProcessesProbe(t *testing.T) {
	alive := []ProcessInfo{{PID: 1, Role: "child"}}
	p := NewProcesses(func() []ProcessInfo { return alive })
	for _, want := range [][]ProcessInfo{alive, {{PID: 1, Role: "child"}, {PID: 2, Role: "child"}}, nil} {
		alive = want
		v, ev, err := p.Sample(context.Background(), time.Now())
		r, ok := v.(*ProcessReading)
		if !ok || err != nil || len(ev) != 0 || r.Processes == nil || !slices.Equal(r.Processes, want) {
			t.Errorf("sample of %v: %#v, %v, %v", want, v, ev, err)
		}
	}
	if p.Name() != "processes" {
		t.Errorf("name %q", p.Name())
	}
}

// uWSGI's and gunicorn's logs, as these servers wrote them here (uWSGI 2.0.21, gunicorn 20.1.0,
// the fake service's own lines on their stderr): the workers' births and the app's load, with
// the PID the line names; uWSGI's own lines carry no time and take the last timed line's.
func TestProcessEventsOfOtherServers(t *testing.T) {
	uwsgi := `*** Starting uWSGI 2.0.21-debian (64bit) on [Wed Dec  2 03:40:25 2026] ***
*** Python threads support is disabled. You can enable it with --enable-threads ***
2026-12-02 03:40:26.100 15032 INFO wsgilab.fakeservice [-] fakeservice loaded in pid 15032 in 0.912s (monkey_patch=True heartbeat=green)
spawned uWSGI master process (pid: 15032)
spawned uWSGI worker 1 (pid: 15034, cores: 1)
DAMN ! worker 1 (pid: 15034) died, killed by signal 9 :( trying respawn ...
Respawned uWSGI worker 1 (new pid: 15040)
`
	gunicorn := `[2026-12-02 03:40:41 +0000] [15133] [INFO] Starting gunicorn 20.1.0
[2026-12-02 03:40:41 +0000] [15135] [INFO] Booting worker with pid: 15135
2026-12-02 03:40:42.250 15135 INFO wsgilab.fakeservice [-] fakeservice loaded in pid 15135 in 1.200s (monkey_patch=True heartbeat=green)
[2026-12-02 03:40:50 +0000] [15133] [CRITICAL] WORKER TIMEOUT (pid:15135)
`
	for _, c := range []struct {
		format Format
		log    string
		want   []string
	}{
		{FormatUWSGI, uwsgi, []string{"app_loaded:15032", "uwsgi_worker_spawn:15034", "uwsgi_worker_spawn:15040"}},
		{FormatGunicorn, gunicorn, []string{"gunicorn_worker_boot:15135", "app_loaded:15135"}},
	} {
		path := filepath.Join(t.TempDir(), "server.log")
		if err := os.WriteFile(path, []byte(c.log), 0o644); err != nil {
			t.Fatal(err)
		}
		events, err := ReadProcessEvents(LogFile{Path: path, Source: string(c.format), Format: c.format})
		if err != nil {
			t.Fatal(err)
		}
		if got := rulesAndPIDs(events); !slices.Equal(got, c.want) {
			t.Errorf("%s: events %v, want %v", c.format, got, c.want)
		}
		for _, e := range events {
			if e.Time.IsZero() || e.Time.Year() != 2026 {
				t.Errorf("%s: %s has no time from the log: %v", c.format, e.Rule, e.Time)
			}
			if e.Rule == "app_loaded" && e.Fields.Seconds == 0 {
				t.Errorf("%s: the load's duration was not read: %+v", c.format, e.Fields)
			}
		}
	}
}
