package bench

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestConstantMemory: the engine keeps histograms, not samples, and allocates
// nothing per request, so a run's memory does not depend on -n.
func TestConstantMemory(t *testing.T) {
	url := fastServer(t, nginxLike)
	mallocs := func(n int64) uint64 {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		res, err := Run(context.Background(), Config{URL: url, Requests: n, Concurrency: 4, KeepAlive: true})
		runtime.ReadMemStats(&m1)
		if err != nil || res.Complete != n || res.Failed != 0 {
			t.Fatalf("run of %d: %v %+v", n, err, res)
		}
		return m1.Mallocs - m0.Mallocs
	}
	small, large := mallocs(2000), mallocs(22000)
	// The fast server allocates nothing per request either; allow a little noise
	// from the runtime and the timeline's one entry per second.
	if perReq := float64(int64(large)-int64(small)) / 20000; perReq > 0.01 {
		t.Errorf("%.3f allocations per request (%d for 2000 requests, %d for 22000)", perReq, small, large)
	}
}

// TestCaptureSurvivesLargeBody: captured header values are copied out of the read
// buffer before the body overwrites it.
func TestCaptureSurvivesLargeBody(t *testing.T) {
	body := strings.Repeat("0123456789", 10000) // 100 kB: many reads
	srv := newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		return respond(c, req, 200, body, fmt.Sprintf("X-Pid: pid-%d", req.Index), "X-App-Time-Us: 777")
	})
	seen := make(chan string, 10)
	res := mustRun(t, Config{URL: srv.URL("/"), Requests: 10, KeepAlive: true, CaptureHeaders: []string{"x-pid", "x-app-time-us"},
		OnResponse: func(r Response) {
			if r.CapturedString(1) != "777" {
				t.Errorf("x-app-time-us %q", r.Captured[1])
			}
			seen <- r.CapturedString(0)
		}})
	close(seen)
	i := 0
	for v := range seen {
		if v != fmt.Sprintf("pid-%d", i) {
			t.Errorf("request %d: x-pid %q", i, v)
		}
		i++
	}
	if res.DocumentLength != int64(len(body)) || i != 10 {
		t.Errorf("document length %d, %d hook calls", res.DocumentLength, i)
	}
}

// TestMalformedResponses: garbage instead of a response is an exception, which ab
// retries (it does not complete a request).
func TestMalformedResponses(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		if req.Index%2 == 1 {
			c.Write([]byte("SPDY/3 what\r\n\r\n"))
			return false
		}
		return respond(c, req, 200, helloBody)
	})
	res := mustRun(t, Config{URL: srv.URL("/"), Requests: 10, KeepAlive: true, MaxFailures: 100})
	expectCounts(t, res, 10, 9, FailureCounts{Exceptions: 9})
	if n := srv.requests.Load(); n != 19 {
		t.Errorf("server got %d requests, want 19 (10 good, 9 retried)", n)
	}
}

func TestHeaderTooLarge(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, req *rawRequest) bool {
		c.Write([]byte("HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", readBufSize) + "\r\n\r\n"))
		return false
	})
	res, err := run(t, Config{URL: srv.URL("/"), Requests: 1, MaxFailures: 2, Timeout: 5 * time.Second})
	if err == nil || res.Failures.Exceptions != 3 || res.Complete != 0 {
		t.Errorf("err %v failures %+v", err, res.Failures)
	}
}
