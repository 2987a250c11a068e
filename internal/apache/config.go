// Package apache runs a private Apache httpd + mod_wsgi instance serving one WSGI application:
// its configuration is rendered from an embedded template for the chosen MPM (prefork, worker,
// event) and mod_wsgi mode (embedded, daemon), it gets its own ServerRoot, port, logs and
// runtime dir, runs in the foreground in its own process group, and Stop waits until every
// process of it is gone and its port is free.
package apache

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"wsgilab/internal/server"
)

// Where Debian's packages put things. Variables, not constants, so that tests can point them
// at a missing file to check the "package not installed" errors.
var (
	// Binary is the httpd executable (package apache2-bin).
	Binary = "/usr/sbin/apache2"
	// ModulesDir holds mod_mpm_*.so, mod_status.so, ... (apache2-bin) and mod_wsgi.so
	// (libapache2-mod-wsgi-py3).
	ModulesDir = "/usr/lib/apache2/modules"
)

// RunUser is the account Apache's children and mod_wsgi daemons run as when started by root
// (server.RunUser, as every server's workers).
const RunUser, RunGroup = server.RunUser, server.RunGroup

// MPMs and Modes are the accepted values of Config.MPM and Config.Mode.
var (
	MPMs  = []string{"prefork", "worker", "event"}
	Modes = []string{"embedded", "daemon"}
)

// mod_wsgi's own defaults for WSGIDaemonProcess, which callers offering "unset" should use.
const (
	DefaultDaemonProcesses = 1
	DefaultDaemonThreads   = 15
)

// DaemonGroup is the WSGIDaemonProcess name: mod_wsgi shows it in the daemons' process titles
// ("(wsgi:wsgilab)") and the app sees it as mod_wsgi.process_group.
const DaemonGroup = "wsgilab"

// Config is one Apache + mod_wsgi configuration. For every MPM knob, zero means Apache's
// default: the directive is left out of the rendered configuration.
type Config struct {
	// Dir is the instance's ServerRoot: httpd.conf, logs/ and run/ go there. Apache's children
	// (www-data) must be able to traverse it and every directory above it.
	Dir string
	// Port is the loopback port Apache listens on (127.0.0.1:Port).
	Port int

	// MPM is prefork, worker or event.
	MPM                    string
	StartServers           int
	MinSpareServers        int // prefork only
	MaxSpareServers        int // prefork only
	MinSpareThreads        int // worker and event only
	MaxSpareThreads        int // worker and event only
	MaxRequestWorkers      int
	ServerLimit            int
	ThreadsPerChild        int // worker and event only
	MaxConnectionsPerChild int

	// Mode is mod_wsgi's embedded (the app runs inside Apache's children, which the MPM
	// creates and reaps) or daemon (a fixed set of WSGIDaemonProcess processes).
	Mode string
	// Processes and Threads size the daemon process group; both must be >= 1 in daemon mode
	// (mod_wsgi's defaults are DefaultDaemonProcesses and DefaultDaemonThreads). Daemon only.
	Processes, Threads int
	// Preload loads the app when a daemon process starts instead of on its first request
	// (process-group and application-group given on WSGIScriptAlias). Daemon only.
	Preload bool
	// InactivityTimeout (seconds) restarts an idle daemon process; 0 = never. Daemon only.
	InactivityTimeout int

	// AppPath is the WSGI script (its "application" callable is served at /).
	AppPath string
	// Env is the complete environment of Apache ("KEY=value"); mod_wsgi gives it to the app's
	// os.environ in embedded and daemon processes. PATH and LANG get defaults when missing;
	// nothing is inherited from the caller's environment, so a PYTHONPATH or pyenv setting of
	// ours cannot leak into the embedded interpreter.
	Env []string

	// ReadyPath is what Start GETs to decide the app is serving: "/" when empty. Any answer
	// below 500 counts. Use "/server-status?auto" to be ready without loading the app.
	ReadyPath string
	// SocketDir holds the mod_wsgi daemon sockets when Dir is too deep for a unix socket
	// path; Start makes a short one under the system temp dir and Stop removes it.
	SocketDir string
}

func (c Config) daemon() bool { return c.Mode == "daemon" }

// Validate reports every problem of c at once, in words a user of the CLI understands.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("no run directory given"))
	} else if !filepath.IsAbs(c.Dir) {
		errs = append(errs, fmt.Errorf("run directory %q must be an absolute path", c.Dir))
	} else if err := checkPathChars(c.Dir); err != nil {
		errs = append(errs, err)
	}
	if c.Port <= 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d is not a TCP port", c.Port))
	}
	if err := c.CheckSettings(); err != nil {
		errs = append(errs, err)
	}
	if err := CheckApp(c.AppPath); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CheckSettings is Validate without Dir, Port and AppPath: the MPM, mode and their knobs, for
// callers (internal/stack) that check a configuration before choosing its directory, port and
// app.
func (c Config) CheckSettings() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if !slices.Contains(MPMs, c.MPM) {
		bad("unknown MPM %q (allowed: %s)", c.MPM, strings.Join(MPMs, ", "))
	}
	if !slices.Contains(Modes, c.Mode) {
		bad("unknown mod_wsgi mode %q (allowed: %s)", c.Mode, strings.Join(Modes, ", "))
	}

	knobs := []struct {
		name string
		v    int
		mpms []string // MPMs that know the directive
	}{
		{"StartServers", c.StartServers, MPMs},
		{"MinSpareServers", c.MinSpareServers, []string{"prefork"}},
		{"MaxSpareServers", c.MaxSpareServers, []string{"prefork"}},
		{"MinSpareThreads", c.MinSpareThreads, []string{"worker", "event"}},
		{"MaxSpareThreads", c.MaxSpareThreads, []string{"worker", "event"}},
		{"MaxRequestWorkers", c.MaxRequestWorkers, MPMs},
		{"ServerLimit", c.ServerLimit, MPMs},
		{"ThreadsPerChild", c.ThreadsPerChild, []string{"worker", "event"}},
		{"MaxConnectionsPerChild", c.MaxConnectionsPerChild, MPMs},
	}
	for _, k := range knobs {
		switch {
		case k.v < 0:
			bad("%s=%d: must be >= 0 (0 = Apache's default)", k.name, k.v)
		case k.v > 0 && slices.Contains(MPMs, c.MPM) && !slices.Contains(k.mpms, c.MPM):
			// Apache would stop with "Invalid command": the directive is the other MPMs'.
			bad("%s is not a directive of the %s MPM (only of %s)", k.name, c.MPM, strings.Join(k.mpms, ", "))
		}
	}

	if c.daemon() {
		if c.Processes < 1 {
			bad("daemon mode needs processes >= 1 (got %d)", c.Processes)
		}
		if c.Threads < 1 {
			bad("daemon mode needs threads >= 1 (got %d)", c.Threads)
		}
		if c.InactivityTimeout < 0 {
			bad("inactivity-timeout=%d: must be >= 0 (0 = never)", c.InactivityTimeout)
		}
	} else if c.Mode == "embedded" {
		// In embedded mode the MPM decides processes and threads; silently ignoring these
		// would make a cell look configured when it is not.
		for _, o := range []struct {
			name string
			set  bool
		}{
			{"processes", c.Processes != 0},
			{"threads", c.Threads != 0},
			{"inactivity-timeout", c.InactivityTimeout != 0},
			{"preload", c.Preload},
		} {
			if o.set {
				bad("%s is a mod_wsgi daemon-mode option; embedded mode takes processes and threads from the MPM (use mode daemon, or the MPM's knobs)", o.name)
			}
		}
	}

	for _, kv := range c.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			bad("environment entry %q is not KEY=value", kv)
		}
	}
	if c.ReadyPath != "" && !strings.HasPrefix(c.ReadyPath, "/") {
		bad("ready path %q must start with /", c.ReadyPath)
	}
	return errors.Join(errs...)
}

// CheckApp is server.CheckApp plus what httpd.conf cannot carry in the script's path.
func CheckApp(path string) error {
	if err := checkPathChars(path); err != nil {
		return err
	}
	return server.CheckApp(path)
}

// checkPathChars refuses what httpd.conf cannot carry: a quote or newline would end a
// directive's argument early, and mod_wsgi's python-path= option cannot be quoted at all, so
// no space either.
func checkPathChars(path string) error {
	if strings.ContainsAny(path, "\"\\ \t\n") {
		return fmt.Errorf("path %q contains a space, quote, backslash or newline, which the Apache configuration cannot take", path)
	}
	return nil
}
