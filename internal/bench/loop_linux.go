package bench

import (
	"io"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// The closed-loop engine: the path that has to be as fast as wrk. A goroutine per
// connection costs, per request, a read that finds nothing yet (the response is
// still on its way), a park, a wake-up through the runtime poller and a
// goroutine switch. Like wrk and ab, an event loop instead waits for the socket to
// be readable (epoll, level-triggered) and then reads once: per keep-alive request
// one write, one read and a share of one epoll_wait, without scheduler work. There
// is one loop per GOMAXPROCS (one when the generator is pinned to a core); each
// owns a fixed share of the connections and runs them as state machines. Reads and
// writes are non-blocking raw system calls: they never block, so they need not tell
// the scheduler.
//
// The open loop (Config.Rate) keeps the goroutine workers of client.go, whose
// timers make scheduling simple; its throughput is the schedule's, not the
// generator's.

// Connection states in the loop.
const (
	stIdle   uint8 = iota // between requests
	stWrite               // the request is not all written: waiting to be writable
	stHeader              // waiting for (the rest of) the response header
	stBody                // waiting for the rest of the body
	stDrain               // the response is done; waiting for the server's FIN
	stDone                // no more requests for this connection
)

type loop struct {
	e        *engine
	epfd     int
	conns    []*lconn
	events   []syscall.EpollEvent
	active   int // connections not yet stDone
	lastScan time.Duration
	scanEach time.Duration
	spin     int                // polls for events before sleeping (see wait)
	ev       syscall.EpollEvent // scratch for epoll_ctl, so that it does not allocate
}

// lconn is one connection slot of a loop.
type lconn struct {
	idx        int32
	fd         int // -1 when closed
	st         uint8
	interest   uint32 // the epoll events registered, 0 when not registered
	fresh      bool   // opened for the request in flight
	pending    bool   // the handshake is not confirmed yet (the write will tell)
	written    int
	end        int           // header bytes in buf
	since      time.Duration // start of the request in flight (timeouts) or of the drain
	preConnect time.Duration // the run's probing connection: its connect time
	reusable   bool
	closes     bool // the server closes after this response

	sa        syscall.Sockaddr
	buf       []byte
	head      respHead
	body      bodyState
	captured  [][]byte
	capBuf    []byte
	rawHeader []byte
	s         sample
}

const (
	evIn  = syscall.EPOLLIN | syscall.EPOLLRDHUP
	evOut = syscall.EPOLLOUT
)

// newLoops splits the connections among n loops. The first connection gets the
// run's probing connection, already open.
func newLoops(e *engine, n int, probeFd int, preConnect time.Duration) ([]*loop, error) {
	loops := make([]*loop, n)
	for i := range loops {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			for _, l := range loops[:i] {
				syscall.Close(l.epfd)
			}
			return nil, os.NewSyscallError("epoll_create1", err)
		}
		loops[i] = &loop{e: e, epfd: epfd, scanEach: scanPeriod(e.cfg.Timeout), spin: minSpin}
	}
	for i := 0; i < e.cfg.Concurrency; i++ {
		l := loops[i%n]
		c := &lconn{idx: int32(len(l.conns)), fd: -1, buf: make([]byte, readBufSize), sa: sockaddr(e.addr)}
		if len(e.cfg.capture) > 0 {
			c.captured = make([][]byte, len(e.cfg.capture))
		}
		if i == 0 {
			c.fd, c.preConnect = probeFd, preConnect
		}
		l.conns = append(l.conns, c)
	}
	for _, l := range loops {
		l.active = len(l.conns)
		l.events = make([]syscall.EpollEvent, len(l.conns))
	}
	return loops, nil
}

// scanPeriod is how often timeouts are checked: a tenth of the timeout, at most
// every 50 ms (which also bounds how long a stop takes to be seen).
func scanPeriod(timeout time.Duration) time.Duration {
	p := 50 * time.Millisecond
	if timeout > 0 {
		p = min(max(timeout/10, time.Millisecond), p)
	}
	return p
}

func (l *loop) run() {
	e := l.e
	defer l.closeAll()
	for _, c := range l.conns {
		l.next(c)
	}
	for l.active > 0 && !e.stopped.Load() {
		n, err := l.wait()
		if err != nil && err != syscall.EINTR {
			e.stop("failures", os.NewSyscallError("epoll_wait", err))
			return
		}
		for i := 0; i < n; i++ {
			ev := &l.events[i]
			l.handle(l.conns[ev.Fd], ev.Events)
		}
		if now := e.now(); now-l.lastScan >= l.scanEach {
			l.lastScan = now
			l.scan(now)
		}
	}
}

// The loop polls for a while before it sleeps in epoll_wait, and learns how long is worth it.
// When the generator is faster than the server (the normal case: one server core against one
// generator core), a loop that sleeps as soon as it finds nothing ready is woken by nearly
// every response, which costs the server: its write has to wake a sleeping task on the other
// core (an inter-processor interrupt, dear on a VM) instead of queueing an event for a
// running one. A loop that slept about once per 10 requests left nginx idle and cost it more
// CPU per request than wrk, whose heavier loop (two epoll_ctl per request) happens to sleep
// less: 0.90-0.95x wrk's req/s. Polling, it sleeps once per 500-1000 requests: 1.03-1.08x.
// Polling spends the generator's idle time (a pinned generator's core is then busy, and its
// CPU per request is 1/req/s); it yields the core now and then, so that it never delays a
// server that shares the core with it.
//
// The poll budget, in polls (about half a microsecond each), adapts per loop: doubled (up to
// maxSpin) each time polling found an event, halved (down to minSpin) each time it ran out
// and the loop had to sleep. Against a fast server it settles near maxSpin and the loop
// rarely sleeps; against a slow one (a WSGI app answering in milliseconds) it settles near
// minSpin, a few polls per response. Counting polls, not reading the clock, and yielding
// every yieldEvery polls, not every one, keep the poll itself cheap: sched_yield goes
// through the scheduler even when it returns at once.
const (
	minSpin    = 4
	maxSpin    = 512
	yieldEvery = 8
)

// wait returns the ready events: at once when there are some, else after polling up to the
// loop's spin budget, else after sleeping in epoll_wait until an event or the next scan. The
// polls are raw non-blocking calls: they spare the scheduler's system-call bookkeeping.
func (l *loop) wait() (int, error) {
	n, err := epollWaitRaw(l.epfd, l.events)
	if n != 0 || err != nil {
		return n, err
	}
	for i := 1; i <= l.spin; i++ {
		if i%yieldEvery == 0 {
			// When the generator shares its core with the server (or anything else
			// runnable), polling must not keep the CPU the response needs; alone on
			// its core, sched_yield returns at once.
			syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
		}
		n, err = epollWaitRaw(l.epfd, l.events)
		if n != 0 || err != nil {
			l.spin = min(2*l.spin, maxSpin)
			return n, err
		}
	}
	l.spin = max(l.spin/2, minSpin)
	return syscall.EpollWait(l.epfd, l.events, int(l.scanEach/time.Millisecond))
}

func (l *loop) closeAll() {
	for _, c := range l.conns {
		l.closeFd(c)
	}
	syscall.Close(l.epfd)
}

// next starts the connection's next request, or retires the connection when the
// run has none left. Requests that fail at once (a refused connect) are settled
// here and the next one is tried.
func (l *loop) next(c *lconn) {
	e := l.e
	limit := e.cfg.Requests
	for {
		if e.stopped.Load() {
			return
		}
		if limit > 0 && !e.takeSlot(limit) {
			l.closeFd(c)
			c.st = stDone
			l.active--
			return
		}
		var start time.Duration
		switch {
		case c.preConnect > 0:
			start = 0 // the probing connection opened at time zero
		case c.fd >= 0 && e.cfg.OnResponse == nil:
			start = c.s.end // reusing the connection: from the last response's end, as ab
		default:
			start = e.now()
		}
		c.s = sample{ref: start, start: start}
		if l.begin(c) {
			return // in flight
		}
	}
}

// begin opens a connection if needed and writes the request. It returns false
// when the request is already over (failed and settled).
func (l *loop) begin(c *lconn) bool {
	e := l.e
	c.since = c.s.start
	c.fresh = false
	if c.fd < 0 {
		if err := l.dial(c); err != nil {
			c.s.end = e.now()
			return l.fail(c, FailConnect, err)
		}
		c.fresh = true
	}
	if c.preConnect > 0 {
		c.s.connect, c.preConnect, c.fresh = c.preConnect, 0, true
	}
	c.written = 0
	return l.write(c)
}

// dial opens a non-blocking connection without waiting for the handshake: the
// request's write is attempted at once (on loopback the handshake is usually done)
// and otherwise waits for writability.
func (l *loop) dial(c *lconn) error {
	fd, err := syscall.Socket(l.e.addrFamily(), syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	if len(l.e.cfg.request) > 1200 {
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	}
	err = syscall.Connect(fd, c.sa)
	if err != nil && err != syscall.EINPROGRESS {
		syscall.Close(fd)
		return os.NewSyscallError("connect", err)
	}
	c.fd, c.interest, c.pending = fd, 0, true
	return nil
}

// write writes (the rest of) the request. It returns false when the request is
// over (failed); true when it is in flight.
func (l *loop) write(c *lconn) bool {
	e := l.e
	req := e.cfg.request
	for c.written < len(req) {
		n, errno := rawWrite(c.fd, req[c.written:])
		switch {
		case errno == syscall.EAGAIN:
			c.st = stWrite
			return l.want(c, evOut)
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			if c.pending && c.written == 0 {
				return l.connectFailed(c, errno)
			}
			if !c.fresh && c.written == 0 {
				return l.retry(c)
			}
			c.s.writeErr = true
			return l.fail(c, FailException, os.NewSyscallError("write", errno))
		}
		if c.pending {
			c.pending = false
			e.conns.Add(1)
			c.s.connect = e.now() - c.s.start
		}
		c.written += n
		c.s.sent += int64(n)
	}
	c.s.endWrite = e.now()
	c.st, c.end = stHeader, 0
	return l.want(c, evIn)
}

// want sets the epoll interest of the connection. A failure (out of memory,
// realistically) fails the request.
func (l *loop) want(c *lconn, ev uint32) bool {
	if c.interest == ev {
		return true
	}
	op := syscall.EPOLL_CTL_MOD
	if c.interest == 0 {
		op = syscall.EPOLL_CTL_ADD
	}
	l.ev = syscall.EpollEvent{Events: ev, Fd: c.idx}
	if err := syscall.EpollCtl(l.epfd, op, c.fd, &l.ev); err != nil {
		return l.fail(c, FailException, os.NewSyscallError("epoll_ctl", err))
	}
	c.interest = ev
	return true
}

// retry resends a request whose reused connection the server had closed before
// any response byte (an idle keep-alive close): not a failure, as in ab.
func (l *loop) retry(c *lconn) bool {
	l.closeFd(c)
	c.s.start = l.e.now()
	c.s.ref = c.s.start
	return l.begin(c)
}

func (l *loop) handle(c *lconn, ev uint32) {
	var inFlight bool
	switch c.st {
	case stWrite:
		inFlight = l.write(c)
	case stHeader, stBody, stDrain:
		inFlight = l.read(c)
	default:
		return
	}
	if !inFlight {
		l.next(c)
	}
}

// read reads what the socket has and moves the response on. It returns false when
// the request is over (and the connection ready for the next).
func (l *loop) read(c *lconn) bool {
	e := l.e
	s := &c.s
	buf := c.buf
	if c.st == stHeader {
		if c.end == len(buf) {
			return l.fail(c, FailException, errHeaderTooLarge)
		}
		buf = buf[c.end:]
	}
	n, errno := rawRead(c.fd, buf)
	switch {
	case errno == syscall.EAGAIN || errno == syscall.EINTR:
		return true
	case errno != 0:
		return l.readFailed(c, os.NewSyscallError("read", errno))
	case n == 0:
		return l.eof(c)
	}
	if c.st == stDrain {
		e.rec.addBytes(int64(n)) // stray bytes before the FIN
		return true
	}
	if s.read == 0 {
		s.firstByte = e.now()
	}
	s.read += int64(n)
	if c.st == stBody {
		done, stray, err := c.body.consume(buf[:n], &s.body)
		if err != nil {
			return l.fail(c, FailException, err)
		}
		if stray {
			c.reusable = false
		}
		if done {
			return l.complete(c, false)
		}
		return true
	}
	c.end += n
	for {
		hl, err := parseHead(c.buf[:c.end], e.cfg.head, e.cfg.capture, c.captured, !e.serverSeen.Load(), &c.head)
		if err != nil {
			return l.fail(c, FailException, err)
		}
		if hl < 0 {
			return true
		}
		h := &c.head
		if !e.serverSeen.Load() {
			e.setServer(h.server)
		}
		if len(c.captured) > 0 {
			c.capBuf = keepCaptured(c.captured, c.capBuf)
		}
		if h.status >= 100 && h.status < 200 && h.status != 101 {
			// An interim response (100 Continue, 103 Early Hints): drop it.
			copy(c.buf, c.buf[hl:c.end])
			c.end -= hl
			continue
		}
		return l.header(c, hl)
	}
}

// header takes the parsed header of the final response and what followed it.
func (l *loop) header(c *lconn, hl int) bool {
	e := l.e
	h := &c.head
	c.s.status = h.status
	if e.cfg.RawHeaders {
		c.rawHeader = append(c.rawHeader[:0], c.buf[:hl]...)
	}
	c.reusable = e.cfg.KeepAlive && !h.connClose && h.status != 101 && (h.minor >= 1 || h.connKeepAlive)
	c.closes = !e.cfg.KeepAlive || h.connClose || (h.minor == 0 && !h.connKeepAlive)
	c.body.init(h)
	if h.framing == framingClose {
		c.reusable = false
	}
	done, stray, err := c.body.consume(c.buf[hl:c.end], &c.s.body)
	if err != nil {
		return l.fail(c, FailException, err)
	}
	if stray {
		c.reusable = false
	}
	if done {
		return l.complete(c, false)
	}
	c.st = stBody
	return true
}

// eof handles the server's close, by state.
func (l *loop) eof(c *lconn) bool {
	switch {
	case c.st == stDrain:
		l.closeFd(c)
		return false
	case c.st == stHeader && c.s.read == 0 && !c.fresh:
		return l.retry(c) // an idle keep-alive connection the server had closed
	case c.st == stBody && c.body.framing == framingClose:
		return l.complete(c, true)
	}
	c.s.truncated = true
	return l.fail(c, FailLength, io.ErrUnexpectedEOF)
}

// complete settles a response received in full and leaves the connection ready
// for the next request (kept, closed, or draining the server's FIN first).
func (l *loop) complete(c *lconn, eof bool) bool {
	e := l.e
	c.s.end = e.now()
	c.s.keepAlive = c.reusable
	e.settle(&c.s, c.captured, c.rawHeader)
	switch {
	case c.reusable:
	case eof || !c.closes:
		l.closeFd(c)
	default:
		// The server closes: let it close first, so that the TIME_WAIT state
		// stays on its side (see worker.drainAndClose).
		if e.stopped.Load() {
			l.closeFd(c)
			break
		}
		c.st, c.since = stDrain, c.s.end
		return true
	}
	c.st = stIdle
	return false
}

// fail settles a failed request and closes the connection. It returns false (the
// request is over), for the callers' convenience.
func (l *loop) fail(c *lconn, f Failure, err error) bool {
	e := l.e
	s := &c.s
	l.closeFd(c)
	s.failure, s.err = f, err
	if s.end == 0 {
		s.end = e.now()
	}
	if e.settle(s, c.captured, c.rawHeader) == outcomeRetry && e.cfg.Requests > 0 {
		e.slots.Add(-1) // as in ab, a request that did not complete is retried
	}
	if f == FailReceive && e.cfg.StopOnReceiveError {
		e.stop("receive-error", &opError{kind: ErrReceive, err: err})
	}
	c.st = stIdle
	return false
}

func (l *loop) connectFailed(c *lconn, errno syscall.Errno) bool {
	return l.fail(c, FailConnect, os.NewSyscallError("connect", errno))
}

// readFailed classifies a read error as worker.readFailed does.
func (l *loop) readFailed(c *lconn, err error) bool {
	if c.st == stDrain {
		l.closeFd(c)
		return false
	}
	if c.st == stHeader && c.s.read == 0 && !c.fresh && isReset(err) {
		return l.retry(c)
	}
	return l.fail(c, FailReceive, err)
}

// scan expires requests in flight longer than the timeout, and FIN waits longer
// than drainWait.
func (l *loop) scan(now time.Duration) {
	timeout := l.e.cfg.Timeout
	for _, c := range l.conns {
		switch c.st {
		case stWrite, stHeader, stBody:
			if timeout > 0 && now-c.since > timeout {
				c.s.timeout = true
				f := FailException
				if c.pending {
					f = FailConnect
				}
				if !l.fail(c, f, ErrTimeout) {
					l.next(c)
				}
			}
		case stDrain:
			if now-c.since > drainWait {
				l.closeFd(c)
				c.st = stIdle
				l.next(c)
			}
		}
	}
}

func (l *loop) closeFd(c *lconn) {
	if c.fd >= 0 {
		syscall.Close(c.fd) // also leaves the epoll set
		c.fd, c.interest, c.pending = -1, 0, false
	}
}

func (e *engine) addrFamily() int {
	if e.addr.Addr().Is4() {
		return syscall.AF_INET
	}
	return syscall.AF_INET6
}

// rawRead and rawWrite are read(2) and write(2) on non-blocking sockets, without
// the scheduler hand-off of syscall.Read (they never block).
func rawRead(fd int, p []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	return int(n), errno
}

func rawWrite(fd int, p []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	return int(n), errno
}

// epollWaitRaw is epoll_wait with a zero timeout, which never blocks (as
// epoll_pwait without a signal mask, which every architecture has).
func epollWaitRaw(epfd int, events []syscall.EpollEvent) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
