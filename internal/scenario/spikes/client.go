package spikes

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"wsgilab/internal/runner"
)

// The spikes scenario's client side: one request per connection with an id Apache logs in the
// access log, which the analysis joins on (what Apache and the processes did is observed by
// the cell's observe.Observer).

// reqParam is the query parameter that carries each request's id into Apache's access log
// ("%r"), which is how %D is joined to the client's record exactly: the load generator of
// internal/bench sends the same bytes every time, and X-Pid + X-App-Time-Us repeat (the app's
// time of "/" is a microsecond or two).
const reqParam = "wsgilab-req"

// spikeClient sends one request per connection, like a load balancer without keep-alive:
// a keep-alive connection would pin a prefork child and hide the respawns.
type spikeClient struct {
	addr, host string
	timeout    time.Duration
}

// burst sends plan.Requests requests with plan.Concurrency in flight and returns them in
// sequence order.
func (c spikeClient) burst(ctx context.Context, plan Plan, burst int) []Request {
	out := make([]Request, plan.Requests)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range plan.Concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= plan.Requests || ctx.Err() != nil {
					return
				}
				id := strconv.Itoa(burst) + "." + strconv.Itoa(i+1)
				out[i] = c.get(ctx, plan.Path, id)
				out[i].Burst, out[i].Seq = burst, i+1
			}
		})
	}
	wg.Wait()
	// Requests never sent (interrupted) are dropped.
	return slices.DeleteFunc(out, func(r Request) bool { return r.start.IsZero() })
}

func (c spikeClient) get(ctx context.Context, path, id string) (r Request) {
	r.id = id
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	req := "GET " + path + sep + reqParam + "=" + id + " HTTP/1.1\r\nHost: " + c.host +
		"\r\nUser-Agent: wsgilab-spikes\r\nAccept: */*\r\nConnection: close\r\n\r\n"
	r.start = time.Now()
	defer func() {
		r.end = time.Now()
		r.LatencyMs = runner.Millis(r.end.Sub(r.start))
	}()
	d := net.Dialer{Timeout: c.timeout}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer conn.Close()
	// An interrupted run must not wait for a cold start to finish.
	defer context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })()
	r.ConnectMs = runner.Millis(time.Since(r.start))
	conn.SetDeadline(r.start.Add(c.timeout))
	if _, err := io.WriteString(conn, req); err != nil {
		r.Error = err.Error()
		return r
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r.Status = resp.StatusCode
	if err != nil {
		r.Error = err.Error()
	}
	if pid, err := strconv.Atoi(resp.Header.Get("X-Pid")); err == nil {
		r.PID = pid
	}
	if us, err := strconv.ParseFloat(resp.Header.Get("X-App-Time-Us"), 64); err == nil {
		v := us / 1000
		r.AppMs = &v
	}
	return r
}

// requestID is the id the client put in a request's target (the reqParam query parameter, the
// last one when it appears twice), "" for a request without one (readiness probes).
func requestID(url string) string {
	_, query, ok := strings.Cut(url, "?")
	if !ok {
		return ""
	}
	id := ""
	for _, kv := range strings.Split(query, "&") {
		if v, ok := strings.CutPrefix(kv, reqParam+"="); ok {
			id = v
		}
	}
	return id
}
