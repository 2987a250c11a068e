package proc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"
)

// FreePorts asks the kernel for n distinct free loopback TCP ports. The kernel hands out
// ephemeral ports at random, so two wsgilab runs at once do not pick the same ones; a server
// that still fails to bind reports "address in use" and the caller retries with new ports.
func FreePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// PortFree reports whether nothing listens on 127.0.0.1:port (we can bind it ourselves).
func PortFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// CheckPortFree returns a clear error when port is already taken on loopback.
func CheckPortFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("port %d on 127.0.0.1 is already in use", port)
		}
		return fmt.Errorf("port %d on 127.0.0.1: %w", port, err)
	}
	return l.Close()
}

// WaitListening polls until something accepts TCP connections on 127.0.0.1:port, the process
// exits (when p is non-nil), or ctx ends.
func WaitListening(ctx context.Context, port int, p *Process) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if p != nil {
			if exited, werr := p.Exited(); exited {
				return fmt.Errorf("%s exited before listening on %s: %v", p.Name, addr, werr)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitPortsFree polls until none of ports has a listener on loopback, or ctx ends.
func WaitPortsFree(ctx context.Context, ports ...int) error {
	for {
		busy := -1
		for _, p := range ports {
			if p > 0 && !PortFree(p) {
				busy = p
				break
			}
		}
		if busy < 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("port %d still in use: %w", busy, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
