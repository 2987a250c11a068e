// Package server is what a cell's WSGI server is, whatever runs the app: Apache + mod_wsgi
// (internal/apache), uWSGI (internal/server/uwsgi) or gunicorn (internal/server/gunicorn). A
// cell (internal/stack) starts one through its Launcher and observes it through Server: its
// URL, its processes and which of them run the app, its log (with the app's stderr in it) and
// how to read that log. Every server runs in its own process group (internal/proc) and is gone,
// with its port, when Stop returns.
package server

import (
	"context"
	"net/http"
	"time"

	"wsgilab/internal/observe"
)

// Server is one running WSGI server.
type Server interface {
	// Kind is the server's name: "apache", "uwsgi", "gunicorn".
	Kind() string
	// URL is the app's base URL, http://127.0.0.1:PORT; Port is PORT.
	URL() string
	Port() int
	// PIDs lists every live process of the server (parent, children, workers, daemons).
	PIDs() []int
	// Processes lists them with their roles (RoleParent, ...); AppRole is the role of those
	// that run the app, which warm-up traffic must reach and whose sockets are the app's.
	Processes() []Process
	AppRole() string
	// Log is the server's own log, where the app's stderr (its oslo.messaging and kombu
	// logging) lands too; LogFormat says how to read its lines.
	Log() string
	LogFormat() observe.Format
	// AccessLog is the access log in AccessLogFields' layout ("" when the server writes none).
	AccessLog() string
	// StatusURL is a machine-readable status page (Apache's mod_status), "" when none.
	StatusURL() string
	// Loaded says what the server reports it runs, from the server itself (Apache: the MPM
	// module apachectl -M lists; uWSGI and gunicorn: their version and worker model).
	Loaded() string
	// Stop ends the server and returns when every process is gone and the port is free.
	Stop() error
}

// Roles of a server's processes.
const (
	RoleParent = "parent"      // Apache's parent, uWSGI's master, gunicorn's arbiter
	RoleChild  = "child"       // an Apache MPM child (runs the app in mod_wsgi embedded mode)
	RoleDaemon = "wsgi-daemon" // a mod_wsgi daemon process
	RoleWorker = "worker"      // a uWSGI or gunicorn worker
)

// Process is one process of a server.
type Process struct {
	PID  int
	Role string
}

// Config is what every server is started with: where, on which port, which app, with what
// environment. The server's own knobs are in Options.
type Config struct {
	// Dir is the server's own directory (config, logs); www-data must be able to traverse it.
	Dir string
	// Port is the loopback port the server listens on (127.0.0.1:Port).
	Port int
	// AppPath is the WSGI file whose "application" callable is served at /.
	AppPath string
	// Env is the whole environment of the server and the app (KEY=value); nothing else is
	// inherited, so a PYTHONPATH or pyenv setting of wsgilab's cannot leak into the app.
	Env []string
	// ReadyPath is what readiness GETs ("/" when empty): any answer below 500 counts.
	ReadyPath string
	Options
}

// Options are every server's knobs. Zero values mean the server's own default; a knob of
// another server is an error (Launcher.Check says which).
type Options struct {
	// Server is "apache" (the default), "uwsgi" or "gunicorn".
	Server string

	// Apache: the MPM and its knobs (0 = Apache's default); see apache.Config.
	MPM                    string
	StartServers           int
	MinSpareServers        int
	MaxSpareServers        int
	MinSpareThreads        int
	MaxSpareThreads        int
	MaxRequestWorkers      int
	ServerLimit            int
	ThreadsPerChild        int
	MaxConnectionsPerChild int
	// Mode is mod_wsgi's embedded or daemon; InactivityTimeout is daemon-only.
	Mode              string
	InactivityTimeout int

	// Processes and Threads size what runs the app: mod_wsgi's daemon process group (daemon
	// mode), uWSGI's --processes/--threads, gunicorn's --workers/--threads. Preload loads the
	// app before the first request: mod_wsgi's process-group/application-group preload,
	// gunicorn's --preload (the master imports the app and forks the workers).
	Processes, Threads int
	Preload            bool

	// uWSGI: EnableThreads turns Python threads on (--enable-threads; off is uWSGI's default,
	// and then no Python thread runs: not a native heartbeat thread either). LazyApps loads the
	// app in each worker (--lazy-apps) instead of in the master before the workers fork.
	EnableThreads bool
	LazyApps      bool

	// Gunicorn: Worker is the worker class, sync, gthread or eventlet.
	Worker string
}

// Launcher starts one kind of server.
type Launcher interface {
	// Kind is the server's name, as in Options.Server.
	Kind() string
	// Check reports, before anything starts, knobs that are wrong for this server (a knob of
	// another server included) and a server that is not installed (naming the package).
	Check(o Options) error
	// Start starts the server in its own process group and returns once the app answers
	// ReadyPath. On any error nothing it started is left running; an app that fails to import
	// is reported with its exception.
	Start(ctx context.Context, c Config) (Server, error)
	// Log is where a server started with c writes its log, and its format: what a cell that
	// failed to start shows as evidence.
	Log(c Config) observe.LogFile
}

// NewClient is the HTTP client for wsgilab's own requests to a cell (readiness, /status,
// mod_status): it never keeps a connection alive. A prefork child (and a worker/event thread,
// a sync gunicorn worker, a uWSGI worker) that holds an idle keep-alive connection serves
// nothing else until it times out, so a polling client with keep-alive would pin one of a
// cell's processes and keep the experiment's traffic away from it.
func NewClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
}

// AccessLogFields is the layout every server's access log is written in, so that one reader
// (observe.AccessLog) serves them all: client, time, request line, status, bytes, time taken in
// microseconds, the serving process, and the app's X-Pid and X-App-Time-Us response headers
// ("-" when absent). It is Apache's `%h %t "%r" %>s %b %D %P %{X-Pid}o %{X-App-Time-Us}o`.
const AccessLogFields = "client time request status bytes micros pid x-pid x-app-time-us"

// LogFile is how observe reads a running server's log: the file, labelled with the server's
// name, in its format.
func LogFile(s Server) observe.LogFile {
	return observe.LogFile{Path: s.Log(), Source: s.Kind(), Format: s.LogFormat()}
}
