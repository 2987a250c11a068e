// Package gunicorn runs a cell's app under Debian's gunicorn (20.1, Debian's python3): an
// arbiter that forks --workers workers of one class: sync (one request at a time), gthread
// (--threads native threads) or eventlet (green threads on eventlet's hub, which the worker
// monkey-patches in). --preload imports the app in the arbiter before the fork.
package gunicorn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"wsgilab/internal/observe"
	"wsgilab/internal/server"
)

// Kind is gunicorn's name among the servers.
const Kind = "gunicorn"

// Binary is the gunicorn executable (package gunicorn); a variable so that tests can point it
// at a missing file.
var Binary = "/usr/bin/gunicorn"

// Workers are the worker classes wsgilab runs, the default first.
var Workers = []string{"sync", "gthread", "eventlet"}

// Launcher starts gunicorn cells (server.Launcher).
type Launcher struct{}

func (Launcher) Kind() string { return Kind }

// Check refuses Apache's and uWSGI's knobs, an unknown worker class, threads where the class
// has none (gunicorn would silently switch a sync worker with threads to gthread, and the
// eventlet worker ignores them), and a missing gunicorn.
func (Launcher) Check(o server.Options) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if server.HasApacheKnobs(o) {
		bad("the Apache MPM and mod_wsgi mode options do not apply to gunicorn")
	}
	if o.EnableThreads || o.LazyApps {
		bad("enable-threads and lazy-apps are uWSGI options, not gunicorn's")
	}
	w := worker(o)
	if !slices.Contains(Workers, w) {
		bad("unknown gunicorn worker class %q (allowed: %s)", w, strings.Join(Workers, ", "))
	}
	if o.Processes < 0 || o.Threads < 0 {
		bad("processes and threads must be >= 1 (0 = 1)")
	}
	if o.Threads > 1 && w != "gthread" {
		bad("threads=%d: only the gthread worker runs threads (gunicorn would turn a sync worker into gthread, and the eventlet worker runs green threads)", o.Threads)
	}
	if len(errs) == 0 {
		if _, err := os.Stat(Binary); err != nil {
			bad("%s is missing: install package gunicorn (bash scripts/install-stack.sh)", Binary)
		}
	}
	return errors.Join(errs...)
}

func worker(o server.Options) string {
	if o.Worker == "" {
		return Workers[0]
	}
	return o.Worker
}

// accessFormat writes requests in server.AccessLogFields' layout; %(p)s prints "<pid>".
const accessFormat = `%(h)s %(t)s "%(r)s" %(s)s %(b)s %(D)s %(p)s %({x-pid}o)s %({x-app-time-us}o)s`

// shim is a module gunicorn can import: gunicorn loads "module:callable", and a WSGI file (app.wsgi)
// is no module, so this one executes it by path and exposes its application.
const shim = `# Written by wsgilab: gunicorn imports "module:callable"; this module loads the WSGI file.
import importlib.machinery
import importlib.util
import sys

_loader = importlib.machinery.SourceFileLoader("wsgilab_wsgi_app", %q)
_spec = importlib.util.spec_from_loader(_loader.name, _loader)
_mod = importlib.util.module_from_spec(_spec)
sys.modules[_loader.name] = _mod
_loader.exec_module(_mod)
application = _mod.application
`

// StopGrace is how long gunicorn gets after SIGINT (its quick shutdown).
var StopGrace = 5 * time.Second

// Log is the server's log under c.Dir: its output, with the workers' and the app's stderr.
func (Launcher) Log(c server.Config) observe.LogFile {
	return observe.LogFile{Path: filepath.Join(c.Dir, "gunicorn.log"), Source: Kind, Format: observe.FormatGunicorn}
}

// ConfFile is the name of the configuration file Start writes in the server's directory.
const ConfFile = "gunicorn.conf.py"

// Start starts gunicorn with c from a configuration file, <Dir>/gunicorn.conf.py (gunicorn -c),
// the form deployments keep their gunicorn settings in and the one `wsgilab doctor --gunicorn`
// reads; its log (the arbiter's and workers' lines, the app's stderr) is <Dir>/gunicorn.log,
// the requests <Dir>/access.log.
func (Launcher) Start(ctx context.Context, c server.Config) (server.Server, error) {
	if err := server.PrepareDir(c.Dir); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "wsgilab_app.py"), []byte(fmt.Sprintf(shim, c.AppPath)), 0o644); err != nil {
		return nil, err
	}
	conf := filepath.Join(c.Dir, ConfFile)
	if err := os.WriteFile(conf, []byte(Conf(c)), 0o644); err != nil {
		return nil, err
	}
	// The app is named on the command line too (it is wsgi_app in the file): gunicorn then
	// titles its processes after it, as it always did here.
	m, err := server.StartMaster(ctx, c, server.MasterSpec{
		Kind: Kind, Cmd: exec.Command(Binary, "-c", conf, appURI), Conf: conf, Log: Launcher{}.Log(c).Path,
		AccessLog: accessLog(c), Format: observe.FormatGunicorn, StopSignal: syscall.SIGINT, StopGrace: StopGrace,
		Loaded: loaded,
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// appURI is the shim's application, "module:callable" as gunicorn imports it.
const appURI = "wsgilab_app:application"

func accessLog(c server.Config) string { return filepath.Join(c.Dir, "access.log") }

// Conf is c's gunicorn configuration as a gunicorn.conf.py: one Python assignment per setting,
// strings quoted as Go quotes them (the same escapes Python reads).
func Conf(c server.Config) string {
	var b strings.Builder
	b.WriteString("# Written by wsgilab (internal/server/gunicorn); gunicorn -c this file.\n")
	str := func(k, v string) { fmt.Fprintf(&b, "%s = %s\n", k, strconv.Quote(v)) }
	num := func(k string, v int) { fmt.Fprintf(&b, "%s = %d\n", k, v) }
	str("wsgi_app", appURI)
	fmt.Fprintf(&b, "bind = [%s]\n", strconv.Quote("127.0.0.1:"+strconv.Itoa(c.Port)))
	num("workers", max(c.Processes, 1))
	str("worker_class", worker(c.Options))
	if c.Threads > 1 {
		num("threads", c.Threads)
	}
	if c.Preload {
		b.WriteString("preload_app = True\n")
	}
	str("accesslog", accessLog(c))
	str("access_log_format", accessFormat)
	str("errorlog", "-")
	str("loglevel", "info")
	str("pythonpath", c.Dir)
	if os.Geteuid() == 0 {
		str("user", server.RunUser)
		str("group", server.RunGroup)
	}
	return b.String()
}

var (
	versionRE = regexp.MustCompile(`\[(\d+)\] \[INFO\] Starting gunicorn (\S+)`)
	workerRE  = regexp.MustCompile(`Using worker: (\S+)`)
	appRE     = regexp.MustCompile(`fakeservice loaded in pid (\d+)`)
)

// loaded is what gunicorn's startup lines say: its version, the worker class it uses (a sync
// worker with threads shows as "threads"), and, for the fake service, whether the arbiter
// imported the app before the fork.
func loaded(log []byte) string {
	s := string(log)
	parts := []string{"gunicorn"}
	arbiter := ""
	if m := versionRE.FindStringSubmatch(s); m != nil {
		parts[0] += " " + m[2]
		arbiter = m[1]
	}
	if m := workerRE.FindStringSubmatch(s); m != nil {
		parts = append(parts, m[1]+" workers")
	}
	if arbiter != "" {
		for _, m := range appRE.FindAllStringSubmatch(s, -1) {
			if m[1] == arbiter {
				parts = append(parts, "app imported in the arbiter before the fork")
				break
			}
		}
	}
	return strings.Join(parts, ", ")
}
