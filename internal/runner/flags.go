package runner

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"wsgilab/internal/stack"
)

// MatrixFlags adds the matrix's options with these defaults (comma-separated values): --server
// and each server's dimensions (Apache's --mpm and --mode, uWSGI's --uwsgi-threads and
// --uwsgi-lazy-apps, gunicorn's --gunicorn-worker and --gunicorn-preload) and, unless
// heartbeat is "", --heartbeat. The function returns the matrix once fs is parsed; a server's
// option given without that server in --server is an error.
func MatrixFlags(fs *pflag.FlagSet, mpm, mode, heartbeat string) func() (Matrix, error) {
	servers := fs.String("server", Servers[0], "WSGI servers: "+strings.Join(Servers, ", ")+" (comma-separated; each has its own dimensions below)")
	mpms := fs.String("mpm", mpm, "Apache MPMs: prefork, worker, event")
	modes := fs.String("mode", mode, "Apache mod_wsgi modes: embedded, daemon")
	uThreads := fs.String("uwsgi-threads", "off,on", "uWSGI Python threads (--enable-threads): off (uWSGI's default), on")
	uLazy := fs.String("uwsgi-lazy-apps", "off", "uWSGI lazy-apps: off (the app is imported in the master, workers fork after it), on")
	gWorkers := fs.String("gunicorn-worker", strings.Join(gunicornWorkers, ","), "gunicorn worker classes: "+strings.Join(gunicornWorkers, ", "))
	gPreload := fs.String("gunicorn-preload", "off", "gunicorn --preload: off, on (the arbiter imports the app before forking)")
	var hbs *string
	if heartbeat != "" {
		hbs = fs.String("heartbeat", heartbeat, "oslo.messaging heartbeat modes: green (eventlet green thread), pthread (native thread), off")
	}
	return func() (Matrix, error) {
		var m Matrix
		var err error
		if m.Servers, err = ParseList("server", *servers, Servers); err != nil {
			return m, err
		}
		owners := map[string][]string{apacheKind: {"mpm", "mode"}, uwsgiKind: {"uwsgi-threads", "uwsgi-lazy-apps"},
			gunicornKind: {"gunicorn-worker", "gunicorn-preload"}}
		for srv, flags := range owners {
			for _, f := range flags {
				if fs.Changed(f) && !slices.Contains(m.Servers, srv) {
					return m, fmt.Errorf("--%s is %s %s option, and --server does not include %s", f, article(srv), srv, srv)
				}
			}
		}
		if slices.Contains(m.Servers, apacheKind) {
			if m.MPMs, err = ParseList("mpm", *mpms, MPMs); err != nil {
				return m, err
			}
			if m.Modes, err = ParseList("mode", *modes, Modes); err != nil {
				return m, err
			}
		}
		if slices.Contains(m.Servers, uwsgiKind) {
			if m.UWSGIThreads, err = parseOnOff("uwsgi-threads", *uThreads); err != nil {
				return m, err
			}
			if m.UWSGILazyApps, err = parseOnOff("uwsgi-lazy-apps", *uLazy); err != nil {
				return m, err
			}
		}
		if slices.Contains(m.Servers, gunicornKind) {
			if m.GunicornWorkers, err = ParseList("gunicorn-worker", *gWorkers, gunicornWorkers); err != nil {
				return m, err
			}
			if m.GunicornPreload, err = parseOnOff("gunicorn-preload", *gPreload); err != nil {
				return m, err
			}
		}
		if hbs != nil {
			m.Heartbeats, err = ParseList("heartbeat", *hbs, Heartbeats)
		}
		return m, err
	}
}

// parseOnOff reads an on/off list flag ("off,on").
func parseOnOff(flag, value string) ([]bool, error) {
	vs, err := ParseList(flag, value, OnOff)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(vs))
	for i, v := range vs {
		out[i] = v == "on"
	}
	return out, nil
}

// ServiceDefaults says which options about the service a scenario offers, and their defaults.
type ServiceDefaults struct {
	// ProcessesHelp and ThreadsHelp end the help of --processes and --threads with the
	// scenario's own default (0 on the command line means it).
	ProcessesHelp, ThreadsHelp string
	// ImportCost and RequestCost, when set, add --import-cost and --request-cost with these
	// defaults.
	ImportCost, RequestCost *time.Duration
	// MonkeyPatch adds --monkey-patch (default true, as nova-api does).
	MonkeyPatch bool
}

// ServiceFlags adds the options that say what every cell serves: --app, --processes,
// --threads, and those of d. The function returns the stack options they set once fs is
// parsed; the scenario's cells start from them.
func ServiceFlags(fs *pflag.FlagSet, d ServiceDefaults) func() (stack.Options, error) {
	var o stack.Options
	o.MonkeyPatch = true
	fs.StringVar(&o.AppPath, "app", "", "your own WSGI file instead of the built-in fake nova-api (see apps/fakeservice/README.md)")
	fs.IntVar(&o.Processes, "processes", 0, "mod_wsgi daemon processes per cell (daemon mode; "+d.ProcessesHelp+")")
	fs.IntVar(&o.Threads, "threads", 0, "threads per mod_wsgi daemon process (daemon mode; "+d.ThreadsHelp+")")
	if d.ImportCost != nil {
		fs.DurationVar(&o.ImportCost, "import-cost", *d.ImportCost, "CPU the fake app burns when it loads, like a large Django app (0 for none)")
	}
	if d.RequestCost != nil {
		fs.DurationVar(&o.RequestCost, "request-cost", *d.RequestCost, "how long the fake app's / takes (a view waiting on its database)")
	}
	if d.MonkeyPatch {
		fs.BoolVar(&o.MonkeyPatch, "monkey-patch", true, "call eventlet.monkey_patch() at import, as nova-api does (--monkey-patch=false to not)")
	}
	return func() (stack.Options, error) {
		// 0 means the scenario's default only when the flag is left out: an explicit size
		// below 1 is refused, as 'wsgilab up' refuses it.
		for _, f := range []struct {
			name string
			v    int
		}{{"processes", o.Processes}, {"threads", o.Threads}} {
			if fs.Changed(f.name) && f.v < 1 {
				return o, fmt.Errorf("--%s %d: must be >= 1 (leave it out for the default)", f.name, f.v)
			}
		}
		if o.Processes < 0 || o.Threads < 0 || o.ImportCost < 0 || o.RequestCost < 0 {
			return o, errors.New("--processes, --threads, --import-cost and --request-cost must be >= 0")
		}
		return o, nil
	}
}

func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}
