package bench

import (
	"context"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// dialState is a worker's copy of the target's socket address: syscall.Connect
// writes into it, so it cannot be shared between goroutines.
type dialState struct {
	sa      syscall.Sockaddr
	family  int
	nodelay bool
}

func (d *dialState) init(w *worker) {
	d.sa, d.family = sockaddr(w.e.addr), w.e.addrFamily()
	// Nagle only delays the tail of a write while earlier data is unacknowledged:
	// a request written at once in one segment never waits, a large body might.
	d.nodelay = len(w.e.cfg.request) > 1200
}

func sockaddr(a netip.AddrPort) syscall.Sockaddr {
	if a.Addr().Is4() {
		return &syscall.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	}
	return &syscall.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
}

// dial opens a new connection for a worker (the open loop) without waiting for the
// handshake: the request's write waits for it in the runtime poller (a write on a
// connecting socket does) and fails with the connect error if there is one, which
// saves a system call and a round through the poller per connection. w.pending
// marks the unconfirmed connection; exchange settles it. The file is published in
// connAt at once, so that stop and expire can interrupt the wait.
func (w *worker) dial() error {
	e := w.e
	d := &w.dialer
	fd, err := syscall.Socket(d.family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	if d.nodelay {
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	}
	err = syscall.Connect(fd, d.sa)
	if err != nil && err != syscall.EINPROGRESS {
		syscall.Close(fd)
		return os.NewSyscallError("connect", err)
	}
	f := os.NewFile(uintptr(fd), "")
	w.connAt.Store(f)
	if e.stopped.Load() || w.timedOut() {
		// stop or expire may have looked at connAt just before the store.
		_ = f.SetDeadline(aLongTimeAgo)
	}
	w.nc = f
	w.pending = err == syscall.EINPROGRESS
	if !w.pending {
		e.conns.Add(1)
	}
	return nil
}

// probeConnect makes the run's first connection, alone, and waits for the
// handshake: it tells a working address from a dead one. ctx and the timeout
// interrupt it. It returns the connected non-blocking socket.
func probeConnect(ctx context.Context, addr netip.AddrPort, timeout time.Duration) (int, error) {
	family := syscall.AF_INET6
	if addr.Addr().Is4() {
		family = syscall.AF_INET
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	err = syscall.Connect(fd, sockaddr(addr))
	if err == syscall.EINPROGRESS {
		err = waitConnected(ctx, fd, timeout)
	} else if err != nil {
		err = os.NewSyscallError("connect", err)
	}
	if err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// waitConnected polls a connecting socket for writability in short slices, so
// that a canceled context or the timeout ends the wait, then reads the outcome.
func waitConnected(ctx context.Context, fd int, timeout time.Duration) error {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	defer syscall.Close(epfd)
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLOUT}); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	events := make([]syscall.EpollEvent, 1)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return ErrTimeout
		}
		n, err := syscall.EpollWait(epfd, events, 20)
		if err != nil && err != syscall.EINTR {
			return os.NewSyscallError("epoll_wait", err)
		}
		if n > 0 {
			break
		}
	}
	soerr, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	if soerr != 0 {
		return os.NewSyscallError("connect", syscall.Errno(soerr))
	}
	return nil
}
