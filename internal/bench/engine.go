package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Errors that end a run early. Run returns them together with the partial Result.
var (
	// ErrTooManyFailures: more than Config.MaxFailures requests failed without
	// completing. The error wraps the last failure's cause.
	ErrTooManyFailures = errors.New("too many failures")
	// ErrReceive: a socket receive error with Config.StopOnReceiveError. The error
	// wraps the socket error.
	ErrReceive = errors.New("receive error")
)

// ConnectError is returned when the first connection of a run cannot be made: the
// run stops there, as ab does, rather than hammering a dead address.
type ConnectError struct {
	Addr string
	Err  error
}

func (e *ConnectError) Error() string {
	err := e.Err
	var se *os.SyscallError
	if errors.As(err, &se) {
		err = se.Err // "connect to a:p: connection refused", not "...: connect: connection refused"
	}
	return fmt.Sprintf("connect to %s: %v", e.Addr, err)
}
func (e *ConnectError) Unwrap() error { return e.Err }

// LookupError is returned when the host name does not resolve.
type LookupError struct {
	Host string
	Err  error
}

func (e *LookupError) Error() string { return fmt.Sprintf("lookup %s: %v", e.Host, e.Err) }
func (e *LookupError) Unwrap() error { return e.Err }

// aLongTimeAgo is a deadline in the past: setting it makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// timedOutMark in worker.busySince says the watchdog has expired the request.
const timedOutMark = -1

// engine is one run in progress.
type engine struct {
	cfg  *normalized
	rec  *recorder
	base time.Time // time zero of all sample offsets
	addr netip.AddrPort

	serverSeen atomic.Bool // the first response's Server header has been taken
	server     string      // guarded by mu

	workers []*worker
	slots   atomic.Int64 // requests taken (closed loop)
	pacer   *pacer       // nil in closed loop
	hard    atomic.Int64 // failures that did not complete, for MaxFailures
	conns   atomic.Int64

	stopped  atomic.Bool
	stopOnce sync.Once
	stopCh   chan struct{}
	stopAt   time.Duration
	mu       sync.Mutex // guards reason and stopErr
	reason   string
	stopErr  error
}

func (e *engine) now() time.Duration { return time.Since(e.base) }

// stop ends the run: later requests are not started and those in flight are
// interrupted (their connections get a deadline in the past) and not counted.
func (e *engine) stop(reason string, err error) {
	e.stopOnce.Do(func() {
		e.stopAt = e.now()
		e.mu.Lock()
		e.reason, e.stopErr = reason, err
		e.mu.Unlock()
		e.stopped.Store(true)
		close(e.stopCh)
		for _, w := range e.workers {
			if c := w.connAt.Load(); c != nil {
				_ = c.SetDeadline(aLongTimeAgo)
			}
		}
	})
}

// Run performs the load described by cfg and returns what it measured. It returns
// when the requests are done, Duration has passed, ctx is canceled (with the partial
// Result and a nil error: check Result.StopReason) or the run fails: a *ConfigError
// (nil Result), a *LookupError or *ConnectError for an unreachable target,
// ErrTooManyFailures or ErrReceive (both with the partial Result). When it returns,
// every connection it opened is closed and every goroutine it started has exited.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	n, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	addrs, err := resolve(ctx, n.target.host, n.target.port)
	if err != nil {
		return nil, err
	}
	e := &engine{cfg: n, rec: newRecorder(n), stopCh: make(chan struct{})}

	// Like ab, make the first connection alone: it picks the address that works and
	// turns a dead target into one clear error instead of a storm of failures.
	e.base = time.Now()
	probe := -1
	var connErr error
	for _, a := range addrs {
		e.addr = a
		if probe, connErr = probeConnect(ctx, a, n.Timeout); connErr == nil {
			break
		}
	}
	if connErr != nil {
		s := sample{failure: FailConnect, err: connErr, end: e.now()}
		e.rec.record(&s)
		e.stopAt = e.now()
		e.reason = "connect-error"
		if ctx.Err() != nil {
			e.reason = "canceled"
			return e.result(), nil
		}
		return e.result(), &ConnectError{Addr: n.target.dialAddr(), Err: connErr}
	}
	e.conns.Add(1)
	// The first connection's connect time belongs to the first request.
	preConnect := e.now()

	var wg sync.WaitGroup
	done := make(chan struct{})
	if n.Rate > 0 {
		// The open loop: one goroutine per connection, sleeping until requests
		// are due (client.go).
		e.pacer = newPacer(n.Rate, n.Requests, n.Duration)
		e.workers = make([]*worker, n.Concurrency)
		for i := range e.workers {
			e.workers[i] = newWorker(e)
		}
		first := e.workers[0]
		first.nc = os.NewFile(uintptr(probe), "")
		first.connAt.Store(first.nc)
		first.preConnect = preConnect
		for _, w := range e.workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.run()
			}()
		}
	} else {
		// The closed loop: event loops, one per processor the runtime may use
		// (loop_linux.go).
		loops, err := newLoops(e, min(runtime.GOMAXPROCS(0), n.Concurrency), probe, preConnect)
		if err != nil {
			syscall.Close(probe)
			return nil, err
		}
		for _, l := range loops {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.run()
			}()
		}
	}
	go func() { wg.Wait(); close(done) }()

	var deadline <-chan time.Time
	if n.Duration > 0 {
		t := time.NewTimer(n.Duration - e.now())
		defer t.Stop()
		deadline = t.C
	}
	// The watchdog expires slow requests and waits for FINs. Checking every tenth of
	// the timeout (at most every 50 ms) keeps the hot path down to two atomic stores
	// per request instead of a deadline (a timer update) per read.
	period := 50 * time.Millisecond
	if n.Timeout > 0 {
		period = min(max(n.Timeout/10, time.Millisecond), period)
	}
	tk := time.NewTicker(period)
	defer tk.Stop()
	tick := tk.C
loop:
	for {
		select {
		case <-done:
			break loop
		case <-deadline:
			e.stop("duration", nil)
		case <-ctx.Done():
			e.stop("canceled", nil)
		case <-tick:
			e.expire()
		case <-e.stopCh:
			// stopped by a worker (failures) or above: wait for the workers
			<-done
			break loop
		}
	}
	e.stop("requests", nil) // no-op if already stopped; closes stopCh
	for _, w := range e.workers {
		w.closeConn()
	}
	return e.result(), e.stopErr
}

func (e *engine) serverSoftware() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.server
}

// setServer keeps the Server header of the first response as ab reports it: up to
// the first space or control character ("Apache/2.4.71 (Debian)" is "Apache/2.4.71").
func (e *engine) setServer(v []byte) {
	for i, c := range v {
		if c <= ' ' {
			v = v[:i]
			break
		}
	}
	e.mu.Lock()
	if e.server == "" {
		e.server = string(v)
	}
	e.mu.Unlock()
	e.serverSeen.Store(true)
}

// expire interrupts requests in flight for longer than the timeout, and waits for
// a server's FIN longer than drainWait.
func (e *engine) expire() {
	limit := int64(e.cfg.Timeout)
	now := int64(e.now())
	for _, w := range e.workers {
		// The connection is loaded before the compare-and-swap: if the swap
		// succeeds, the request (or drain) it saw was still on that connection, and
		// a worker that has moved on to a new one is never hit by mistake.
		if since := w.busySince.Load(); limit > 0 && since > 0 && now-(since-1) > limit {
			c := w.connAt.Load()
			if w.busySince.CompareAndSwap(since, timedOutMark) && c != nil {
				_ = c.SetDeadline(aLongTimeAgo)
			}
		}
		if since := w.drainSince.Load(); since > 0 && now-(since-1) > int64(drainWait) {
			c := w.connAt.Load()
			if w.drainSince.CompareAndSwap(since, timedOutMark) && c != nil {
				_ = c.SetDeadline(aLongTimeAgo)
			}
		}
	}
}

// takeSlot reserves one of the run's requests. A compare-and-swap, not an add that
// may overshoot: a worker that finds none left exits, while a worker whose request
// failed gives its slot back and takes it again.
func (e *engine) takeSlot(limit int64) bool {
	for {
		cur := e.slots.Load()
		if cur >= limit {
			return false
		}
		if e.slots.CompareAndSwap(cur, cur+1) {
			return true
		}
	}
}

// failedHard counts a failure that did not complete and stops the run past
// MaxFailures, as ab does ("Test aborted after 10 failures").
func (e *engine) failedHard(err error) {
	n := e.hard.Add(1)
	if max := e.cfg.MaxFailures; max > 0 && n > max {
		e.stop("failures", fmt.Errorf("%w (%d): %w", ErrTooManyFailures, n, err))
	}
}

// resolve returns the addresses to try, in the resolver's order.
func resolve(ctx context.Context, host string, port int) ([]netip.AddrPort, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(ip.Unmap(), uint16(port))}, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) {
			err = errors.New(de.Err)
		}
		return nil, &LookupError{Host: host, Err: err}
	}
	if len(ips) == 0 {
		return nil, &LookupError{Host: host, Err: errors.New("no addresses")}
	}
	out := make([]netip.AddrPort, len(ips))
	for i, ip := range ips {
		out[i] = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	}
	return out, nil
}

// result assembles the Result once all workers have stopped.
func (e *engine) result() *Result {
	n := e.cfg
	r := e.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	res := &Result{
		URL: n.URL, Method: n.Method, Host: n.target.host, Port: n.target.port, Path: n.target.path,
		Concurrency: n.Concurrency, KeepAlive: n.KeepAlive, Requests: n.Requests, Start: e.base,
		StopReason: e.reason, ServerSoftware: e.serverSoftware(), DocumentLength: r.docLen,
		VariableLength: n.VariableLength,
		Complete:       r.complete, Failed: r.failed, Failures: r.fail, WriteErrors: r.writeErrors,
		Non2xx: r.non2xx, StatusCodes: map[int]int64{}, KeepAliveRequests: r.keepAlive,
		Connections: e.conns.Load(), TotalBytes: r.totalBytes, BodyBytes: r.bodyBytes,
		SentBytes: r.sentBytes, BodySent: n.Body != nil,
	}
	for code, c := range r.status {
		if c > 0 {
			res.StatusCodes[code] = c
		}
	}
	// ab's "Time taken": to the last completion, or to the stop when the run was
	// cut short (by -t, a signal or an error).
	res.Elapsed = r.lastDone
	if e.reason != "requests" && e.stopAt > res.Elapsed {
		res.Elapsed = e.stopAt
	}
	res.Throughput = throughput(res)
	res.Connect, res.Processing = r.connect.summary(), r.processing.summary()
	res.Waiting, res.Total = r.waiting.summary(), r.total.summary()
	res.Histogram = &Histogram{h: r.total.h}
	res.Served = served(&r.total)
	for _, p := range reportPercentiles {
		res.Percentiles = append(res.Percentiles, Percentile{Percentile: p, Latency: r.total.percentile(p)})
	}
	res.Timeline = r.tl.finish()
	if e.pacer != nil {
		res.Rate = e.pacer.stats(res.Elapsed)
	}
	return res
}

// reportPercentiles are wsgilab's own lines after ab's report (100 is the max).
var reportPercentiles = []float64{50, 90, 99, 99.9, 99.99, 100}

func (s *series) percentile(p float64) time.Duration {
	if s.n == 0 {
		return 0
	}
	if p >= 100 {
		return time.Duration(s.max)
	}
	return time.Duration(min(max(s.h.ValueAtPercentile(p), s.min), s.max))
}

// served is ab's percentage table: element done*p/100 of the sorted totals.
func served(s *series) []Served {
	if s.n == 0 {
		return nil
	}
	out := make([]Served, 0, len(abPercents))
	for _, p := range abPercents {
		var v int64
		i := s.n * int64(p) / 100
		switch {
		case p >= 100 || i >= s.n-1:
			v = s.max
		case i <= 0:
			v = s.min
		default:
			v = min(max(valueAtIndex(s.h, i), s.min), s.max)
		}
		out = append(out, Served{Percent: p, Latency: time.Duration(v)})
	}
	return out
}

// abPercents are the rows of ab's percentage table.
var abPercents = []int{50, 66, 75, 80, 90, 95, 98, 99, 100}

func throughput(r *Result) Throughput {
	secs := r.Elapsed.Seconds()
	if secs <= 0 || r.Complete == 0 {
		return Throughput{}
	}
	done := float64(r.Complete)
	return Throughput{
		RequestsPerSecond: done / secs,
		TimePerRequestMs:  float64(r.Concurrency) * secs * 1000 / done,
		TimePerRequestAll: secs * 1000 / done,
		TransferKBps:      float64(r.TotalBytes) / 1024 / secs,
	}
}
