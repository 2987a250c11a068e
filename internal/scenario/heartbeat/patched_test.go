package heartbeat

import (
	"testing"

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
