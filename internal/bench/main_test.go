package bench

import (
	"context"
	"os"
	"os/signal"
	"testing"
)

// TestMain lets the test binary act as `wsgilab bench` when WSGILAB_BENCH_MAIN=1:
// the CLI tests run it as a subprocess (exit codes, signals, files) without needing
// the whole wsgilab command to build.
func TestMain(m *testing.M) {
	if os.Getenv("WSGILAB_BENCH_MAIN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}
