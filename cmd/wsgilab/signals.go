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

// signalContext returns a context cancelled on SIGINT or SIGTERM, and a cleanup that must run
// on every exit path: it stops whatever processes are still registered in proc, so that a
// panic-free error return or a Ctrl-C during start-up leaves nothing behind.
func signalContext(stderr io.Writer) (context.Context, func()) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return ctx, func() {
		stop()
		if len(proc.Running()) > 0 {
			if err := proc.StopAll(teardownGrace); err != nil {
				fmt.Fprintf(stderr, "wsgilab: teardown: %v\n", err)
			}
		}
	}
}
