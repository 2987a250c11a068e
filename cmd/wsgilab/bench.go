package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"wsgilab/internal/bench"
)

// bench: the ApacheBench-compatible load generator. Everything but the signal
// wiring lives in internal/bench, which the scenarios call as a library.

func runBench(args []string, stdout, stderr io.Writer) int {
	// Like ab, SIGINT ends the run early and still prints the report.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return bench.Main(ctx, args, stdout, stderr)
}
