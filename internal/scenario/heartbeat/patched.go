package heartbeat

import (
	"fmt"
	"slices"
	"time"

	"wsgilab/internal/observe"
	"wsgilab/internal/report"
)

// Whether the service runs eventlet.monkey_patch()d is observed from outside, for any app,
// rather than taken from the cell's configuration (WSGILAB_MONKEY_PATCH, which a user's --app
// may ignore). At the end of the idle each app process is read from /proc (observe.Runtime):
//
//   - is greenlet's C extension mapped? Without it eventlet is not loaded, so nothing is
//     patched ("no"). With it, eventlet is loaded, patched or not (oslo.messaging imports it).
//   - how many native threads did the process start after it began loading the app?
//     oslo.messaging gives each connection a heartbeat thread; with heartbeat_in_pthread off
//     (the "green" heartbeat) that is a threading.Thread, which is a green thread (no native
//     thread) only when threading is monkey-patched. So among the processes that held broker
//     connections during the warm-up or the idle: none started a native thread -> "yes"; each did -> "no";
//     some did -> "mixed".
//
// With a native heartbeat by request (pthread) or none (off), threads cannot tell a patched
// process from an unpatched one: Patched is "" and the report shows the requested setting, said
// to be requested. Observed after the probe, and once oslo.messaging's short-lived metrics
// thread (native, ended 10 s after a process's first RPC call) is gone from every process.

// transientThreadLife is how long oslo.messaging's metrics thread lives: a native thread, even
// in a patched process, started at a process's first RPC call and ended 10 s later
// (metrics_thread_stop_timeout) when metrics are off. A process is read once it is gone.
const transientThreadLife = 11 * time.Second

// appLoads returns when each of pids (or of the processes the log names) began loading the app:
// its last "Loading Python script file" line in the server's log (mod_wsgi). uWSGI and gunicorn
// log no load of their own: there the fake service's own line at the end of its import says how
// long the import took. A worker forked after its master imported the app (uWSGI without
// lazy-apps, gunicorn --preload) loaded nothing itself: its threads are those it started since
// it was forked.
func appLoads(log observe.LogFile, pids []int) map[int]time.Time {
	events, _ := observe.ReadProcessEvents(log)
	loaded := map[int]time.Time{}
	for _, e := range events {
		if e.Rule == "wsgi_script_load" && e.Fields.PID != 0 {
			loaded[e.Fields.PID] = e.Time
		}
	}
	for _, e := range events {
		if _, ok := loaded[e.Fields.PID]; !ok && e.Rule == "app_loaded" && e.Fields.PID != 0 && e.Fields.Seconds > 0 {
			loaded[e.Fields.PID] = e.Time.Add(-time.Duration(e.Fields.Seconds * float64(time.Second)))
		}
	}
	for _, pid := range pids {
		if _, ok := loaded[pid]; !ok {
			if start, err := observe.ProcessStart(pid); err == nil {
				loaded[pid] = start
			}
		}
	}
	return loaded
}

// readyToRead is when every one of pids (those that answered the warm-up) can be read: its
// transient thread ended. The thread starts at a process's first RPC call, which is its first
// request, not its load: a process that loads the app as it starts (uWSGI's and gunicorn's
// workers, a mod_wsgi daemon process) may serve its first request seconds later, at the latest
// by firstRPCBy (the warm-up's last response).
func readyToRead(loaded map[int]time.Time, pids []int, firstRPCBy time.Time) time.Time {
	t := firstRPCBy.Add(transientThreadLife)
	for _, pid := range pids {
		if l, ok := loaded[pid]; ok && l.Add(transientThreadLife).After(t) {
			t = l.Add(transientThreadLife)
		}
	}
	return t
}

// observeRuntime reads each of pids from when it began loading the app; a process without a
// load line, or gone, is left out.
func observeRuntime(loaded map[int]time.Time, pids []int) []observe.Runtime {
	var out []observe.Runtime
	for _, pid := range pids {
		since, ok := loaded[pid]
		if !ok {
			continue
		}
		if r, err := observe.ReadRuntime(pid, since); err == nil {
			out = append(out, r)
		}
	}
	return out
}

// connectionsBeforeProbe counts, per process, the most broker connections (established sockets
// to the broker port) it held in any sample of the warm-up and the idle: a warm-up may be
// shorter than a sample, and a green heartbeat's connection is still there for a while after.
func connectionsBeforeProbe(tl observe.Timeline, probeStart time.Time) map[int]int {
	most := map[int]int{}
	for _, tk := range tl.Ticks {
		if tk.T.After(probeStart) || tk.Sockets == nil {
			continue
		}
		per := map[int]int{}
		for _, s := range tk.Sockets.Sockets {
			if s.State == "ESTABLISHED" {
				for _, pid := range s.PIDs {
					per[pid]++
				}
			}
		}
		for pid, n := range per {
			most[pid] = max(most[pid], n)
		}
	}
	return most
}

// judgePatched tells whether the app processes run monkey-patched (see the top of this file):
// "yes", "no", "mixed", or "" when it cannot be told; and what that rests on. heartbeat is the
// cell's requested heartbeat mode.
func judgePatched(heartbeat string, rt []observe.Runtime, conns map[int]int) (string, string) {
	if len(rt) == 0 {
		return "", "no app process could be read at the end of the idle"
	}
	if !slices.ContainsFunc(rt, func(r observe.Runtime) bool { return r.Eventlet }) {
		return "no", fmt.Sprintf("greenlet's extension is mapped in none of the %d app processes: eventlet is not loaded", len(rt))
	}
	if heartbeat != "green" {
		return "", fmt.Sprintf("eventlet is loaded; with the %s heartbeat, threads cannot tell whether it patched threading", heartbeat)
	}
	var green, native, threads int
	for _, r := range rt {
		if conns[r.PID] == 0 {
			continue
		}
		if r.AppThreads == 0 {
			green++
		} else {
			native++
			threads += r.AppThreads
		}
	}
	switch {
	case green+native == 0:
		return "", "eventlet is loaded, but no app process held a broker connection before the probe"
	case native == 0:
		return "yes", fmt.Sprintf("eventlet is loaded and the %d process(es) that held broker connections started no native thread: their heartbeats are green threads, which only eventlet.monkey_patch() makes of oslo.messaging's threading.Thread", green)
	case green == 0:
		return "no", fmt.Sprintf("eventlet is loaded, but the %d process(es) that held broker connections started %d native thread(s): threading is not patched", native, threads)
	}
	return "mixed", fmt.Sprintf("of the processes that held broker connections, %d started no native thread and %d did (%d threads)", green, native, threads)
}

// patchedColumn is the table's PATCHED: the observed value, or the requested setting, said to
// be requested, when it could not be observed.
func patchedColumn(c CellResult) string {
	if c.Findings.Patched != "" {
		return c.Findings.Patched
	}
	return report.YesNo(c.Spec.MonkeyPatch) + " (requested)"
}
