// Package uwsgi runs a cell's app under Debian's uWSGI (uwsgi-core + uwsgi-plugin-python3,
// 2.0.21): one master that forks --processes workers, each with --threads threads, serving
// HTTP itself on 127.0.0.1 (--http-socket). Two knobs change what the app's background threads
// can do: without --enable-threads (uWSGI's default) no Python thread but the request's runs,
// and without --lazy-apps the app is imported once in the master and the workers fork after it,
// sharing whatever the import opened.
package uwsgi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"wsgilab/internal/observe"
	"wsgilab/internal/server"
)

// Kind is uWSGI's name among the servers.
const Kind = "uwsgi"

// Binary is the uwsgi executable (package uwsgi-core); Plugin its Python 3 plugin
// (uwsgi-plugin-python3). Variables so that tests can point them at a missing file.
var (
	Binary = "/usr/bin/uwsgi"
	Plugin = "/usr/lib/uwsgi/plugins/python3_plugin.so"
)

// Launcher starts uWSGI cells (server.Launcher).
type Launcher struct{}

func (Launcher) Kind() string { return Kind }

// Check refuses Apache's and gunicorn's knobs, sizes below one, threads without Python threads,
// and a missing uWSGI.
func (Launcher) Check(o server.Options) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if server.HasApacheKnobs(o) {
		bad("the Apache MPM and mod_wsgi mode options do not apply to uWSGI")
	}
	if o.Worker != "" {
		bad("worker class %q is a gunicorn option, not uWSGI's", o.Worker)
	}
	if o.Preload {
		bad("preload is not a uWSGI option: uWSGI preloads unless lazy-apps is on")
	}
	if o.Processes < 0 || o.Threads < 0 {
		bad("processes and threads must be >= 1 (0 = 1)")
	}
	if o.Threads > 1 && !o.EnableThreads {
		bad("threads=%d runs Python threads: uWSGI turns them on with more than one thread per worker, so threads must be 1 with Python threads off", o.Threads)
	}
	if len(errs) == 0 {
		for _, f := range []struct{ path, pkg string }{{Binary, "uwsgi-core"}, {Plugin, "uwsgi-plugin-python3"}} {
			if _, err := os.Stat(f.path); err != nil {
				bad("%s is missing: install package %s (bash scripts/install-stack.sh)", f.path, f.pkg)
			}
		}
	}
	return errors.Join(errs...)
}

// logFormat writes requests in server.AccessLogFields' layout; uWSGI cannot log a response
// header, so X-Pid and X-App-Time-Us are "-" (the client reads X-Pid from the response).
const logFormat = `%(addr) [%(ltime)] "%(method) %(uri) %(proto)" %(status) %(size) %(micros) %(pid) - -`

// StopGrace is how long uWSGI gets to bury its workers after SIGINT.
var StopGrace = 5 * time.Second

// Log is the server's log under c.Dir: its output, with the workers' and the app's stderr.
func (Launcher) Log(c server.Config) observe.LogFile {
	return observe.LogFile{Path: filepath.Join(c.Dir, "uwsgi.log"), Source: Kind, Format: observe.FormatUWSGI}
}

// ConfFile is the name of the ini file Start writes in the server's directory.
const ConfFile = "uwsgi.ini"

// Start starts uWSGI with c from an ini file, <Dir>/uwsgi.ini (uwsgi --ini), the form
// deployments keep their uWSGI configuration in and the one `wsgilab doctor --uwsgi` reads; its
// log (stderr, the workers' and the app's too, and the requests) is <Dir>/uwsgi.log.
func (Launcher) Start(ctx context.Context, c server.Config) (server.Server, error) {
	if err := server.PrepareDir(c.Dir); err != nil {
		return nil, err
	}
	conf := filepath.Join(c.Dir, ConfFile)
	if err := os.WriteFile(conf, []byte(Ini(c)), 0o644); err != nil {
		return nil, err
	}
	log := Launcher{}.Log(c).Path
	m, err := server.StartMaster(ctx, c, server.MasterSpec{
		Kind: Kind, Cmd: exec.Command(Binary, "--ini", conf), Conf: conf, Log: log, AccessLog: log,
		Format: observe.FormatUWSGI, StopSignal: syscall.SIGINT, StopGrace: StopGrace, Loaded: loaded,
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Ini is c's uWSGI configuration as an ini file. Every value has its % doubled: uWSGI expands
// %-sequences in config files (%2 is a directory component of the file's path, %(name) another
// option's value), not in command-line arguments, and %% is its literal %.
func Ini(c server.Config) string {
	var b strings.Builder
	b.WriteString("; Written by wsgilab (internal/server/uwsgi); uwsgi --ini this file.\n[uwsgi]\n")
	opt := func(k, v string) { fmt.Fprintf(&b, "%s = %s\n", k, strings.ReplaceAll(v, "%", "%%")) }
	opt("plugin", "python3")
	opt("http-socket", "127.0.0.1:"+strconv.Itoa(c.Port))
	opt("wsgi-file", c.AppPath)
	opt("master", "true")
	opt("processes", strconv.Itoa(max(c.Processes, 1)))
	if c.Threads > 1 {
		opt("threads", strconv.Itoa(c.Threads))
	}
	if c.EnableThreads {
		opt("enable-threads", "true")
	}
	if c.LazyApps {
		opt("lazy-apps", "true")
	}
	// SIGTERM would make uWSGI reload; wsgilab stops it with SIGINT, and a SIGTERM from
	// anyone else (systemd-like) should end it too.
	opt("die-on-term", "true")
	// Exit when the app cannot be imported, so that the cell fails with the app's exception
	// instead of answering every request with an error.
	opt("need-app", "true")
	opt("logformat", logFormat)
	if os.Geteuid() == 0 {
		opt("uid", server.RunUser)
		opt("gid", server.RunGroup)
	}
	return b.String()
}

var (
	versionRE = regexp.MustCompile(`\*\*\* Starting uWSGI (\S+)`)
	modeRE    = regexp.MustCompile(`\*\*\* Operational MODE: (\S+) \*\*\*`)
	appRE     = regexp.MustCompile(`WSGI app \d+ \(mountpoint='[^']*'\) ready in .* pid: (\d+)`)
	masterRE  = regexp.MustCompile(`spawned uWSGI master process \(pid: (\d+)\)`)
)

// loaded is what uWSGI's startup lines say: its version, its operational mode, whether Python
// threads run, and where the app was imported (in the master before the fork, or in each
// worker).
func loaded(log []byte) string {
	s := string(log)
	parts := []string{"uWSGI"}
	if m := versionRE.FindStringSubmatch(s); m != nil {
		parts[0] += " " + m[1]
	}
	if m := modeRE.FindStringSubmatch(s); m != nil {
		parts = append(parts, m[1])
	}
	if strings.Contains(s, "Python threads support is disabled") {
		parts = append(parts, "Python threads off")
	} else {
		parts = append(parts, "Python threads on")
	}
	if master := masterRE.FindStringSubmatch(s); master != nil {
		in := map[bool]int{}
		for _, m := range appRE.FindAllStringSubmatch(s, -1) {
			in[m[1] == master[1]]++
		}
		switch {
		case in[true] > 0:
			parts = append(parts, "app imported in the master before the fork")
		case in[false] > 0:
			parts = append(parts, fmt.Sprintf("app imported in each worker (%d)", in[false]))
		}
	}
	return strings.Join(parts, ", ")
}
