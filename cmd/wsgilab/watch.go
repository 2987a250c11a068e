package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"wsgilab/internal/broker"
	"wsgilab/internal/watch"
)

// watch: a live, read-only view of a running deployment's AMQP connections. The work is
// internal/watch; this file maps flags to its Config and samples to the terminal or JSON lines.

const watchUsage = `Usage:
  wsgilab watch --management URL [--match mod_wsgi|NAME] [--broker-log FILE] [--interval 1s] [--json]

Watches a running deployment, read-only: the service's processes (found by the kombu names of
their AMQP connections, "<program>:<pid>:<uuid>", as oslo.messaging names them), each one's
connections as the kernel has them (/proc sockets: ESTABLISHED, or CLOSE_WAIT once the broker
closed one the client has not noticed) joined by port to the broker's (management API: state,
heartbeat negotiated, channels, how long since the broker heard from it), connection churn, and
the broker's heartbeat closes from its log as they are written. It only reads: GETs on the
management API, /proc, the log.

The management API refreshes its statistics every collect_statistics_interval (5 s by default),
so LAST TRAFFIC moves in such steps; sockets and the log are immediate. Run it on the service's
host (as root to see other users' sockets).

--json prints one JSON object per sample, one per line (see internal/watch: Sample).

Examples:
  wsgilab watch --management http://guest:guest@127.0.0.1:15672/ --match mod_wsgi
  wsgilab watch --management http://admin:secret@rabbit:15672/ --match nova-api \
      --broker-log /var/log/rabbitmq/rabbit@rabbit.log --json

Options:
`

func runWatch(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("watch", pflag.ContinueOnError)
	fs.SortFlags = false
	mgmt := fs.String("management", "", "the broker's management API: http://[user:pass@]host:port/ (guest:guest when no user is given)")
	match := fs.StringSlice("match", nil, "keep the connections whose program (kombu name's first part) contains one of these: mod_wsgi, uwsgi, gunicorn, a name (default: every connection named by kombu)")
	brokerLog := fs.String("broker-log", "", "the broker's log file, for its heartbeat closes as they happen")
	interval := fs.Duration("interval", time.Second, "time between samples")
	count := fs.Int("count", 0, "stop after this many samples (0: until Ctrl-C)")
	asJSON := fs.Bool("json", false, "print one JSON line per sample instead of the table")
	if code, done := parseFlags(fs, watchUsage, args, stdout, stderr); done {
		return code
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "wsgilab watch: "+format+" (see 'wsgilab watch --help')\n", a...)
		return 2
	}
	switch {
	case len(fs.Args()) > 0:
		return bad("unexpected arguments %q", fs.Args())
	case *mgmt == "":
		return bad("--management is required")
	case *interval <= 0:
		return bad("--interval %v: must be > 0", *interval)
	case *count < 0:
		return bad("--count %d: must be >= 0", *count)
	}
	if _, _, err := broker.ParseManagementURL(*mgmt); err != nil {
		return bad("%s", oneLine(err))
	}
	if *brokerLog != "" {
		if st, err := os.Stat(*brokerLog); err != nil {
			return bad("--broker-log: %v", err)
		} else if st.IsDir() {
			return bad("--broker-log %s: a directory, not the broker's log file", *brokerLog)
		}
	}

	ctx, cleanup := signalContext(stderr)
	defer cleanup()
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	b, err := broker.Monitor(cctx, *mgmt)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "wsgilab watch: %s\n", oneLine(err))
		return 1
	}
	w, err := watch.New(watch.Config{
		Connections: func(ctx context.Context) ([]broker.Connection, error) { return b.Connections(ctx, "") },
		Match:       *match, BrokerLog: *brokerLog,
	})
	if err != nil {
		fmt.Fprintf(stderr, "wsgilab watch: %s\n", oneLine(err))
		return 2
	}
	defer w.Close()

	var emit func(watch.Sample) error
	if *asJSON {
		enc := json.NewEncoder(stdout)
		emit = func(s watch.Sample) error { return enc.Encode(s) }
	} else {
		what := "every kombu-named connection"
		if len(*match) > 0 {
			what = "programs matching " + strings.Join(*match, ", ")
		}
		screen := &watch.Screen{Header: fmt.Sprintf("wsgilab watch: %s, %s, every %v", b.ManagementURL(), what, *interval)}
		// A terminal gets the table redrawn in place; a pipe or file, one table after another.
		if f, ok := stdout.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				screen.Redraw = true
			}
		}
		emit = func(s watch.Sample) error { return screen.Write(stdout, s) }
	}
	if err := w.Run(ctx, *interval, *count, emit); err != nil {
		// A closed pipe (watch ... | head) is the reader being done.
		return 0
	}
	return 0
}
