//go:build !linux

package bench

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// The engine's sockets and event loops are Linux's (dial_linux.go, loop_linux.go),
// where the lab runs. Elsewhere the package builds, so that the rest of wsgilab can
// be vetted and tested, and Run fails with this error.
var errUnsupported = errors.New("wsgilab bench runs on Linux only")

type dialState struct{}

func (d *dialState) init(w *worker) {}

func (w *worker) dial() error { return errUnsupported }

func probeConnect(ctx context.Context, addr netip.AddrPort, timeout time.Duration) (int, error) {
	return -1, errUnsupported
}

type loop struct{}

func (l *loop) run() {}

func newLoops(e *engine, n int, probeFd int, preConnect time.Duration) ([]*loop, error) {
	return nil, errUnsupported
}
