package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// run is Run with a bounded context, the no-leak check and the basic invariants of
// every Result (failure breakdown sums to Failed, and so on).
func run(t *testing.T, cfg Config) (*Result, error) {
	t.Helper()
	check := checkNoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg)
	check()
	if res != nil {
		f := res.Failures
		if got := f.Connect + f.Receive + f.Length + f.Exceptions; got != res.Failed {
			t.Errorf("failure breakdown %+v sums to %d, Failed = %d", f, got, res.Failed)
		}
		if f.Timeouts > f.Exceptions {
			t.Errorf("timeouts %d > exceptions %d", f.Timeouts, f.Exceptions)
		}
		var codes int64
		for _, c := range res.StatusCodes {
			codes += c
		}
		if codes > res.Complete {
			t.Errorf("status codes count %d > complete %d", codes, res.Complete)
		}
		if res.Histogram.Count() != res.Complete {
			t.Errorf("histogram holds %d, complete %d", res.Histogram.Count(), res.Complete)
		}
		var tl int64
		for _, s := range res.Timeline {
			tl += s.Completed
		}
		if tl != res.Complete {
			t.Errorf("timeline completes %d, complete %d", tl, res.Complete)
		}
	}
	return res, err
}

func mustRun(t *testing.T, cfg Config) *Result {
	t.Helper()
	res, err := run(t, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func expectCounts(t *testing.T, res *Result, complete, failed int64, f FailureCounts) {
	t.Helper()
	if res.Complete != complete || res.Failed != failed || res.Failures != f {
		t.Errorf("complete %d failed %d %+v; want complete %d failed %d %+v",
			res.Complete, res.Failed, res.Failures, complete, failed, f)
	}
}

const helloBody = "hello world"

func helloServer(t *testing.T) *rawServer {
	return newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		return respond(c, req, 200, helloBody)
	})
}

func TestKeepAliveCounts(t *testing.T) {
	srv := helloServer(t)
	res := mustRun(t, Config{URL: srv.URL("/x?y=1"), Requests: 100, Concurrency: 4, KeepAlive: true})
	expectCounts(t, res, 100, 0, FailureCounts{})
	if res.KeepAliveRequests != 100 || res.Connections != 4 || srv.conns.Load() != 4 {
		t.Errorf("keep-alive %d, connections %d (server saw %d); want 100, 4", res.KeepAliveRequests, res.Connections, srv.conns.Load())
	}
	if n := srv.requests.Load(); n != 100 {
		t.Errorf("server got %d requests, want exactly 100", n)
	}
	if res.DocumentLength != int64(len(helloBody)) || res.BodyBytes != 100*int64(len(helloBody)) {
		t.Errorf("document length %d, html %d", res.DocumentLength, res.BodyBytes)
	}
	if res.ServerSoftware != "rawtest/1.0" {
		t.Errorf("server software %q, want ab's first token %q", res.ServerSoftware, "rawtest/1.0")
	}
	if res.Path != "/x?y=1" || res.Host != "127.0.0.1" || res.StopReason != "requests" {
		t.Errorf("path %q host %q reason %q", res.Path, res.Host, res.StopReason)
	}
	respLen := int64(len("HTTP/1.1 200 OK\r\nServer: rawtest/1.0 (test)\r\nContent-Length: 11\r\nConnection: keep-alive\r\n\r\n" + helloBody))
	if res.TotalBytes != 100*respLen {
		t.Errorf("total transferred %d, want %d", res.TotalBytes, 100*respLen)
	}
	if res.Connect.Max > res.Total.Max || res.Total.Min <= 0 {
		t.Errorf("implausible summaries: connect %+v total %+v", res.Connect, res.Total)
	}
}

func TestNoKeepAlive(t *testing.T) {
	var closes atomic.Int64
	srv := newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		if strings.EqualFold(req.Header["connection"], "close") {
			closes.Add(1)
		}
		return respond(c, req, 200, helloBody)
	})
	res := mustRun(t, Config{URL: srv.URL("/"), Requests: 50, Concurrency: 5})
	expectCounts(t, res, 50, 0, FailureCounts{})
	if res.KeepAliveRequests != 0 || res.Connections != 50 || closes.Load() != 50 {
		t.Errorf("keep-alive %d connections %d close-requests %d; want 0 50 50", res.KeepAliveRequests, res.Connections, closes.Load())
	}
}

func TestFixedDelay(t *testing.T) {
	const delay = 30 * time.Millisecond
	srv := newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		time.Sleep(delay)
		return respond(c, req, 200, helloBody)
	})
	res := mustRun(t, Config{URL: srv.URL("/"), Requests: 12, Concurrency: 3, KeepAlive: true})
	expectCounts(t, res, 12, 0, FailureCounts{})
	if res.Total.Min < delay || res.Waiting.Min < delay || res.Processing.Min < delay {
		t.Errorf("min total %v waiting %v processing %v, want >= %v", res.Total.Min, res.Waiting.Min, res.Processing.Min, delay)
	}
	for _, s := range res.Served {
		if s.Latency < delay {
			t.Errorf("served %d%% within %v < delay", s.Percent, s.Latency)
		}
	}
	for _, p := range res.Percentiles {
		if p.Latency < delay {
			t.Errorf("p%g = %v < delay", p.Percentile, p.Latency)
		}
	}
	// 12 requests over 3 connections take at least 4 delays.
	if res.Elapsed < 4*delay {
		t.Errorf("elapsed %v < %v", res.Elapsed, 4*delay)
	}
}

// varyingServer answers request i with a body of 10 bytes when i%3 == 0, else 12.
func varyingServer(t *testing.T) *rawServer {
	return newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		n := 12
		if req.Index%3 == 0 {
			n = 10
		}
		return respond(c, req, 200, strings.Repeat("b", n))
	})
}

func TestVaryingLengths(t *testing.T) {
	res := mustRun(t, Config{URL: varyingServer(t).URL("/"), Requests: 30, Concurrency: 1, KeepAlive: true})
	// ab's rule: lengths differing from the first response's (10) fail.
	expectCounts(t, res, 30, 20, FailureCounts{Length: 20})
	if res.DocumentLength != 10 || res.BodyBytes != 10*10+20*12 {
		t.Errorf("document length %d html %d", res.DocumentLength, res.BodyBytes)
	}
	res = mustRun(t, Config{URL: varyingServer(t).URL("/"), Requests: 30, Concurrency: 1, VariableLength: true})
	expectCounts(t, res, 30, 0, FailureCounts{})
}

func TestNon2xx(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		if req.Index%4 == 1 {
			return respond(c, req, 503, "unavailabl") // same length: no Length failure
		}
		return respond(c, req, 200, "available!")
	})
	res := mustRun(t, Config{URL: srv.URL("/"), Requests: 40, Concurrency: 2, KeepAlive: true})
	expectCounts(t, res, 40, 0, FailureCounts{})
	if res.Non2xx != 10 || res.StatusCodes[503] != 10 || res.StatusCodes[200] != 30 {
		t.Errorf("non-2xx %d codes %v", res.Non2xx, res.StatusCodes)
	}
}

func TestClosedMidResponse(t *testing.T) {
	for _, ka := range []bool{false, true} {
		t.Run(fmt.Sprint("keepalive=", ka), func(t *testing.T) {
			srv := newRawServer(t, func(c net.Conn, req *rawRequest) bool {
				body := strings.Repeat("z", 100)
				if req.Index%2 == 1 {
					// announce 100 bytes, send 50, close
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n%s", body[:50])
					return false
				}
				return respond(c, req, 200, body)
			})
			res := mustRun(t, Config{URL: srv.URL("/"), Requests: 20, Concurrency: 1, KeepAlive: ka})
			expectCounts(t, res, 20, 10, FailureCounts{Length: 10})
			if res.BodyBytes != 10*100+10*50 {
				t.Errorf("html transferred %d", res.BodyBytes)
			}
		})
	}
}

func TestSlowHeaders(t *testing.T) {
	const pause = 40 * time.Millisecond
	srv := newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nServer: slow\r\n")
		time.Sleep(pause)
		io.WriteString(c, "Content-Length: 5\r\n\r\n")
		time.Sleep(pause)
		io.WriteString(c, "slow!")
		return req.WantsKeep
	})
	res := mustRun(t, Config{URL: srv.URL("/"), Requests: 6, Concurrency: 2, KeepAlive: true})
	expectCounts(t, res, 6, 0, FailureCounts{})
	if res.Total.Min < 2*pause || res.Waiting.Max >= res.Total.Min {
		t.Errorf("total min %v (want >= %v), waiting max %v (the status line comes at once)", res.Total.Min, 2*pause, res.Waiting.Max)
	}
	if res.DocumentLength != 5 || res.ServerSoftware != "slow" {
		t.Errorf("document length %d server %q", res.DocumentLength, res.ServerSoftware)
	}
}

// silentServer reads requests and never answers.
func silentServer(t *testing.T) *rawServer {
	return newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		io.Copy(io.Discard, c) // until the client gives up
		return false
	})
}

func TestTimeoutAbortsAfterFailures(t *testing.T) {
	res, err := run(t, Config{URL: silentServer(t).URL("/"), Requests: 2, Concurrency: 2,
		Timeout: 100 * time.Millisecond, MaxFailures: 3})
	if !errors.Is(err, ErrTooManyFailures) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTooManyFailures wrapping ErrTimeout", err)
	}
	if res.Complete != 0 || res.Failures.Exceptions < 4 || res.Failures.Timeouts != res.Failures.Exceptions {
		t.Errorf("complete %d failures %+v", res.Complete, res.Failures)
	}
	if res.StopReason != "failures" {
		t.Errorf("stop reason %q", res.StopReason)
	}
}

func TestTimeoutWithinDuration(t *testing.T) {
	res := mustRun(t, Config{URL: silentServer(t).URL("/"), Concurrency: 1, Duration: 350 * time.Millisecond,
		Timeout: 100 * time.Millisecond})
	if res.StopReason != "duration" || res.Complete != 0 || res.Failures.Timeouts < 2 {
		t.Errorf("reason %q complete %d failures %+v", res.StopReason, res.Complete, res.Failures)
	}
	if res.Elapsed < 350*time.Millisecond {
		t.Errorf("elapsed %v < the duration", res.Elapsed)
	}
}

// closedPort returns a 127.0.0.1 port nobody listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestRefused(t *testing.T) {
	res, err := run(t, Config{URL: "http://" + closedPort(t) + "/", Requests: 10, Concurrency: 2})
	var ce *ConnectError
	if !errors.As(err, &ce) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want a ConnectError for ECONNREFUSED", err)
	}
	if res == nil || res.Failures.Connect != 1 || res.Complete != 0 || res.StopReason != "connect-error" {
		t.Fatalf("result %+v", res)
	}
}

func TestChunked(t *testing.T) {
	// Chunks written in pieces, with pauses, so that they straddle reads; every
	// other response has a trailer and chunk extensions.
	srv := newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
		pieces := []string{"5\r\nhel", "lo\r\n", "6;ext=1\r\n world\r\n", "0\r\n"}
		if req.Index%2 == 0 {
			pieces = append(pieces, "X-Trailer: yes\r\n\r\n")
		} else {
			pieces = append(pieces, "\r\n")
		}
		for _, p := range pieces {
			io.WriteString(c, p)
			time.Sleep(time.Millisecond)
		}
		return req.WantsKeep
	})
	res := mustRun(t, Config{URL: srv.URL("/"), Requests: 20, Concurrency: 2, KeepAlive: true})
	expectCounts(t, res, 20, 0, FailureCounts{})
	if res.DocumentLength != 11 || res.BodyBytes != 20*11 || res.KeepAliveRequests != 20 || res.Connections != 2 {
		t.Errorf("document length %d html %d keep-alive %d connections %d", res.DocumentLength, res.BodyBytes, res.KeepAliveRequests, res.Connections)
	}
}

// http10Server is an HTTP/1.0 server: no Content-Length, no keep-alive, the body
// ends when it closes.
func http10Server(t *testing.T) *rawServer {
	return newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		io.WriteString(c, "HTTP/1.0 200 OK\r\nServer: Old/1.0\r\nContent-Type: text/plain\r\n\r\n"+helloBody)
		return false
	})
}

func TestHTTP10Server(t *testing.T) {
	srv := http10Server(t)
	res := mustRun(t, Config{URL: srv.URL("/"), Requests: 30, Concurrency: 3, KeepAlive: true})
	expectCounts(t, res, 30, 0, FailureCounts{})
	if res.KeepAliveRequests != 0 || res.Connections != 30 || res.DocumentLength != int64(len(helloBody)) {
		t.Errorf("keep-alive %d connections %d document length %d", res.KeepAliveRequests, res.Connections, res.DocumentLength)
	}
}

func TestServerClosesIdleKeepAlive(t *testing.T) {
	// The server drops every connection after its third response without saying so
	// (as a keep-alive timeout or request limit does): not a failure, as in ab.
	srv := newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		respond(c, req, 200, helloBody)
		return req.OnConn < 2
	})
	res := mustRun(t, Config{URL: srv.URL("/"), Requests: 30, Concurrency: 2, KeepAlive: true})
	expectCounts(t, res, 30, 0, FailureCounts{})
	if srv.conns.Load() < 10 {
		t.Errorf("server saw %d connections, want >= 10", srv.conns.Load())
	}
}

// resetServer resets the connection (RST) instead of answering odd requests.
func resetServer(t *testing.T) *rawServer {
	return newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		if req.Index%2 == 1 {
			c.(*net.TCPConn).SetLinger(0)
			return false
		}
		return respond(c, req, 200, helloBody)
	})
}

func TestReceiveErrors(t *testing.T) {
	// ab -r: resets are counted ("Receive") and the run goes on; they complete.
	res := mustRun(t, Config{URL: resetServer(t).URL("/"), Requests: 10, Concurrency: 1})
	expectCounts(t, res, 10, 5, FailureCounts{Receive: 5})
	// ab without -r: the first reset ends the run.
	res, err := run(t, Config{URL: resetServer(t).URL("/"), Requests: 10, Concurrency: 1, StopOnReceiveError: true})
	if !errors.Is(err, ErrReceive) || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("err = %v, want ErrReceive wrapping ECONNRESET", err)
	}
	if res.StopReason != "receive-error" || res.Failures.Receive != 1 || res.Complete != 2 {
		t.Errorf("reason %q complete %d failures %+v", res.StopReason, res.Complete, res.Failures)
	}
}

// A cancel ends the run at once, abandoning the requests in flight: here every connection is
// stuck in a request the server never answers, so only the cancel can end the run. Abandoned
// requests are neither completed nor failed. The minute bounds the wait; nothing is timed.
func TestCancelAbandonsRequestsInFlight(t *testing.T) {
	const answered, conc = 8, 4
	release := make(chan struct{})
	var served atomic.Int64
	srv := newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		if served.Add(1) > answered {
			<-release
			return false
		}
		return respond(c, req, 200, helloBody)
	})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the server's cleanup: its handlers return
	check := checkNoLeaks(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Every connection is stuck once the server has seen answered+conc requests.
		for served.Load() < answered+conc {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	type outcome struct {
		res *Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := Run(ctx, Config{URL: srv.URL("/"), Requests: 1 << 30, Concurrency: conc, KeepAlive: true})
		done <- outcome{res, err}
	}()
	var o outcome
	select {
	case o = <-done:
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after a cancel with every request in flight")
	}
	unblock() // the server's stuck handlers, which are not the client's leaks
	check()
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.res.StopReason != "canceled" || o.res.Complete != answered || o.res.Failed != 0 {
		t.Errorf("reason %q complete %d failed %d, want canceled, %d, 0", o.res.StopReason, o.res.Complete, o.res.Failed, answered)
	}
}

func TestDuration(t *testing.T) {
	res := mustRun(t, Config{URL: helloServer(t).URL("/"), Duration: 200 * time.Millisecond, Concurrency: 2, KeepAlive: true})
	if res.StopReason != "duration" || res.Complete == 0 || res.Failed != 0 {
		t.Errorf("reason %q complete %d failed %d", res.StopReason, res.Complete, res.Failed)
	}
	if res.Elapsed < 200*time.Millisecond {
		t.Errorf("elapsed %v", res.Elapsed)
	}
}

func TestHead(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		if req.Method != "HEAD" {
			t.Errorf("method %q", req.Method)
		}
		// A HEAD response announces the length of the body it does not send.
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
		return req.WantsKeep
	})
	res := mustRun(t, Config{URL: srv.URL("/"), Requests: 10, Method: "HEAD", KeepAlive: true})
	expectCounts(t, res, 10, 0, FailureCounts{})
	if res.DocumentLength != 0 || res.Connections != 1 {
		t.Errorf("document length %d connections %d", res.DocumentLength, res.Connections)
	}
}

func TestPostBodyAndHeaders(t *testing.T) {
	var mu sync.Mutex
	var got []*rawRequest
	srv := newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		return respond(c, req, 200, helloBody)
	})
	cfg := Config{URL: srv.URL("/post"), Requests: 3, Body: []byte("a=1&b=2"), ContentType: "application/x-www-form-urlencoded",
		Headers: map[string][]string{"X-Test": {"yes"}, "User-Agent": {"custom"}}}
	res := mustRun(t, cfg)
	expectCounts(t, res, 3, 0, FailureCounts{})
	n, _ := cfg.normalize()
	if res.SentBytes != 3*int64(len(n.request)) || !res.BodySent {
		t.Errorf("sent %d, want %d", res.SentBytes, 3*len(n.request))
	}
	mu.Lock() // the server's goroutines wrote got
	defer mu.Unlock()
	for _, r := range got {
		if r.Method != "POST" || string(r.Body) != "a=1&b=2" || r.Header["content-type"] != "application/x-www-form-urlencoded" ||
			r.Header["x-test"] != "yes" || r.Header["user-agent"] != "custom" || r.Header["host"] != srv.ln.Addr().String() {
			t.Errorf("request %+v", r)
		}
	}
}

func TestOnResponseCapture(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		return respond(c, req, 200, helloBody, fmt.Sprintf("X-Pid: %d", 1000+req.Index%2), "x-app-time-us: 123")
	})
	var mu sync.Mutex
	pids := map[string]int{}
	var calls int
	res := mustRun(t, Config{URL: srv.URL("/"), Requests: 20, Concurrency: 2, KeepAlive: true,
		CaptureHeaders: []string{"X-App-Time-Us", "X-Pid", "X-Missing"},
		OnResponse: func(r Response) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			pids[r.CapturedString(1)]++
			if r.CapturedString(0) != "123" || r.Captured[2] != nil || r.Status != 200 || r.Failure != NoFailure ||
				r.Latency <= 0 || r.Intended.After(r.Start) || r.BodyBytes != int64(len(helloBody)) {
				t.Errorf("response %+v", r)
			}
		}})
	expectCounts(t, res, 20, 0, FailureCounts{})
	if calls != 20 || pids["1000"] != 10 || pids["1001"] != 10 {
		t.Errorf("calls %d pids %v", calls, pids)
	}
}

func TestOnResponseSeesFailures(t *testing.T) {
	var mu sync.Mutex
	kinds := map[Failure]int{}
	res := mustRun(t, Config{URL: varyingServer(t).URL("/"), Requests: 9, Concurrency: 1,
		OnResponse: func(r Response) {
			mu.Lock()
			kinds[r.Failure]++
			mu.Unlock()
		}})
	if kinds[FailLength] != 6 || kinds[NoFailure] != 3 || res.Failures.Length != 6 {
		t.Errorf("hook saw %v, result %+v", kinds, res.Failures)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{URL: "ftp://127.0.0.1/", Requests: 1},
		{URL: "http://", Requests: 1},
		{URL: "http://127.0.0.1:99999/", Requests: 1},
		{URL: "http://127.0.0.1/", Requests: 1, Concurrency: 2},
		{URL: "http://127.0.0.1/"},
		{URL: "http://127.0.0.1/", Requests: 1, Method: "GE T"},
		{URL: "http://127.0.0.1/", Requests: 1, Headers: map[string][]string{"Bad Name": {"x"}}},
		{URL: "http://127.0.0.1/", Requests: 1, Headers: map[string][]string{"X": {"a\r\nInjected: 1"}}},
		{URL: "http://127.0.0.1/", Requests: 1, Headers: map[string][]string{"Content-Length": {"3"}}},
	} {
		check := checkNoLeaks(t)
		res, err := Run(context.Background(), c)
		check()
		var ce *ConfigError
		if !errors.As(err, &ce) || res != nil {
			t.Errorf("%+v: err %v, want a ConfigError", c, err)
		}
	}
}

func TestUnknownHost(t *testing.T) {
	// An invalid domain name fails in the resolver without any network traffic.
	check := checkNoLeaks(t)
	_, err := Run(context.Background(), Config{URL: "http://no_such..host/", Requests: 1})
	check()
	var le *LookupError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v, want a LookupError", err)
	}
}

func TestRefusedMidRun(t *testing.T) {
	// The server stops listening after 5 requests: later connects are refused,
	// counted as Connect failures and retried until MaxFailures gives up.
	var self atomic.Pointer[rawServer] // set before any request can arrive
	srv := newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		if req.Index == 4 {
			self.Load().ln.Close()
		}
		return respond(c, req, 200, helloBody)
	})
	self.Store(srv)
	res, err := run(t, Config{URL: srv.URL("/"), Requests: 20, Concurrency: 1, MaxFailures: 3})
	if !errors.Is(err, ErrTooManyFailures) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want ErrTooManyFailures wrapping ECONNREFUSED", err)
	}
	expectCounts(t, res, 5, 4, FailureCounts{Connect: 4})
	if res.Connections != 5 {
		t.Errorf("connections %d, want the 5 that worked", res.Connections)
	}
}
