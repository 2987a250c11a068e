package main

import (
	"bytes"
	"strings"
	"testing"

	"wsgilab/internal/proc"
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
		{[]string{"run", "nosuch"}, `unknown scenario "nosuch"`},
		{[]string{"run", "heartbeat", "spikes"}, "one scenario at a time"},
		{[]string{"run", "--idle-factor", "2"}, "--idle-factor=2: must be >= 3"},
		{[]string{"run", "--heartbeat-timeout", "0"}, "--heartbeat-timeout=0"},
		{[]string{"run", "--parallel", "0"}, "--parallel=0"},
		{[]string{"run", "--path", "cast"}, `--path "cast": must start with /`},
		{[]string{"run", "--frobnicate"}, "unknown flag: --frobnicate"},
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

// A user app that does not exist fails the run's validation before the broker starts.
func TestRunRejectsMissingApp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"run", "--app", "/nonexistent/app.wsgi", "--no-out"}, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "/nonexistent/app.wsgi") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if left := proc.Running(); len(left) != 0 {
		t.Fatalf("processes left: %v", left)
	}
}
