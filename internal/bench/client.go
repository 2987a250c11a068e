package bench

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// The open loop's HTTP/1.1 client (Config.Rate; the closed loop runs in
// loop_linux.go). One worker goroutine owns one connection slot and runs one request
// at a time on it, sleeping until each is due: write the prebuilt request bytes,
// read the response into a fixed buffer, frame it, and record. Nothing on that path
// allocates.
//
// Connections are raw non-blocking sockets wrapped in *os.File (dial_linux.go),
// which gives the runtime poller and deadlines like net.Conn but without the net
// package's per-connection extras (bind, getsockname, getpeername, context
// bookkeeping).

// readBufSize is the per-connection read buffer, and the largest response header
// accepted (ab's limit is 8 KB as well).
const readBufSize = 8 << 10

type worker struct {
	e *engine

	nc      *os.File
	connAt  atomic.Pointer[os.File] // the current connection, for stop and expire
	pending bool                    // nc's handshake is not confirmed yet (see dial)
	// busySince is 1 + the start offset of the request in flight, 0 when idle, or
	// timedOutMark once the watchdog has expired it; drainSince is the same for the
	// wait for a server's FIN after a last response.
	busySince  atomic.Int64
	drainSince atomic.Int64
	dialer     dialState // the socket address (dial_linux.go)
	// preConnect, when non-zero, is the start offset of a connect done before the
	// first request (Run's probing connection): it is that request's connect time.
	preConnect time.Duration

	buf       []byte
	rawHeader []byte // Config.RawHeaders: a copy of the header block, for the hook
	capBuf    []byte // copies of the captured header values
	head      respHead
	captured  [][]byte
	chunk     chunkState
	s         sample
	timer     *time.Timer // rate mode: sleeping until a request is due
}

func newWorker(e *engine) *worker {
	w := &worker{e: e, buf: make([]byte, readBufSize)}
	w.dialer.init(w)
	if len(e.cfg.capture) > 0 {
		w.captured = make([][]byte, len(e.cfg.capture))
	}
	return w
}

// run is the worker's loop. Workers run the open loop (Config.Rate); the closed
// loop runs in event loops (loop_linux.go).
func (w *worker) run() {
	defer w.closeConn()
	w.runPaced()
}

// runPaced takes scheduled requests from the pacer. A worker that is free before a
// request is due sleeps until then and measures from the actual send (timer slack is
// the generator's, not the server's); one that takes a request already late, because
// every connection was busy, measures from the due time: the coordinated-omission
// correction.
func (w *worker) runPaced() {
	e := w.e
	for !e.stopped.Load() {
		now := e.now()
		due, ok := e.pacer.take(now)
		if !ok {
			return
		}
		ref := due
		if due > now {
			if w.timer == nil {
				w.timer = time.NewTimer(due - now)
			} else {
				w.timer.Reset(due - now)
			}
			select {
			case <-w.timer.C:
			case <-e.stopCh:
				w.timer.Stop()
				return
			}
			ref = e.now()
		}
		start := ref
		if due <= now {
			start = e.now()
		}
		if w.preConnect > 0 {
			start, ref = 0, min(ref, 0)
		}
		if w.do(ref, start) == outcomeStopped {
			return
		}
	}
}

type outcome uint8

const (
	outcomeDone    outcome = iota // recorded; completed or not
	outcomeRetry                  // recorded as a failure that did not complete
	outcomeStopped                // the run stopped: not recorded
)

// do performs one request. ref is the latency reference (the due time with Rate),
// start when work on it begins.
func (w *worker) do(ref, start time.Duration) outcome {
	e := w.e
	s := &w.s
	*s = sample{ref: ref, start: start}
	for {
		w.busySince.Store(int64(s.start) + 1)
		fresh := w.nc == nil
		if fresh {
			if err := w.dial(); err != nil {
				if e.stopped.Load() {
					return outcomeStopped
				}
				if w.timedOut() {
					s.timeout, err = true, ErrTimeout
				}
				s.failure, s.err, s.end = FailConnect, err, e.now()
				return w.finish()
			}
		}
		if w.preConnect > 0 {
			// The run's probing connection: its connect was this request's.
			s.connect = w.preConnect
			w.preConnect = 0
			fresh = true
		} else if fresh && !w.pending {
			s.connect = e.now() - s.start
		}
		retry, o := w.exchange(fresh)
		if !retry {
			return o
		}
		// The server closed an idle keep-alive connection as the request went out:
		// not a failure, as in ab; reconnect and resend (the clock restarts).
		s.start = e.now()
		if e.pacer == nil {
			s.ref = s.start
		}
	}
}

// exchange writes the request on w.nc and reads the response. retry is true when a
// reused connection turned out to be closed before any response byte.
func (w *worker) exchange(fresh bool) (retry bool, o outcome) {
	e := w.e
	s := &w.s
	req := e.cfg.request
	n, err := w.nc.Write(req)
	s.sent += int64(n)
	if w.pending {
		// The write waited for the handshake: settle the connection.
		w.pending = false
		if err != nil && n == 0 {
			return false, w.connectFailed(err)
		}
		e.conns.Add(1)
		s.connect = e.now() - s.start
	}
	if err != nil {
		if e.stopped.Load() {
			return false, outcomeStopped
		}
		if !fresh && !w.timedOut() {
			w.closeConn()
			return true, outcomeDone
		}
		s.failure, s.err, s.writeErr = FailException, err, true
		return false, w.fail(err)
	}
	s.endWrite = e.now()

	// The header: usually one read brings all of it, and the body with it. It is
	// parsed as it comes (one pass per read), and parsed again from the start in
	// the rare case where it spans reads.
	wantServer := !e.serverSeen.Load()
	end := 0
	var hl int
header:
	hl = -1
	if end > 0 {
		var perr error
		if hl, perr = parseHead(w.buf[:end], e.cfg.head, e.cfg.capture, w.captured, wantServer, &w.head); perr != nil {
			return false, w.fail(perr)
		}
	}
	for hl < 0 {
		if end == len(w.buf) {
			return false, w.fail(errHeaderTooLarge)
		}
		n, err := w.nc.Read(w.buf[end:])
		if n > 0 {
			if s.read == 0 {
				s.firstByte = e.now()
			}
			s.read += int64(n)
			end += n
			var perr error
			if hl, perr = parseHead(w.buf[:end], e.cfg.head, e.cfg.capture, w.captured, wantServer, &w.head); perr != nil {
				return false, w.fail(perr)
			}
			if hl >= 0 {
				break
			}
		}
		if err != nil {
			if e.stopped.Load() {
				return false, outcomeStopped
			}
			if s.read == 0 && !fresh && !w.timedOut() && (err == io.EOF || isReset(err)) {
				w.closeConn()
				return true, outcomeDone
			}
			return false, w.readFailed(err)
		}
	}
	h := &w.head
	if wantServer {
		e.setServer(h.server)
	}
	if len(w.captured) > 0 {
		w.capBuf = keepCaptured(w.captured, w.capBuf)
	}
	if h.status >= 100 && h.status < 200 && h.status != 101 {
		// An interim response (100 Continue, 103 Early Hints): drop it and read
		// the real one, which may have arrived in the same read.
		copy(w.buf, w.buf[hl:end])
		end -= hl
		goto header
	}
	s.status = h.status
	if e.cfg.RawHeaders {
		w.rawHeader = append(w.rawHeader[:0], w.buf[:hl]...)
	}
	reusable := e.cfg.KeepAlive && !h.connClose && h.status != 101 && (h.minor >= 1 || h.connKeepAlive)

	// The body, from what followed the header in the buffer, then from the socket.
	avail := w.buf[hl:end]
	eof := false
	switch h.framing {
	case framingNone:
		if len(avail) > 0 {
			reusable = false // stray bytes after a bodiless response
		}
		s.end = e.now()
	case framingLength:
		remaining := h.contentLength
		if int64(len(avail)) > remaining {
			reusable = false // more than announced: the connection is out of step
			avail = avail[:remaining]
		}
		s.body = int64(len(avail))
		remaining -= s.body
		for remaining > 0 {
			n, err := w.nc.Read(w.buf)
			if n > 0 {
				s.read += int64(n)
				got := min(int64(n), remaining)
				if got < int64(n) {
					reusable = false
				}
				s.body += got
				remaining -= got
			}
			if remaining > 0 && err != nil {
				if e.stopped.Load() {
					return false, outcomeStopped
				}
				return false, w.readFailed(err)
			}
		}
		s.end = e.now()
	case framingChunked:
		w.chunk = chunkState{}
		used, data, done, err := w.chunk.feed(avail)
		s.body += data
		if err != nil {
			return false, w.fail(err)
		}
		if done && used < len(avail) {
			reusable = false
		}
		for !done {
			n, rerr := w.nc.Read(w.buf)
			if n > 0 {
				s.read += int64(n)
				used, data, done, err = w.chunk.feed(w.buf[:n])
				s.body += data
				if err != nil {
					return false, w.fail(err)
				}
				if done && used < n {
					reusable = false
				}
			}
			if !done && rerr != nil {
				if e.stopped.Load() {
					return false, outcomeStopped
				}
				return false, w.readFailed(rerr)
			}
		}
		s.end = e.now()
	case framingClose:
		reusable = false
		s.body = int64(len(avail))
		for {
			n, err := w.nc.Read(w.buf)
			if n > 0 {
				s.read += int64(n)
				s.body += int64(n)
			}
			if err == io.EOF {
				eof = true
				break
			}
			if err != nil {
				if e.stopped.Load() {
					return false, outcomeStopped
				}
				return false, w.readFailed(err)
			}
		}
		s.end = e.now()
	}
	s.keepAlive = reusable
	if w.busySince.Swap(0) == timedOutMark {
		reusable = false // the watchdog poisoned the connection just as it finished
	}
	o = w.finish()
	switch {
	case reusable:
	case eof:
		w.closeConn()
	case !e.cfg.KeepAlive || h.connClose || (h.minor == 0 && !h.connKeepAlive):
		w.drainAndClose() // the server closes: let it close first
	default:
		w.closeConn() // out of step (stray bytes): the client has to close
	}
	return false, o
}

// keepCaptured copies the captured header values out of the read buffer, which the
// body is about to overwrite, into buf (reused from request to request).
func keepCaptured(captured [][]byte, buf []byte) []byte {
	n := 0
	for _, v := range captured {
		n += len(v)
	}
	if cap(buf) < n {
		buf = make([]byte, 0, 2*n)
	}
	b := buf[:0]
	for i, v := range captured {
		if v != nil {
			b = append(b, v...)
			captured[i] = b[len(b)-len(v) : len(b) : len(b)]
		}
	}
	return b
}

// connectFailed records a connection whose handshake failed, as seen by the first
// write on it.
func (w *worker) connectFailed(err error) outcome {
	e := w.e
	s := &w.s
	w.closeConn()
	if e.stopped.Load() {
		return outcomeStopped
	}
	var errno syscall.Errno
	switch {
	case w.timedOut():
		s.timeout, err = true, ErrTimeout
	case errors.As(err, &errno):
		err = os.NewSyscallError("connect", errno)
	}
	s.failure, s.err, s.end = FailConnect, err, e.now()
	return w.finish()
}

// timedOut reports whether the watchdog expired the request in flight.
func (w *worker) timedOut() bool { return w.busySince.Load() == timedOutMark }

// readFailed classifies a failed read: timeout, reset (Receive) or early close
// (Length: the response is shorter than announced; a completed request, as in ab).
func (w *worker) readFailed(err error) outcome {
	s := &w.s
	if w.timedOut() || errors.Is(err, os.ErrDeadlineExceeded) {
		s.timeout = true
		s.failure, s.err = FailException, ErrTimeout
		return w.finishClose()
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		s.failure, s.truncated, s.err = FailLength, true, io.ErrUnexpectedEOF
		return w.finishClose()
	}
	s.failure, s.err = FailReceive, err
	o := w.finishClose()
	if w.e.cfg.StopOnReceiveError {
		w.e.stop("receive-error", &opError{kind: ErrReceive, err: err})
	}
	return o
}

// fail records an exception (a malformed response or a write error) and drops the
// connection, whose state is unknown.
func (w *worker) fail(err error) outcome {
	s := &w.s
	if s.failure == NoFailure {
		s.failure = FailException
	}
	s.err = err
	return w.finishClose()
}

func (w *worker) finishClose() outcome {
	w.busySince.Store(0)
	if w.s.end == 0 {
		w.s.end = w.e.now()
	}
	w.closeConn()
	return w.finish()
}

// finish records the sample and calls the hook (engine.settle).
func (w *worker) finish() outcome {
	w.busySince.Store(0)
	return w.e.settle(&w.s, w.captured, w.rawHeader)
}

// settle records a finished request and calls the hook. Failures that do not
// complete a request count toward MaxFailures and are retried by the closed loop.
// Once the run is stopped nothing more is recorded: requests still in flight then
// are abandoned, whether they would have succeeded or failed.
func (e *engine) settle(s *sample, captured [][]byte, rawHeader []byte) outcome {
	if e.stopped.Load() {
		return outcomeStopped
	}
	f := e.rec.record(s)
	if e.cfg.OnResponse != nil {
		e.callHook(s, f, captured, rawHeader)
	}
	if !f.completes() {
		e.failedHard(s.err)
		return outcomeRetry
	}
	return outcomeDone
}

func (e *engine) callHook(s *sample, f Failure, captured [][]byte, rawHeader []byte) {
	r := Response{
		Intended:  e.base.Add(s.ref),
		Start:     e.base.Add(s.start),
		Connect:   s.connect,
		Status:    s.status,
		BodyBytes: s.body,
		KeepAlive: s.keepAlive,
		Failure:   f,
		Err:       s.err,
		Captured:  captured,
		RawHeader: rawHeader,
	}
	if f == FailLength && r.Err == nil {
		r.Err = errLengthMismatch
	}
	if s.firstByte > 0 {
		r.Wait = s.firstByte - s.endWrite
	}
	r.Latency = s.end - s.ref
	if s.status == 0 {
		r.Captured, r.RawHeader = nil, nil // no header: nothing from an earlier one
	}
	e.cfg.OnResponse(r)
}

var errLengthMismatch = errors.New("body length differs from the first response's")

func (w *worker) closeConn() {
	w.pending = false
	if w.nc != nil {
		w.connAt.Store(nil)
		_ = w.nc.Close()
		w.nc = nil
	}
}

// drainAndClose closes a connection that will not be reused. When the server is the
// one closing (it was asked to, or said so), wait briefly for its FIN first: the side
// that closes first keeps the TIME_WAIT state, and it must be the server's, or a
// client opening thousands of connections a second runs out of ephemeral ports.
func (w *worker) drainAndClose() {
	if w.e.stopped.Load() {
		w.closeConn()
		return
	}
	// The watchdog bounds the wait (expire): cheaper than a deadline per connection.
	w.drainSince.Store(int64(w.e.now()) + 1)
	for {
		n, err := w.nc.Read(w.buf)
		w.addStray(n)
		if err != nil {
			break
		}
	}
	w.drainSince.Store(0)
	w.closeConn()
}

// drainWait bounds the wait for a server's FIN after a final response.
const drainWait = time.Second

// addStray counts bytes a server sent after the end of a response (ab counts every
// byte read in "Total transferred").
func (w *worker) addStray(n int) {
	if n > 0 {
		w.e.rec.addBytes(int64(n))
	}
}

// isReset reports a connection reset or broken pipe.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// opError is an error that stops the run, with ab's errno-style cause.
type opError struct {
	kind error
	err  error
}

func (e *opError) Error() string   { return e.kind.Error() + ": " + errText(e.err) }
func (e *opError) Unwrap() []error { return []error{e.kind, e.err} }
