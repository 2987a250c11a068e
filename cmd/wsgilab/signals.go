package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"wsgilab/internal/proc"
)

// teardownGrace is how long a started component gets to exit on SIGTERM before its whole
// process group is killed; event-MPM children and mod_wsgi daemons running eventlet can hang
// 5-12 s at "Terminating Python", so less than that would turn every teardown into a kill.
const teardownGrace = 12 * time.Second

// signalContext returns a context cancelled on SIGINT, SIGTERM, SIGHUP (the terminal went away)
// or SIGPIPE (whoever read our output is gone, e.g. `wsgilab run | head`), and a cleanup that
// must run on every exit path: it stops whatever processes are still registered in proc, so
// that an error return or a Ctrl-C during start-up leaves nothing behind. Without catching
// SIGPIPE, Go would die of a write to a closed stdout and leave Apache's children orphaned.
func signalContext(stderr io.Writer) (context.Context, func()) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	return ctx, func() {
		stop()
		if len(proc.Running()) > 0 {
			if err := proc.StopAll(teardownGrace); err != nil {
				fmt.Fprintf(stderr, "wsgilab: teardown: %v\n", err)
			}
		}
	}
}
