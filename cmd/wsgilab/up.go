package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"wsgilab/internal/apache"
	"wsgilab/internal/broker"
	"wsgilab/internal/stack"
)

// up: one cell (Apache + mod_wsgi + the service, the conductor, a broker) left running for
// manual exploration until Ctrl-C. The work is internal/stack's StartSession; this file maps
// flags to its options.

const upUsage = `Usage:
  wsgilab up [options]

Starts a private RabbitMQ node (or uses --broker/--management), the fake conductor and the WSGI
server (--server: Apache + mod_wsgi by default, uWSGI or gunicorn) serving the fake nova-api (or
your --app), prints the URLs, credentials, log paths and what the server says it runs (for
Apache, the loaded MPM), and keeps everything running until Ctrl-C or SIGTERM; then tears it all
down and removes the run directory (unless --keep).

Examples:
  wsgilab up --mpm event --mode daemon --processes 2 --threads 1 --heartbeat pthread
  wsgilab up --server uwsgi --processes 2 --enable-threads --heartbeat pthread
  wsgilab up --server gunicorn --worker eventlet --processes 2

MPM knobs left at 0 keep Apache's defaults. In daemon mode --processes and --threads default to
mod_wsgi's (1 and 15). The MPM and mod_wsgi options are Apache's, --enable-threads and
--lazy-apps uWSGI's, --worker gunicorn's: another server's option is an error.

Options:
`

func runUp(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("up", pflag.ContinueOnError)
	fs.SortFlags = false
	var o stack.Options
	fs.StringVar(&o.Server, "server", stack.Servers()[0], "the WSGI server: "+strings.Join(stack.Servers(), ", "))
	fs.StringVar(&o.MPM, "mpm", "event", "Apache MPM: prefork, worker or event")
	fs.IntVar(&o.StartServers, "start-servers", 0, "StartServers")
	fs.IntVar(&o.MinSpareServers, "min-spare-servers", 0, "MinSpareServers (prefork)")
	fs.IntVar(&o.MaxSpareServers, "max-spare-servers", 0, "MaxSpareServers (prefork)")
	fs.IntVar(&o.MinSpareThreads, "min-spare-threads", 0, "MinSpareThreads (worker, event)")
	fs.IntVar(&o.MaxSpareThreads, "max-spare-threads", 0, "MaxSpareThreads (worker, event)")
	fs.IntVar(&o.MaxRequestWorkers, "max-request-workers", 0, "MaxRequestWorkers")
	fs.IntVar(&o.ServerLimit, "server-limit", 0, "ServerLimit")
	fs.IntVar(&o.ThreadsPerChild, "threads-per-child", 0, "ThreadsPerChild (worker, event)")
	fs.IntVar(&o.MaxConnectionsPerChild, "max-connections-per-child", 0, "MaxConnectionsPerChild")
	fs.StringVar(&o.Mode, "mode", "embedded", "mod_wsgi mode: embedded or daemon")
	fs.IntVar(&o.Processes, "processes", 0, "processes running the app: WSGIDaemonProcess processes (daemon mode; default 1), uWSGI processes, gunicorn workers (default 1)")
	fs.IntVar(&o.Threads, "threads", 0, "threads per process: WSGIDaemonProcess threads (daemon mode; default 15), uWSGI threads, gunicorn gthread threads (default 1)")
	fs.BoolVar(&o.Preload, "preload", false, "load the app before the first request: when a mod_wsgi daemon process starts (daemon mode), in gunicorn's arbiter before the fork")
	fs.IntVar(&o.InactivityTimeout, "inactivity-timeout", 0, "restart a daemon process idle this many seconds (daemon mode; 0 = never)")
	fs.BoolVar(&o.EnableThreads, "enable-threads", false, "uWSGI: let Python threads run (--enable-threads; off is uWSGI's default)")
	fs.BoolVar(&o.LazyApps, "lazy-apps", false, "uWSGI: import the app in each worker, not in the master before the fork")
	fs.StringVar(&o.Worker, "worker", "", "gunicorn worker class: sync (default), gthread or eventlet")
	fs.StringVar(&o.Heartbeat, "heartbeat", "green", "oslo.messaging heartbeat: green (eventlet thread), pthread (native thread) or off")
	fs.IntVar(&o.HeartbeatTimeout, "heartbeat-timeout", 0, "heartbeat_timeout_threshold in seconds (0 = oslo.messaging's 60)")
	fs.IntVar(&o.HeartbeatRate, "heartbeat-rate", 0, "heartbeat_rate (0 = oslo.messaging's 2)")
	fs.BoolVar(&o.MonkeyPatch, "monkey-patch", true, "call eventlet.monkey_patch() at import, as nova-api does (--monkey-patch=false to not)")
	fs.DurationVar(&o.ImportCost, "import-cost", 0, "CPU time the app burns when it loads, like a large Django app (e.g. 2s)")
	fs.DurationVar(&o.RequestCost, "request-cost", 0, "how long the fake app's / takes before answering (e.g. 50ms)")
	fs.IntVar(&o.TCPKeepalive, "tcp-keepalive", 0, "AMQP socket idle seconds before TCP keepalive probes (0 = py-amqp's 60)")
	fs.IntVar(&o.RPCTimeout, "rpc-timeout", 0, "seconds /call waits for the conductor (0 = 10)")
	fs.StringVar(&o.Topic, "topic", "", "RPC topic (default wsgilab)")
	fs.StringVar(&o.AppPath, "app", "", "your own WSGI file instead of the fake nova-api (it gets the same WSGILAB_* environment)")
	fs.IntVar(&o.Port, "port", 0, "the server's port on 127.0.0.1 (default: a free one)")
	var sc stack.SessionConfig
	fs.StringVar(&sc.BrokerURL, "broker", "", "use an existing broker: amqp://user:pass@host:port/ (default: start a private node)")
	fs.StringVar(&sc.ManagementURL, "management", "", "its management API: http://user:pass@host:port/")
	fs.StringVar(&sc.ParentDir, "dir", "", "where to create the run directory (default: the system temp dir)")
	fs.BoolVar(&sc.Keep, "keep", false, "keep the run directory (configs, logs) after teardown")
	if code, done := parseFlags(fs, upUsage, args, stdout, stderr); done {
		return code
	}
	if rest := fs.Args(); len(rest) > 0 {
		fmt.Fprintf(stderr, "wsgilab up: unexpected arguments %q (see 'wsgilab up --help')\n", rest)
		return 2
	}
	// An explicit size below 1 is refused, not read as "the default" (0 means that only when the
	// flag is not given): a daemon needs processes and threads, and embedded mode has neither.
	for _, f := range []struct {
		name string
		v    int
	}{{"processes", o.Processes}, {"threads", o.Threads}} {
		if fs.Changed(f.name) && f.v < 1 {
			fmt.Fprintf(stderr, "wsgilab up: --%s %d: must be >= 1 (leave it out for the default)\n", f.name, f.v)
			return 2
		}
	}
	// The MPM and mod_wsgi mode have defaults for Apache only: another server takes them as
	// a mistake only when they were given.
	if o.Server != apache.Kind {
		if !fs.Changed("mpm") {
			o.MPM = ""
		}
		if !fs.Changed("mode") {
			o.Mode = ""
		}
	}
	// mod_wsgi's defaults for what the user left unset.
	if o.Server == apache.Kind && o.Mode == "daemon" {
		if !fs.Changed("processes") {
			o.Processes = apache.DefaultDaemonProcesses
		}
		if !fs.Changed("threads") {
			o.Threads = apache.DefaultDaemonThreads
		}
	}
	sc.Options = o
	err := broker.CheckURLs(sc.BrokerURL, sc.ManagementURL)
	if err == nil && sc.ParentDir != "" {
		// The run directory is made after the broker starts: a bad --dir must fail before.
		if st, serr := os.Stat(sc.ParentDir); serr != nil {
			err = fmt.Errorf("--dir: %w", serr)
		} else if !st.IsDir() {
			err = fmt.Errorf("--dir %s: not a directory", sc.ParentDir)
		}
	}
	if err == nil {
		err = sc.Check()
	}
	if err != nil {
		fmt.Fprintf(stderr, "wsgilab up: %s\n", oneLine(err))
		return 2
	}

	ctx, cleanup := signalContext(stderr)
	defer cleanup()
	began := time.Now()
	if sc.BrokerURL == "" {
		fmt.Fprintln(stderr, "wsgilab up: starting a private RabbitMQ node, the conductor and the server...")
	}
	s, err := stack.StartSession(ctx, sc)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "wsgilab up: interrupted during start-up; everything stopped")
			return 130
		}
		fmt.Fprintf(stderr, "wsgilab up: %s\n", oneLine(err))
		return 1
	}
	if s.BrokerStartup > 0 {
		fmt.Fprintf(stdout, "Up in %v (private broker %v, cell %v).\n\n", time.Since(began).Round(time.Millisecond),
			s.BrokerStartup.Round(time.Millisecond), s.Cell.StartupTime.Round(time.Millisecond))
	} else {
		fmt.Fprintf(stdout, "Up in %v.\n\n", time.Since(began).Round(time.Millisecond))
	}
	s.Describe(stdout)
	fmt.Fprintf(stdout, "\nCtrl-C to stop everything%s.\n", map[bool]string{true: " (the run directory is kept)", false: " and remove the run directory"}[sc.Keep])

	<-ctx.Done()
	fmt.Fprintln(stderr, "wsgilab up: stopping...")
	t0 := time.Now()
	if err := s.Stop(); err != nil {
		fmt.Fprintf(stderr, "wsgilab up: teardown: %s\n", oneLine(err))
		return 1
	}
	fmt.Fprintf(stderr, "wsgilab up: stopped in %v\n", time.Since(t0).Round(time.Millisecond))
	return 0
}

// oneLine joins a multi-part error (errors.Join puts one problem per line) into one line,
// except for output quoted verbatim (apache2 -t), which keeps its lines.
func oneLine(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "apache2 -t") || strings.Contains(msg, "\n---") {
		return msg
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
}
