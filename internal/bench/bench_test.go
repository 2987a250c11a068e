package bench

import (
	"context"
	"testing"
	"time"
)

// Speed is measured here and by scripts/bench-peers.sh, never asserted in tests.
// The in-process server shares the CPU with the client, so compare these numbers
// with each other (before/after a change), not with wrk.

func benchmarkRun(b *testing.B, keepAlive bool, conc int) {
	url := fastServer(b, nginxLike)
	if !keepAlive {
		url = fastServerClosing(b)
	}
	b.ReportAllocs()
	b.ResetTimer()
	res, err := Run(context.Background(), Config{URL: url, Requests: int64(max(b.N, conc)), Concurrency: conc, KeepAlive: keepAlive})
	b.StopTimer()
	if err != nil || res.Failed != 0 {
		b.Fatalf("%v %+v", err, res.Failures)
	}
	b.ReportMetric(res.Throughput.RequestsPerSecond, "req/s")
}

func BenchmarkKeepAlive1(b *testing.B)  { benchmarkRun(b, true, 1) }
func BenchmarkKeepAlive50(b *testing.B) { benchmarkRun(b, true, 50) }
func BenchmarkNoKeepAlive50(b *testing.B) {
	benchmarkRun(b, false, 50)
}

// fastServerClosing is a net/http-free server for the no-keep-alive benchmark: one
// response per connection, then close (server first, as a real server does).
func fastServerClosing(b *testing.B) string {
	rs := newRawServer(b, func(c netConn, req *rawRequest) bool {
		c.Write([]byte(nginxLike))
		return false
	})
	return rs.URL("/")
}

func BenchmarkParseHead(b *testing.B) {
	hdr := []byte(nginxLike[:len(nginxLike)-269])
	var h respHead
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := parseHead(hdr, false, nil, nil, false, &h); err != nil || h.contentLength != 269 {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecord(b *testing.B) {
	n, _ := (&Config{URL: "http://127.0.0.1/", Requests: 1}).normalize()
	r := newRecorder(n)
	s := sample{end: 1000, endWrite: 10, firstByte: 900, status: 200, body: 269, read: 500, keepAlive: true}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.end = 1000 + time.Duration(i)
		r.record(&s)
	}
}
