package observe

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Runtime is what /proc shows, from outside and for any app, of the Python runtime in one
// process: whether eventlet is loaded and how many native threads the app started. It is how a
// heartbeat cell tells an eventlet-patched process from an unpatched one without asking the
// app (see internal/scenario/heartbeat, Findings.Patched).
//
// JSON: {"pid": 4242, "eventlet": true, "threads": 1, "app_threads": 0, "since": "..."}
type Runtime struct {
	PID int `json:"pid"`
	// Eventlet: greenlet's C extension (greenlet/_greenlet*.so) is mapped into the process
	// (/proc/PID/maps). Eventlet, and gevent, cannot run without it; importing eventlet maps
	// it whether or not eventlet.monkey_patch() was called (oslo.messaging imports eventlet).
	Eventlet bool `json:"eventlet"`
	// Threads is the process's native threads (/proc/PID/task).
	Threads int `json:"threads"`
	// AppThreads are the native threads started more than appThreadMargin after Since, the
	// moment the process began loading the app: the server's own threads (Apache's workers and
	// listener, mod_wsgi's request and monitor threads) start with the process, before it loads
	// the app (lazily, on its first request) or with it (when that request came at once). Under eventlet.monkey_patch() a threading.Thread is a
	// green thread, so a patched app starts native threads only on purpose
	// (eventlet.patcher.original, tpool).
	AppThreads int       `json:"app_threads"`
	Since      time.Time `json:"since"`
}

// ReadRuntime reads pid's Runtime; since is when the process began loading the app.
func ReadRuntime(pid int, since time.Time) (Runtime, error) {
	r := Runtime{PID: pid, Since: since}
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return r, err
	}
	r.Eventlet = mapsGreenlet(maps)
	boot, err := bootTime()
	if err != nil {
		return r, err
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return r, err
	}
	for _, t := range tasks {
		start, err := taskStart(filepath.Join(fmt.Sprintf("/proc/%d/task", pid), t.Name(), "stat"), boot)
		if err != nil {
			continue // the thread ended meanwhile
		}
		r.Threads++
		if !start.Before(since.Add(appThreadMargin)) {
			r.AppThreads++
		}
	}
	return r, nil
}

// mapsGreenlet tells whether a /proc/PID/maps lists greenlet's C extension.
func mapsGreenlet(maps []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 6 {
			base := filepath.Base(f[len(f)-1])
			if strings.HasPrefix(base, "_greenlet") && strings.HasSuffix(base, ".so") {
				return true
			}
		}
	}
	return false
}

// clockTick is the unit of /proc's start times (USER_HZ, 100 on every Linux wsgilab runs on).
const clockTick = 10 * time.Millisecond

// appThreadMargin: a thread is the app's when it started this long after the load began. A
// process that loads the app as soon as it starts (a daemon process or a child serving the
// first request) creates its own threads in the same few milliseconds, within a clock tick or
// two of the load; the app's first thread comes after its imports, hundreds of milliseconds
// later (oslo.messaging's: after the first connection to the broker).
const appThreadMargin = 100 * time.Millisecond

// bootTime is when the machine booted, to the clock tick: now minus /proc/uptime (btime in
// /proc/stat is whole seconds, too coarse to compare a thread's start with a log line).
func bootTime() (time.Time, error) {
	now := time.Now()
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return time.Time{}, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return time.Time{}, fmt.Errorf("/proc/uptime: %q", b)
	}
	up, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("/proc/uptime: %w", err)
	}
	return now.Add(-time.Duration(up * float64(time.Second))), nil
}

// ProcessStart is when pid started (forked), from /proc.
func ProcessStart(pid int) (time.Time, error) {
	boot, err := bootTime()
	if err != nil {
		return time.Time{}, err
	}
	return taskStart(fmt.Sprintf("/proc/%d/stat", pid), boot)
}

// taskStart is when a thread started: field 22 of its stat (clock ticks since boot).
func taskStart(statPath string, boot time.Time) (time.Time, error) {
	b, err := os.ReadFile(statPath)
	if err != nil {
		return time.Time{}, err
	}
	// The command may hold spaces and parentheses: fields count from the last ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return time.Time{}, fmt.Errorf("%s: no command field", statPath)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return time.Time{}, fmt.Errorf("%s: %d fields", statPath, len(f)+2)
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: starttime: %w", statPath, err)
	}
	return boot.Add(time.Duration(ticks) * clockTick), nil
}
