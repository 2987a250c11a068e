package heartbeat

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"wsgilab/internal/observe"
)

// The judgement of PATCHED from what /proc showed (the real-stack test runs the fake app with
// and without the patch; here every branch).
func TestJudgePatched(t *testing.T) {
	rt := func(eventlet bool, appThreads ...int) []observe.Runtime {
		var out []observe.Runtime
		for i, n := range appThreads {
			out = append(out, observe.Runtime{PID: 100 + i, Eventlet: eventlet, Threads: 1 + n, AppThreads: n})
		}
		return out
	}
	both := map[int]int{100: 2, 101: 1}
	for _, tc := range []struct {
		name      string
		heartbeat string
		rt        []observe.Runtime
		conns     map[int]int
		want      string
	}{
		{"green heartbeats, no native thread", "green", rt(true, 0, 0), both, "yes"},
		{"a native thread per process", "green", rt(true, 2, 1), both, "no"},
		{"one of each", "green", rt(true, 0, 1), both, "mixed"},
		{"a process without connections does not count", "green", rt(true, 0, 3), map[int]int{100: 1}, "yes"},
		{"no eventlet at all", "pthread", rt(false, 1, 1), both, "no"},
		{"native heartbeat by request", "pthread", rt(true, 1, 1), both, ""},
		{"heartbeat off", "off", rt(true, 0, 0), both, ""},
		{"no connection before the probe", "green", rt(true, 0, 0), nil, ""},
		{"nothing read", "green", nil, both, ""},
	} {
		got, basis := judgePatched(tc.heartbeat, tc.rt, tc.conns)
		if got != tc.want || basis == "" {
			t.Errorf("%s: %q (%s), want %q", tc.name, got, basis, tc.want)
		}
	}
}

// PATCHED shows the observation, or the requested setting said to be requested.
func TestPatchedColumn(t *testing.T) {
	c := CellResult{}
	c.Spec.MonkeyPatch = true
	if got := patchedColumn(c); got != "yes (requested)" {
		t.Errorf("unobserved: %q", got)
	}
	c.Findings.Patched = "no"
	if got := patchedColumn(c); got != "no" {
		t.Errorf("observed: %q", got)
	}
}

// When each app process began loading the app, whatever the server: mod_wsgi's load line; the
// fake service's own line minus the import's duration where the server logs none (gunicorn here);
// the fork of a worker whose master imported the app (no line of its own: this test's process).
func TestAppLoads(t *testing.T) {
	log := `[2026-12-02 03:40:41 +0000] [15135] [INFO] Booting worker with pid: 15135
2026-12-02 03:40:42.250 15135 INFO wsgilab.fakeservice [-] fakeservice loaded in pid 15135 in 1.200s (monkey_patch=True heartbeat=green)
`
	path := filepath.Join(t.TempDir(), "gunicorn.log")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded := appLoads(observe.LogFile{Path: path, Source: "gunicorn", Format: observe.FormatGunicorn}, []int{15135, os.Getpid()})
	want := time.Date(2026, 12, 2, 3, 40, 41, 50e6, time.Local)
	if !loaded[15135].Equal(want) {
		t.Errorf("gunicorn worker: %v, want %v (its line's time minus 1.2 s)", loaded[15135], want)
	}
	if own := loaded[os.Getpid()]; own.IsZero() || time.Since(own) > time.Hour || own.After(time.Now()) {
		t.Errorf("a forked worker (this process) began %v, want its start", own)
	}
}

// A worker that loaded the app at boot and served its first request (its first RPC call, which
// starts the transient thread) in the warm-up is read a thread's life after the warm-up, not
// after its load: the CI failure that made this rule was a gunicorn worker read while its
// metrics thread still ran.
func TestReadyToRead(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 6, 11, 56, 0, time.UTC)
	warmupEnd := t0.Add(3 * time.Second)
	loaded := map[int]time.Time{10: t0, 11: t0.Add(5 * time.Second)}
	if got, want := readyToRead(loaded, []int{10}, warmupEnd), warmupEnd.Add(transientThreadLife); !got.Equal(want) {
		t.Errorf("loaded at boot: ready at %v, want %v (the warm-up's end + %v)", got, want, transientThreadLife)
	}
	if got, want := readyToRead(loaded, []int{10, 11}, warmupEnd), t0.Add(5*time.Second+transientThreadLife); !got.Equal(want) {
		t.Errorf("one loaded after the warm-up's end: ready at %v, want %v", got, want)
	}
}
