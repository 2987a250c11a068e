package failover

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"wsgilab/internal/runner"
)

// The failover scenario's client: an open loop of /cast and /call requests, each with an id of
// its own (?id=N) that the fake service passes to the conductor, which records every id it
// receives. internal/bench's open loop sends the same bytes every time (it renders the request
// once, for speed), so this small loop does it instead: at a few requests per second its cost
// does not matter, and each request's record (sent, latency, status, process, error) is what
// the analysis joins with the conductor's.

// Paths the traffic mixes: a cast (fire and forget: the service answers once the
// message is handed to the driver) and a call (a round trip through the broker and the
// conductor).
const (
	PathCast = "/cast"
	PathCall = "/call"
)

// Request is one request as the client saw it.
//
// JSON:
//
//	{"id": "17", "path": "/call",
//	 "sent": "...",               when it was due (open loop: its scheduled time, whatever the service did)
//	 "latency_ms": 3.1,           from sent to the end of the response, or to the error
//	 "status": 200,               0 when there was no response
//	 "pid": 4242,                 the app process that answered (X-Pid)
//	 "timed_out": false,          the client gave up after the request timeout
//	 "error": "",                 no response: why; a non-2xx: the first line of its body
//	                              (the app's exception, e.g. "MessagingTimeout: Timed out waiting for a reply ...")
//	}
type Request struct {
	ID        string    `json:"id"`
	Path      string    `json:"path"`
	Sent      time.Time `json:"sent"`
	LatencyMs float64   `json:"latency_ms"`
	Status    int       `json:"status,omitempty"`
	PID       int       `json:"pid,omitempty"`
	TimedOut  bool      `json:"timed_out,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// OK says the service answered 2xx.
func (r Request) OK() bool { return r.Status >= 200 && r.Status < 300 }

// End is when the response (or the error) came.
func (r Request) End() time.Time {
	return r.Sent.Add(time.Duration(r.LatencyMs * float64(time.Millisecond)))
}

// MessagingTimeout says the service answered that the RPC call got no reply in time.
func (r Request) MessagingTimeout() bool { return strings.HasPrefix(r.Error, "MessagingTimeout") }

// traffic is the open loop of one cell.
type traffic struct {
	url     string
	rate    float64
	timeout time.Duration
	client  *http.Client
	// abort ends the requests in flight (the run was interrupted); stopping the loop does not.
	abort context.Context

	mu   sync.Mutex
	reqs []Request
	wg   sync.WaitGroup
}

// newTraffic is the open loop of one cell against url; abort ending ends the requests in flight.
func newTraffic(abort context.Context, url string, rate float64, timeout time.Duration) *traffic {
	// One connection per request, as a load balancer without keep-alive would: a kept
	// connection would tie the client to one Apache child.
	tr := &http.Transport{DisableKeepAlives: true, MaxIdleConns: -1}
	return &traffic{url: url, rate: rate, timeout: timeout, client: &http.Client{Transport: tr}, abort: abort}
}

// run sends requests on schedule until ctx ends: request i is due at start + i/rate, with id
// i, to /cast or /call at random (half each, the same sequence in every cell). Not strictly
// alternating: the mod_wsgi daemon processes take turns accepting, so with two of them one
// would get every cast and the other every call. Requests in flight when ctx ends go on: wait
// returns when they are done (each ends by its timeout at the latest).
func (t *traffic) run(ctx context.Context, start time.Time) {
	every := time.Duration(float64(time.Second) / t.rate)
	paths := rand.New(rand.NewPCG(9, 2019)) // seed 002's year: any fixed seed will do
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * every)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(due)):
		}
		path := PathCast
		if paths.IntN(2) == 1 {
			path = PathCall
		}
		t.wg.Go(func() { t.add(t.do(path, strconv.Itoa(i), due)) })
	}
}

func (t *traffic) add(r Request) {
	t.mu.Lock()
	t.reqs = append(t.reqs, r)
	t.mu.Unlock()
}

// completed returns the requests answered (or failed) so far, in the order they were sent.
func (t *traffic) completed() []Request {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]Request(nil), t.reqs...)
	sortRequests(out)
	return out
}

// wait returns every request once none is in flight, in the order they were sent.
func (t *traffic) wait() []Request {
	t.wg.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]Request(nil), t.reqs...)
	sortRequests(out)
	return out
}

// do sends one request. Stopping the loop does not end it: a request already sent is seen
// through to its response or its timeout, as a real client's would be, so that every id the
// client sent has an outcome; only an interrupted run (abort) cuts it short.
func (t *traffic) do(path, id string, due time.Time) (r Request) {
	r = Request{ID: id, Path: path, Sent: due}
	ctx, cancel := context.WithDeadline(t.abort, due.Add(t.timeout))
	defer cancel()
	defer func() { r.LatencyMs = runner.Millis(time.Since(due)) }()
	req, err := http.NewRequestWithContext(ctx, "GET", t.url+path+"?id="+id, nil)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	resp, err := t.client.Do(req)
	if err != nil {
		r.TimedOut = errors.Is(err, context.DeadlineExceeded)
		r.Error = err.Error()
		if r.TimedOut {
			r.Error = "no response within " + t.timeout.String()
		}
		return r
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	r.Status = resp.StatusCode
	r.PID, _ = strconv.Atoi(resp.Header.Get("X-Pid"))
	switch {
	case err != nil:
		r.TimedOut = errors.Is(err, context.DeadlineExceeded)
		r.Error = "reading the response: " + err.Error()
	case !r.OK():
		line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
		r.Error = line
	}
	return r
}
