package runner

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"wsgilab/internal/stack"
)

// MatrixFlags adds --mpm, --mode and, unless heartbeat is "", --heartbeat with these defaults
// (comma-separated values); the function returns the matrix once fs is parsed.
func MatrixFlags(fs *pflag.FlagSet, mpm, mode, heartbeat string) func() (Matrix, error) {
	mpms := fs.String("mpm", mpm, "Apache MPMs: prefork, worker, event (comma-separated)")
	modes := fs.String("mode", mode, "mod_wsgi modes: embedded, daemon")
	var hbs *string
	if heartbeat != "" {
		hbs = fs.String("heartbeat", heartbeat, "oslo.messaging heartbeat modes: green (eventlet green thread), pthread (native thread), off")
	}
	return func() (Matrix, error) {
		var m Matrix
		var err error
		if m.MPMs, err = ParseList("mpm", *mpms, MPMs); err != nil {
			return m, err
		}
		if m.Modes, err = ParseList("mode", *modes, Modes); err != nil {
			return m, err
		}
		if hbs != nil {
			m.Heartbeats, err = ParseList("heartbeat", *hbs, Heartbeats)
		}
		return m, err
	}
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
