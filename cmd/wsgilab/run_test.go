package main

import (
	"bytes"
	"strings"
	"testing"

	"wsgilab/internal/proc"
	"wsgilab/internal/scenario"
)

// Bad input to `wsgilab run` is refused before anything starts: one line on stderr, exit 2,
// no process left.
func TestRunRejectsBadInput(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--mpm", "threaded"}, `--mpm: unknown value "threaded"`},
		{[]string{"run", "--mode", ""}, "--mode: no value given"},
		{[]string{"run", "--heartbeat", "green,blue"}, `--heartbeat: unknown value "blue"`},
		{[]string{"run", "nosuch"}, `unknown scenario "nosuch" (available: heartbeat, spikes, throughput, failover)`},
		{[]string{"run", "heartbeat", "spikes"}, "one scenario at a time"},
		{[]string{"run", "--mpm", "event", "spikes"}, "put the scenario first: wsgilab run spikes"},
		{[]string{"run", "--idle-factor", "2"}, "--idle-factor=2: must be >= 3"},
		{[]string{"run", "--heartbeat-timeout", "0"}, "--heartbeat-timeout=0"},
		{[]string{"run", "--parallel", "0"}, "--parallel=0"},
		{[]string{"run", "--path", "cast"}, `--path "cast": must start with /`},
		{[]string{"run", "--frobnicate"}, "unknown flag: --frobnicate"},
		{[]string{"run", "--app", "/nonexistent/app.wsgi"}, "WSGI app /nonexistent/app.wsgi does not exist"},
		{[]string{"run", "--shard", "3/2"}, `--shard "3/2": want 1 <= I <= N`},
		{[]string{"run", "--shard", "half"}, `--shard "half": want I/N`},
		{[]string{"run", "--mpm", "event", "--mode", "daemon", "--shard", "3/3"}, "the matrix has 2 cells, so shard 3 has none"},
		{[]string{"run", "--broker", "amqp://u:p@127.0.0.1:5672/"}, "--broker and --management go together"},
		{[]string{"run", "spikes", "--spare", "1:2"}, `--spare "1:2"`},
		{[]string{"run", "spikes", "--heartbeat", "green"}, "unknown flag: --heartbeat"},
		{[]string{"run", "--server", "tomcat"}, `--server: unknown value "tomcat" (allowed: apache, uwsgi, gunicorn)`},
		{[]string{"run", "--server", "uwsgi", "--gunicorn-worker", "eventlet"}, "--gunicorn-worker is a gunicorn option, and --server does not include gunicorn"},
		{[]string{"run", "--server", "gunicorn", "--mpm", "event"}, "--mpm is an apache option, and --server does not include apache"},
		{[]string{"run", "--server", "apache,gunicorn", "--gunicorn-worker", "tornado"}, `--gunicorn-worker: unknown value "tornado"`},
		{[]string{"run", "--server", "gunicorn", "--gunicorn-worker", "sync", "--threads", "4"}, "only the gthread worker runs threads"},
		{[]string{"run", "throughput", "--server", "uwsgi", "--uwsgi-threads", "maybe"}, `--uwsgi-threads: unknown value "maybe"`},
		{[]string{"up", "--server", "uwsgi", "--worker", "sync"}, `worker class "sync" is a gunicorn option, not uWSGI's`},
		{[]string{"up", "--server", "gunicorn", "--mpm", "event"}, "the Apache MPM and mod_wsgi mode options do not apply to gunicorn"},
		{[]string{"run", "spikes", "-c", "200"}, "--concurrency=200: must be between 1 and --requests (100)"},
		{[]string{"run", "throughput", "--test", "ks"}, `--test: unknown test "ks"`},
		{[]string{"run", "throughput", "--alpha", "2"}, "--alpha 2"},
		{[]string{"run", "throughput", "--processes", "-1"}, "--processes -1: must be >= 1"},
		{[]string{"run", "throughput", "--processes", "0"}, "--processes 0: must be >= 1"},
		{[]string{"run", "throughput", "--max-reps", "3"}, "--max-reps=3: must be >= --reps (6)"},
		{[]string{"run", "throughput", "--ci-target", "-1"}, "--ci-target=-1: must be >= 0"},
		{[]string{"run", "--mode", "daemon", "--threads", "0"}, "--threads 0: must be >= 1"},
		{[]string{"run", "--broker", "rabbit", "--management", "http://127.0.0.1:15672/"}, `--broker "rabbit": not an AMQP URL`},
		{[]string{"run", "--out", "/etc/hostname/out"}, "--out /etc/hostname/out: /etc/hostname is not a directory"},
		{[]string{"run", "spikes", "--out", "/etc/hostname"}, "/etc/hostname is not a directory"},
		{[]string{"run", "throughput", "--order", "random"}, `--order "random"`},
		{[]string{"run", "throughput", "-n", "1000", "--duration", "3s"}, "a run has one limit, give one"},
		{[]string{"run", "throughput", "-n", "0"}, "-n 0: must be >= 1"},
		{[]string{"run", "throughput", "--duration", "0s"}, "--duration 0s: must be > 0"},
		{[]string{"run", "throughput", "--max-warmup", "0"}, "--max-warmup=0: must be >= --warmup (1)"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", c.args, code, stderr.String())
		}
		if !strings.Contains(stderr.String(), c.want) || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%v: stderr %q, want one line containing %q", c.args, stderr.String(), c.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: wrote to stdout: %q", c.args, stdout.String())
		}
	}
	if left := proc.Running(); len(left) != 0 {
		t.Fatalf("processes started by a refused run: %v", left)
	}
}

// `wsgilab run --help` lists every registered scenario with its summary and the default
// scenario's options; `run SCENARIO --help` gives that scenario's.
func TestRunHelpListsTheRegistry(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"run", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	help := stdout.String()
	for _, s := range scenario.All() {
		if !strings.Contains(help, "  "+s.Name()) || !strings.Contains(help, s.Summary()) {
			t.Errorf("run --help lacks scenario %s:\n%s", s.Name(), help)
		}
	}
	for _, opt := range []string{"--heartbeat-timeout", "--shard", "--out", "--parallel"} {
		if !strings.Contains(help, opt) {
			t.Errorf("run --help lacks %s", opt)
		}
	}
	for _, s := range scenario.All() {
		stdout.Reset()
		if code := run([]string{"run", s.Name(), "--help"}, &stdout, &stderr); code != 0 {
			t.Fatalf("%s --help: exit %d", s.Name(), code)
		}
		if !strings.Contains(stdout.String(), "wsgilab run "+s.Name()+" [options]") || !strings.Contains(stdout.String(), "--shard") {
			t.Errorf("run %s --help:\n%s", s.Name(), stdout.String())
		}
	}
	stdout.Reset()
	run([]string{"run", "spikes", "--help"}, &stdout, &stderr)
	if !strings.Contains(stdout.String(), "--spare") || strings.Contains(stdout.String(), "--heartbeat-timeout") {
		t.Errorf("run spikes --help shows other scenarios' options:\n%s", stdout.String())
	}
}

// Bad input to `wsgilab merge`, usage errors and unusable directories alike: one line, exit 2.
func TestMergeRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"merge"}, 2, "no shard directories given"},
		{[]string{"merge", dir}, 2, "--out DIR is required"},
		{[]string{"merge", "--bogus", dir}, 2, "unknown flag: --bogus"},
		{[]string{"merge", dir, "--out", t.TempDir()}, 2, "run.json: no such file"},
		{[]string{"merge", "/nonexistent/shard-1", "--out", t.TempDir()}, 2, "no such file"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(c.args, &stdout, &stderr); code != c.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, code, c.code, stderr.String())
		}
		if !strings.Contains(stderr.String(), c.want) || strings.Count(stderr.String(), "\n") != 1 || stdout.Len() != 0 {
			t.Errorf("%v: stderr %q stdout %q, want one line containing %q", c.args, stderr.String(), stdout.String(), c.want)
		}
	}
}
