package doctor

import (
	"fmt"
	"strings"
)

// The rules. Each one is a configuration the lab has run on the real stack, with what it
// measured: the evidence field says where (the README's tables, a scenario's recorded run),
// and Reproduce builds the `wsgilab run` command that runs the service's configuration again.

// facts are what the rules read about one service.
type facts struct {
	d *Deployment
	s *Service // nil when only oslo.messaging options were given
	o *Oslo

	patched  string // the app calls eventlet.monkey_patch() at import: yes, no, unknown
	oslo     string // the app uses oslo.messaging: yes, unknown
	assumes  []string
	heartbit bool // heartbeats on (heartbeat_timeout_threshold > 0)
}

func newFacts(d *Deployment, s *Service) *facts {
	f := &facts{d: d, s: s, o: d.Oslo, patched: Unknown, oslo: Unknown}
	if f.o == nil {
		f.o = DefaultOslo()
		d.note("no oslo.messaging configuration given (--oslo): oslo.messaging 14.0.3's defaults assumed (heartbeat_timeout_threshold 60, heartbeat_rate 2, heartbeat_in_pthread false)")
	}
	f.heartbit = f.o.HeartbeatTimeout > 0
	if s != nil && s.App != nil {
		f.patched, f.oslo = s.App.MonkeyPatch, s.App.OsloMessaging
	}
	return f
}

// maybePatched says the app may monkey-patch, recording the assumption when it is not known.
func (f *facts) maybePatched() bool {
	switch f.patched {
	case Yes:
		return true
	case No:
		return false
	}
	what := "the app calls eventlet.monkey_patch() at import, as the write-ups' nova-api does"
	if f.s != nil && f.s.App != nil {
		a := f.s.App
		switch {
		case a.MonkeyPatchLine != nil && a.Guard != "":
			what += fmt.Sprintf(" (%s:%d calls it if %s, which could not be evaluated)", a.File, a.MonkeyPatchLine.Line, a.Guard)
		case len(a.Unread) > 0:
			what += fmt.Sprintf(" (not in %s; it imports %s, not installed here to read)", a.File, strings.Join(a.Unread, ", "))
		}
	} else {
		what += " (give --app FILE to check)"
	}
	f.assume(what)
	return true
}

func (f *facts) maybeOslo() bool {
	if f.oslo == Yes {
		return true
	}
	f.assume("the app uses oslo.messaging's RabbitMQ driver (not seen in what was read of it)")
	return true
}

func (f *facts) assume(s string) {
	for _, a := range f.assumes {
		if a == s {
			return
		}
	}
	f.assumes = append(f.assumes, s)
}

// heartbeatMode is the lab's name for the heartbeat the configuration runs.
func (f *facts) heartbeatMode() string {
	switch {
	case !f.heartbit:
		return "off"
	case f.o.HeartbeatInPthread:
		return "pthread"
	}
	return "green"
}

// osloLine is where an oslo.messaging option was set, or a pseudo-line saying it is the default.
func (f *facts) osloLine(k, def string) Line {
	if l, ok := f.o.line(k); ok {
		return l
	}
	return Line{File: "(oslo.messaging default)", Text: k + " = " + def}
}

func (f *facts) patchLine() []Line {
	if f.s == nil || f.s.App == nil || f.s.App.MonkeyPatchLine == nil {
		return nil
	}
	return []Line{*f.s.App.MonkeyPatchLine}
}

func (f *facts) serviceLines(facts ...string) []Line {
	var out []Line
	if f.s == nil {
		return out
	}
	seen := map[Line]bool{}
	for _, k := range facts {
		if l, ok := f.s.line(k); ok && !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}

func (f *facts) finding(rule, severity, title, mechanism, evidence, fix, reproduce string, lines []Line) Finding {
	name := ""
	if f.s != nil {
		name = f.s.Name
	}
	return Finding{Rule: rule, Severity: severity, Service: name, Title: title, Mechanism: mechanism,
		Evidence: evidence, Fix: fix, Lines: lines, Assumes: append([]string(nil), f.assumes...), Reproduce: reproduce}
}

// applyRules returns the findings of service s (nil: the oslo.messaging options alone).
func applyRules(d *Deployment, s *Service) []Finding {
	var out []Finding
	for _, r := range rules {
		f := newFacts(d, s)
		if fd, ok := r(f); ok {
			out = append(out, fd)
		}
	}
	return out
}

var rules = []func(*facts) (Finding, bool){
	greenHeartbeatIdle,
	uwsgiThreadsOff,
	gunicornGthreadPatched,
	threadsLoseReplies,
	preforkColdStarts,
	heartbeatOffNoKeepalive,
	heartbeatTimeoutShort,
}

// idleWithoutPython says whether the server runs no Python in the app's processes between
// requests: mod_wsgi (any MPM, either mode) and uWSGI, measured. gunicorn's sync worker waits in
// select.select, which monkey-patching replaced with eventlet's (the hub runs), and its eventlet
// worker runs the hub all the time: both kept the green heartbeat alive in the lab.
func idleWithoutPython(s *Service) bool {
	return s.Server == Apache || s.Server == UWSGI
}

func greenHeartbeatIdle(f *facts) (Finding, bool) {
	s := f.s
	if s == nil || !f.heartbit || f.o.HeartbeatInPthread || !idleWithoutPython(s) || !f.maybeOslo() || !f.maybePatched() {
		return Finding{}, false
	}
	server := map[string]string{Apache: "mod_wsgi", UWSGI: "a uWSGI worker"}[s.Server]
	evidence := map[string]string{
		Apache: "wsgilab run heartbeat (README, \"What wsgilab run prints\"): every MPM (prefork, worker, event) x mod_wsgi mode (embedded, daemon) cell with the green heartbeat DROPPED, 4-9 s after the last traffic with a 3 s heartbeat; the same cells with heartbeat_in_pthread STABLE",
		UWSGI:  "wsgilab run heartbeat --server uwsgi (README, \"Other servers\"): uwsgi-threads-green and uwsgi-nothreads-green DROPPED about 8.8 s after the last traffic (3 s heartbeat); uwsgi-threads-pthread STABLE",
	}[s.Server]
	fix := "set heartbeat_in_pthread = true in [oslo_messaging_rabbit] (a native heartbeat thread)."
	if s.Server == UWSGI && !s.PythonThreads {
		fix = "set heartbeat_in_pthread = true and turn on uWSGI's enable-threads (see the uwsgi-python-threads-off finding)."
	}
	lines := append(f.serviceLines("mode", "mpm"), f.patchLine()...)
	lines = append(lines, f.osloLine("heartbeat_in_pthread", "false"), f.osloLine("heartbeat_timeout_threshold", "60"))
	fd := f.finding("green-heartbeat-idle", High,
		"AMQP connections dropped when idle: green heartbeat under "+server+", which runs no Python between requests",
		"With eventlet.monkey_patch() and heartbeat_in_pthread = false, oslo.messaging's heartbeat is a green thread that runs only when eventlet's hub runs, and between requests "+server+" runs no Python in the app's processes. No heartbeat is sent while the service is idle, so the broker closes the connection after 2-3 heartbeat timeouts (\"missed heartbeats from client\") and the next request pays a reconnect.",
		evidence, fix, f.reproduceHeartbeat("green", ""), lines)
	fd.Predicts = Dropped
	return fd, true
}

func uwsgiThreadsOff(f *facts) (Finding, bool) {
	s := f.s
	if s == nil || s.Server != UWSGI || s.PythonThreads || !f.heartbit || !f.maybeOslo() {
		return Finding{}, false
	}
	lines := f.serviceLines("python_threads", "threads")
	lines = append(lines, f.osloLine("heartbeat_in_pthread", "false"), f.osloLine("heartbeat_timeout_threshold", "60"))
	fd := f.finding("uwsgi-python-threads-off", High,
		"AMQP connections dropped when idle: uWSGI without Python threads never runs a native heartbeat thread",
		"uWSGI without enable-threads (and with one thread per worker) never hands the GIL to a thread the app starts: its startup line says \"Python threads support is disabled\". oslo.messaging's native heartbeat thread (heartbeat_in_pthread = true, or any app that is not monkey-patched) therefore never runs, and the broker closes the idle connections as it does for a green heartbeat.",
		"wsgilab run heartbeat --server uwsgi (README, \"Other servers\"): uwsgi-nothreads-pthread DROPPED 8.8 s after the last traffic with a 3 s heartbeat, uwsgi-threads-pthread STABLE",
		"enable-threads = true in the [uwsgi] section, with heartbeat_in_pthread = true.",
		f.reproduceHeartbeat("pthread", ""), lines)
	fd.Predicts = Dropped
	return fd, true
}

func gunicornGthreadPatched(f *facts) (Finding, bool) {
	s := f.s
	if s == nil || s.Server != Gunicorn || s.Worker != "gthread" || !f.maybePatched() {
		return Finding{}, false
	}
	lines := append(f.serviceLines("worker", "threads"), f.patchLine()...)
	fd := f.finding("gunicorn-gthread-patched", High,
		"the service does not serve: gunicorn's gthread worker with a monkey-patched app",
		"The app's eventlet.monkey_patch() lands in a gthread worker whose thread pool and poller already exist; its requests never finish. gunicorn's arbiter kills the worker for WORKER TIMEOUT, boots another, and the same happens again.",
		"wsgilab run heartbeat --server gunicorn (README, \"Other servers\"): gunicorn-gthread-green and gunicorn-gthread-pthread ERROR, the log a loop of WORKER TIMEOUT lines until the start gave up",
		"the eventlet worker class (worker_class = \"eventlet\"), the one made for an eventlet app, or sync.",
		f.reproduceHeartbeat(f.heartbeatMode(), ""), lines)
	fd.Predicts = Error
	return fd, true
}

func threadsLoseReplies(f *facts) (Finding, bool) {
	s := f.s
	if s == nil || s.Threads <= 1 || f.o.HeartbeatInPthread || (s.Server == Gunicorn && s.Worker == "gthread") ||
		(s.Server == UWSGI && !s.PythonThreads) || !f.maybeOslo() || !f.maybePatched() {
		return Finding{}, false
	}
	lines := append(f.serviceLines("threads", "mode"), f.patchLine()...)
	lines = append(lines, f.osloLine("heartbeat_in_pthread", "false"))
	return f.finding("threads-lose-replies", High,
		fmt.Sprintf("RPC calls time out: %d threads per process with a monkey-patched app", s.Threads),
		"With eventlet.monkey_patch() and heartbeat_in_pthread = false, oslo.messaging's reply listener for RPC calls is a green thread in the eventlet hub of the OS thread that made the first call. A call made by another of the process's request threads waits for a reply nobody reads, until MessagingTimeout (\"Timed out waiting for a reply\"), while calls on the first thread succeed.",
		"wsgilab run heartbeat --mpm worker --mode daemon --processes 2 --threads 2 --heartbeat green,pthread --path /call (2 Dec 2026): in the green cell a call on a daemon's second thread logged MessagingTimeout during the warm-up itself, and that thread's blocked hub let connections miss heartbeats while traffic went on; the pthread cell, none (apps/fakeservice/README.md: /call alternates 200 and 500 with 2 threads)",
		threadsFix(s),
		f.reproduceHeartbeat(f.heartbeatMode(), "/call"), lines), true
}

func preforkColdStarts(f *facts) (Finding, bool) {
	s := f.s
	if s == nil || s.Server != Apache || s.Mode != "embedded" || s.MPM != "prefork" || s.Spare == nil ||
		s.Spare.MaxSpareServers >= s.Spare.MaxRequestWorkers {
		return Finding{}, false
	}
	sp := s.Spare
	what := "default spare settings"
	spare := "default"
	if !sp.Defaults {
		what = "spare settings"
		spare = fmt.Sprintf("%d:%d:%d:%d", sp.StartServers, sp.MinSpareServers, sp.MaxSpareServers, sp.MaxRequestWorkers)
	}
	return f.finding("prefork-embedded-cold-starts", Medium,
		fmt.Sprintf("latency spikes after idle: embedded mode under prefork with %s (MinSpareServers %d, MaxSpareServers %d, MaxRequestWorkers %d)",
			what, sp.MinSpareServers, sp.MaxSpareServers, sp.MaxRequestWorkers),
		"In embedded mode every prefork child loads the app on its first request. Apache reaps idle children above MaxSpareServers and forks new ones when traffic returns, so a burst after a lull lands on fresh children that import the app while the request waits: spikes at the load balancer that the app's own timing never sees (seed 004).",
		"wsgilab run spikes (internal/scenario/spikes/testdata/recorded): prefork-embedded with Apache's default spare settings, 12 cold starts in 4 bursts, client p99 10.3 s against an app p99 of 59 ms; prefork-daemon-preload, 0 cold starts, p99 158 ms",
		"daemon mode with preloading: WSGIDaemonProcess NAME processes=N threads=1 and WSGIScriptAlias ... process-group=NAME application-group=%{GLOBAL}.",
		"wsgilab run spikes --mpm prefork --mode embedded --spare "+spare, f.serviceLines("mode", "spare", "mpm")), true
}

func heartbeatOffNoKeepalive(f *facts) (Finding, bool) {
	if f.heartbit || (f.s != nil && f.s.App != nil && f.s.App.Keepalive == Yes) {
		return Finding{}, false
	}
	if f.s != nil {
		f.maybeOslo()
	}
	return f.finding("heartbeat-off-no-keepalive", Medium,
		"a dead broker or a dropped connection goes unnoticed for minutes: heartbeats off without short TCP keepalives",
		"With heartbeat_timeout_threshold = 0 neither side checks an idle AMQP connection: a broker that hangs or a connection a firewall drops is noticed only by TCP keepalive, which py-amqp sets to 60 s idle then 9 probes 10 s apart (about 150 s), and oslo.messaging has no option to shorten. Until then the service sends into a dead connection and its RPC calls wait for their timeout.",
		"DESIGN.md (py-amqp's keepalive defaults, oslo.messaging 14.0.3); seed 002 (\"disabling heartbeat ... RPC corner cases handled poorly, failover just sucks\"); the heartbeat scenario's --controls cell runs heartbeat off with a 5 s keepalive; the command below runs this configuration through an idle, where nothing drops: a dead peer is the failover scenario's to measure (issue 9, not run here)",
		"keep heartbeats on with heartbeat_in_pthread = true, or have the app set short keepalives on its AMQP sockets (kombu transport_options socket_settings: TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT).",
		f.reproduceHeartbeat("off", ""), []Line{f.osloLine("heartbeat_timeout_threshold", "60")}), true
}

func heartbeatTimeoutShort(f *facts) (Finding, bool) {
	t := f.o.HeartbeatTimeout
	if t <= 0 || t >= 5 {
		return Finding{}, false
	}
	return f.finding("heartbeat-timeout-short", Low,
		fmt.Sprintf("heartbeat timeout of %d s: under RabbitMQ's 5 s floor", t),
		"The broker closes a connection after 2-3 heartbeat intervals without a frame; with a timeout under 5 s a client or broker busy for a few seconds (a GC pause, a CPU-bound request holding the GIL) misses beats and loses a healthy connection. RabbitMQ's guidance is 5-20 s; the broker negotiates the smaller of its own and the client's value.",
		"RabbitMQ's documentation (DESIGN.md, \"Facts already measured\"); the lab itself uses 3 s only to make its cells take seconds",
		"heartbeat_timeout_threshold between 5 and 20 (oslo.messaging's default is 60).",
		f.reproduceHeartbeat(f.heartbeatMode(), ""), []Line{f.osloLine("heartbeat_timeout_threshold", "60")}), true
}

// reproduceHeartbeat is the `wsgilab run heartbeat` command that runs the service's
// configuration with heartbeat mode hb (and path, when the rule is about RPC calls). The
// heartbeat timeout stays the lab's 3 s so that a cell takes seconds: the broker closes a
// silent connection after 2-3 timeouts whatever the timeout is.
func (f *facts) reproduceHeartbeat(hb, path string) string {
	args := []string{"wsgilab", "run", "heartbeat"}
	s := f.s
	switch {
	case s == nil:
	case s.Server == Apache:
		mpm := s.MPM
		if mpm == "" {
			mpm = "prefork,worker,event"
		}
		args = append(args, "--mpm", mpm, "--mode", s.Mode)
		if s.Mode == "daemon" {
			args = append(args, "--processes", fmt.Sprint(max(s.Processes, 1)), "--threads", fmt.Sprint(max(s.Threads, 1)))
		}
	case s.Server == UWSGI:
		args = append(args, "--server", "uwsgi", "--uwsgi-threads", map[bool]string{true: "on", false: "off"}[s.PythonThreads])
		if s.LazyApps {
			args = append(args, "--uwsgi-lazy-apps", "on")
		}
		if s.Processes > 0 {
			args = append(args, "--processes", fmt.Sprint(s.Processes))
		}
		if s.Threads > 1 {
			args = append(args, "--threads", fmt.Sprint(s.Threads))
		}
	case s.Server == Gunicorn:
		args = append(args, "--server", "gunicorn", "--gunicorn-worker", s.Worker)
		if s.Preload {
			args = append(args, "--gunicorn-preload", "on")
		}
		if s.Processes > 0 {
			args = append(args, "--processes", fmt.Sprint(s.Processes))
		}
		if s.Worker == "gthread" && s.Threads > 1 {
			args = append(args, "--threads", fmt.Sprint(s.Threads))
		}
	}
	if hb == "off" {
		args = append(args, "--heartbeat", "off", "--controls")
	} else {
		args = append(args, "--heartbeat", hb)
	}
	if path != "" {
		args = append(args, "--path", path)
	}
	return strings.Join(args, " ")
}

// threadsFix is the one-thread-per-process setting of the service's server.
func threadsFix(s *Service) string {
	one := "threads = 1 in the [uwsgi] section"
	if s.Server == Apache {
		// Embedded mode's threads are the MPM's: only daemon mode sets them per application.
		one = "daemon mode with one thread per process, WSGIDaemonProcess NAME processes=N threads=1 (as puppet-nova configures nova-api)"
	}
	return one + ", or heartbeat_in_pthread = true (the driver's threading is then native and replies reach every thread)."
}
