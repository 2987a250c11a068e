// Package stack composes one cell of an experiment from the real components: a private WSGI
// server (Apache + mod_wsgi, uWSGI or gunicorn: internal/server, servers.go)
// + mod_wsgi serving the service under test (the fake nova-api in apps/fakeservice, or the
// user's own WSGI file) and the fake conductor answering its RPC calls, both on one broker
// vhost, in one run directory, with their own ports.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"wsgilab/apps/fakeservice"
	"wsgilab/internal/apache"
	"wsgilab/internal/broker"
	"wsgilab/internal/observe"
	"wsgilab/internal/proc"
	"wsgilab/internal/server"
)

// Python is the interpreter that runs the conductor: Debian's, the one mod_wsgi embeds and the
// one python3-eventlet and python3-oslo.messaging are installed for (not whatever python3 is
// first on PATH).
var Python = "/usr/bin/python3"

// Heartbeats are the accepted values of Options.Heartbeat: the oslo.messaging heartbeat in a
// green thread (heartbeat_in_pthread=False), in a native thread (True), or disabled
// (heartbeat_timeout_threshold=0).
var Heartbeats = []string{"green", "pthread", "off"}

// StartTimeout bounds a cell's start, from nothing to the app answering (and, for the fake
// service, its first RPC call). Cells start in seconds, up to 15 s when several start at once on
// two cores.
var StartTimeout = 90 * time.Second

// ConductorStopGrace bounds the conductor's clean shutdown (stop consuming, close connections).
const ConductorStopGrace = 5 * time.Second

// Options is every knob of one cell. Zero values mean the component's own default, except
// where noted.
type Options struct {
	// The server and its knobs (server.Options: which server; Apache's MPM and mod_wsgi mode;
	// processes x threads; preload; uWSGI's enable-threads and lazy-apps; gunicorn's worker
	// class). Processes and Threads are required (>= 1) in mod_wsgi daemon mode, where
	// apache.DefaultDaemonProcesses/Threads are mod_wsgi's defaults.
	server.Options

	// The service (WSGILAB_* variables of apps/fakeservice/README.md).
	MonkeyPatch      bool
	Heartbeat        string        // green (default), pthread or off
	HeartbeatTimeout int           // seconds; 0 = oslo.messaging's default (60)
	HeartbeatRate    int           // 0 = oslo.messaging's default (2)
	ImportCost       time.Duration // CPU burnt when the app loads
	RequestCost      time.Duration // how long the fake app's "/" waits before answering
	TCPKeepalive     int           // seconds of idle before TCP keepalive probes; 0 = py-amqp's default (60)
	RPCTimeout       int           // seconds an RPC call waits for the conductor; 0 = the app's default (10)
	Topic            string        // RPC topic; "" = "wsgilab"

	// AppPath is the user's own WSGI file; "" serves the built-in fake service. A user app
	// gets the same environment; readiness then only needs it to answer GET / below 500.
	AppPath string
	// Env adds KEY=value entries to the app's environment (after the WSGILAB_* ones).
	Env []string
	// Port is the server's port; 0 picks a free one.
	Port int
}

// Validate checks the options that are the stack's own and, through the server's Launcher, the
// rest (a knob of another server is an error).
func (o Options) Validate() error {
	var errs []error
	if o.Heartbeat != "" && !slices.Contains(Heartbeats, o.Heartbeat) {
		errs = append(errs, fmt.Errorf("unknown heartbeat mode %q (allowed: %s)", o.Heartbeat, strings.Join(Heartbeats, ", ")))
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"heartbeat-timeout", o.HeartbeatTimeout}, {"heartbeat-rate", o.HeartbeatRate},
		{"tcp-keepalive", o.TCPKeepalive}, {"rpc-timeout", o.RPCTimeout}, {"port", o.Port}} {
		if n.v < 0 {
			errs = append(errs, fmt.Errorf("%s=%d: must be >= 0", n.name, n.v))
		}
	}
	if o.ImportCost < 0 {
		errs = append(errs, fmt.Errorf("import-cost=%v: must be >= 0", o.ImportCost))
	}
	if o.RequestCost < 0 {
		errs = append(errs, fmt.Errorf("request-cost=%v: must be >= 0", o.RequestCost))
	}
	if o.Topic != "" && strings.ContainsAny(o.Topic, " \t\n") {
		errs = append(errs, fmt.Errorf("topic %q contains whitespace", o.Topic))
	}
	l, err := launcher(o.Server)
	if err != nil {
		errs = append(errs, err)
	} else if err := l.Check(o.Options); err != nil {
		errs = append(errs, err)
	}
	for _, kv := range o.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			errs = append(errs, fmt.Errorf("environment entry %q is not KEY=value", kv))
		}
	}
	if o.AppPath != "" {
		check := server.CheckApp
		// A server with rules of its own about the app's path (Apache's configuration cannot
		// carry a space in it) says so.
		if c, ok := l.(interface{ CheckApp(string) error }); ok {
			check = c.CheckApp
		}
		if err := check(o.AppPath); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// env is the service's WSGILAB_* environment; only non-default values are set, so the app's
// own defaults (documented in its README) apply otherwise.
func (o Options) env(transportURL string) []string {
	topic := o.Topic
	if topic == "" {
		topic = "wsgilab"
	}
	hb := o.Heartbeat
	if hb == "" {
		hb = "green"
	}
	mp := "0"
	if o.MonkeyPatch {
		mp = "1"
	}
	env := []string{
		"WSGILAB_TRANSPORT_URL=" + transportURL,
		"WSGILAB_TOPIC=" + topic,
		"WSGILAB_MONKEY_PATCH=" + mp,
		"WSGILAB_HEARTBEAT=" + hb,
		// www-data cannot write __pycache__ next to the app anyway; don't let it try.
		"PYTHONDONTWRITEBYTECODE=1",
	}
	add := func(k string, v int) {
		if v > 0 {
			env = append(env, k+"="+strconv.Itoa(v))
		}
	}
	add("WSGILAB_HEARTBEAT_TIMEOUT", o.HeartbeatTimeout)
	add("WSGILAB_HEARTBEAT_RATE", o.HeartbeatRate)
	add("WSGILAB_TCP_KEEPALIVE", o.TCPKeepalive)
	add("WSGILAB_RPC_TIMEOUT", o.RPCTimeout)
	if o.ImportCost > 0 {
		env = append(env, "WSGILAB_IMPORT_COST="+strconv.FormatFloat(o.ImportCost.Seconds(), 'f', -1, 64))
	}
	if o.RequestCost > 0 {
		env = append(env, "WSGILAB_REQUEST_COST="+strconv.FormatFloat(o.RequestCost.Seconds(), 'f', -1, 64))
	}
	return append(env, o.Env...)
}

// StartError is a cell that did not come up once its server had been started: the error, and
// the server's log, where the server and the app said why (a worker that timed out, an
// exception at import).
type StartError struct {
	Err error
	Log observe.LogFile
}

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// StartupPhases are the ends of a cell's start-up phases, measured from the start of Start
// (the conductor starts in parallel with Apache).
type StartupPhases struct {
	ServerReady    time.Duration // the server's Start returned: port open and GET / answered
	ConductorReady time.Duration // the conductor printed "conductor ready"
	FirstCall      time.Duration // GET /call answered 200 (fake service only)
}

// Cell is one running stack: the server running the service, and the conductor, on one vhost.
type Cell struct {
	Name    string
	Dir     string
	Options Options
	Vhost   *broker.Vhost
	Server  server.Server
	// FakeService says the app is the built-in one (it has /cast, /call and /status).
	FakeService  bool
	AppPath      string
	ConductorLog string
	// StartupTime is from Start being called to the cell answering (/call for the fake
	// service, / for a user app); Startup splits it by phase.
	StartupTime time.Duration
	Startup     StartupPhases

	conductor *proc.Process
	stopOnce  sync.Once
	stopErr   error
}

// Start brings a cell up in dir (created; the server under dir/<server>, e.g. dir/apache, the
// service's files under dir/app) on vhost, and returns when it serves: for the fake service,
// when GET /call answers, which proves the server, the app, the broker and the conductor. On
// any error nothing it started is left running.
func Start(ctx context.Context, dir string, vhost *broker.Vhost, o Options) (_ *Cell, err error) {
	began := time.Now()
	// A service that never answers (an app that hangs at import, a server whose workers keep
	// timing out) must not hang the run: it fails the cell, with what the server logged.
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	if vhost == nil {
		return nil, errors.New("stack: no broker vhost given")
	}
	if o.AppPath != "" {
		if o.AppPath, err = filepath.Abs(o.AppPath); err != nil {
			return nil, err
		}
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	l, err := launcher(o.Server)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(Python); err != nil {
		return nil, fmt.Errorf("%s is missing: install package python3 (bash scripts/install-stack.sh)", Python)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	app, conductorPy, err := fakeservice.Write(filepath.Join(dir, "app"))
	if err != nil {
		return nil, err
	}
	c := &Cell{Name: filepath.Base(dir), Dir: dir, Options: o, Vhost: vhost, AppPath: app, FakeService: true,
		ConductorLog: filepath.Join(dir, "conductor.log")}
	if o.AppPath != "" {
		c.AppPath, c.FakeService = o.AppPath, false
	}
	port := o.Port
	if port == 0 {
		ports, err := proc.FreePorts(1)
		if err != nil {
			return nil, err
		}
		port = ports[0]
	}
	env := o.env(vhost.TransportURL())
	if err := writeConfigFiles(dir, filepath.Dir(app), env, o); err != nil {
		return nil, err
	}

	// The conductor and the server start in parallel: both spend most of a second importing
	// oslo.messaging.
	cmd := exec.Command(Python, conductorPy)
	cmd.Dir = filepath.Dir(conductorPy)
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "PYTHONUNBUFFERED=1",
		"PYTHONDONTWRITEBYTECODE=1"}, env...)
	c.conductor, err = proc.Start("conductor", cmd, c.ConductorLog)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if serr := c.Stop(); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	// "/" never touches the broker; for the fake service readiness proper is the /call below.
	sc := server.Config{Dir: filepath.Join(dir, l.Kind()), Port: port, AppPath: c.AppPath, Env: env, ReadyPath: "/",
		Options: o.Options}
	// From here on a failure has the server's log as evidence.
	defer func() {
		if err != nil {
			err = &StartError{Err: err, Log: l.Log(sc)}
		}
	}()
	c.Server, err = l.Start(ctx, sc)
	if err != nil {
		return nil, err
	}
	c.Startup.ServerReady = time.Since(began)
	if err := c.waitConductor(ctx); err != nil {
		return nil, err
	}
	c.Startup.ConductorReady = time.Since(began)
	if c.FakeService {
		if err := c.waitCall(ctx); err != nil {
			return nil, err
		}
		c.Startup.FirstCall = time.Since(began)
	}
	if c.Server.Kind() == apache.Kind && o.Mode == "daemon" && o.Preload {
		// One daemon answering does not make the cell ready: the others may still be importing
		// the app, and the first requests they take would measure the cell's start.
		if err := c.waitPreloaded(ctx, preloadWait); err != nil {
			return nil, err
		}
	}
	c.StartupTime = time.Since(began)
	return c, nil
}

// waitConductor waits for the conductor's "conductor ready" line (it consumes from its topic).
func (c *Cell) waitConductor(ctx context.Context) error {
	for {
		if b, err := os.ReadFile(c.ConductorLog); err == nil && strings.Contains(string(b), "conductor ready") {
			return nil
		}
		if exited, werr := c.conductor.Exited(); exited {
			return fmt.Errorf("conductor exited while starting (%v):\n%s", werr, tail(c.ConductorLog, 20))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the conductor: %w\n%s", ctx.Err(), tail(c.ConductorLog, 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitCall GETs /call until it answers 200: the first call also opens the app's first AMQP
// connections (send + reply), as nova-api's first RPC does.
func (c *Cell) waitCall(ctx context.Context) error {
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, "GET", c.URL()+"/call", nil)
		if err != nil {
			return err
		}
		resp, err := server.NewClient(0).Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		if ctx.Err() != nil {
			return fmt.Errorf("GET %s/call never answered (last: %s; see %s and %s): %w",
				c.URL(), last, c.Server.Log(), c.ConductorLog, ctx.Err())
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop ends the server and the conductor (in parallel) and returns when all their processes
// are gone and the server's port is free. The vhost is the caller's: it is left alone. Safe to call
// more than once.
func (c *Cell) Stop() error {
	c.stopOnce.Do(func() {
		var wg sync.WaitGroup
		var aerr, cerr error
		if c.Server != nil {
			wg.Go(func() { aerr = c.Server.Stop() })
		}
		if c.conductor != nil {
			wg.Go(func() { cerr = c.conductor.Stop(syscall.SIGTERM, ConductorStopGrace) })
		}
		wg.Wait()
		c.stopErr = errors.Join(aerr, cerr)
	})
	return c.stopErr
}

// URL is the service's base URL.
func (c *Cell) URL() string { return c.Server.URL() }

// Endpoints lists the service's URLs worth knowing (the fake service's four, or / for a user
// app) and Apache's status page.
func (c *Cell) Endpoints() []string {
	paths := []string{"/"}
	if c.FakeService {
		paths = []string{"/", "/cast", "/call", "/status"}
	}
	var out []string
	for _, p := range paths {
		out = append(out, c.URL()+p)
	}
	if st := c.Server.StatusURL(); st != "" {
		out = append(out, st+"?auto")
	}
	return out
}

// ConductorPID is the conductor's PID.
func (c *Cell) ConductorPID() int { return c.conductor.PID }

// PIDs lists every live process of the cell: the server's (parent, children, workers, daemons)
// and the conductor.
func (c *Cell) PIDs() []int {
	out := c.Server.PIDs()
	return append(out, c.conductor.Members()...)
}

// Port is the server's port.
func (c *Cell) Port() int { return c.Server.Port() }

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// preloadWait bounds the wait for preloaded daemons to finish importing the app.
const preloadWait = 60 * time.Second

// waitPreloaded waits until every mod_wsgi daemon process of the cell has logged loading the
// app and, for the fake service, its own "loaded" line (a user's app has no such line: its load
// start is all that can be seen).
func (c *Cell) waitPreloaded(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		events, _ := observe.ReadProcessEvents(server.LogFile(c.Server))
		started, loaded := map[int]bool{}, map[int]bool{}
		for _, e := range events {
			switch e.Rule {
			case "wsgi_script_load":
				started[e.Fields.PID] = true
			case "app_loaded":
				loaded[e.Fields.PID] = true
			}
		}
		pending := 0
		for _, p := range c.Server.Processes() {
			if p.Role == "wsgi-daemon" && (!started[p.PID] || (c.FakeService && !loaded[p.PID])) {
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d mod_wsgi daemon process(es) had not finished preloading the app after %s (see %s)",
				pending, timeout, c.Server.Log())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// AppRole is the role of the server's processes that run the app (server.Server.AppRole).
func (c *Cell) AppRole() string { return c.Server.AppRole() }

// AppProcesses lists the live processes that run the app (see AppRole).
func (c *Cell) AppProcesses() []server.Process {
	var out []server.Process
	role := c.AppRole()
	for _, p := range c.Server.Processes() {
		if p.Role == role {
			out = append(out, p)
		}
	}
	return out
}
