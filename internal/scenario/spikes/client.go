package spikes

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"wsgilab/internal/runner"
)

// The spikes scenario's client side and its readers of what Apache recorded: one request per
// connection with an id Apache logs, the access and error logs, and the process sampler.

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

// accessEntry is one line of the access log (apache.AccessLogFormat).
type accessEntry struct {
	status    int
	apacheUs  int64
	apachePID int
	appPID    int     // X-Pid, 0 for "-"
	appUs     float64 // X-App-Time-Us, -1 for "-"
}

// accessLineRE parses `%h %t "%r" %>s %b %D %P %{X-Pid}o %{X-App-Time-Us}o`.
var accessLineRE = regexp.MustCompile(`^\S+ \[[^\]]*\] "\S+ (\S+)[^"]*" (\d{3}) \S+ (\d+) (\d+) (\S+) (\S+)$`)

// readAccessLog returns the access log's entries by request id (lines without one, like
// readiness probes, are skipped).
func readAccessLog(path string) (map[string]accessEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]accessEntry{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := accessLineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		_, query, ok := strings.Cut(m[1], "?")
		if !ok {
			continue
		}
		id := ""
		for _, kv := range strings.Split(query, "&") {
			if v, ok := strings.CutPrefix(kv, reqParam+"="); ok {
				id = v
			}
		}
		if id == "" {
			continue
		}
		e := accessEntry{appUs: -1}
		e.status, _ = strconv.Atoi(m[2])
		e.apacheUs, _ = strconv.ParseInt(m[3], 10, 64)
		e.apachePID, _ = strconv.Atoi(m[4])
		e.appPID, _ = strconv.Atoi(m[5])
		if v, err := strconv.ParseFloat(m[6], 64); err == nil {
			e.appUs = v
		}
		out[id] = e
	}
	return out, sc.Err()
}

// procInfo is one process of a cell at one sample.
type procInfo struct {
	pid  int
	role string
}

// procSampler records which of the cell's processes are alive, every interval: /proc is read
// directly, since an HTTP status probe would take a prefork child for itself.
type procSampler struct {
	list    func() []procInfo
	mu      sync.Mutex
	samples []procSample
}

type procSample struct {
	t     time.Time
	procs []procInfo
}

func newProcSampler(list func() []procInfo) *procSampler { return &procSampler{list: list} }

func (s *procSampler) sample() {
	procs := s.list()
	s.mu.Lock()
	s.samples = append(s.samples, procSample{t: time.Now(), procs: procs})
	s.mu.Unlock()
}

func (s *procSampler) run(ctx context.Context, every time.Duration) {
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			s.sample()
			return
		case <-tk.C:
			s.sample()
		}
	}
}

// procHistory is what the sampler saw, for the analysis.
type procHistory struct {
	appRole string
	samples []procSample
}

func (s *procSampler) snapshot(appRole string) procHistory {
	s.mu.Lock()
	defer s.mu.Unlock()
	return procHistory{appRole: appRole, samples: slices.Clone(s.samples)}
}

// appAlive is how many app processes the sample holds.
func (h procHistory) appAlive(p procSample) int {
	n := 0
	for _, q := range p.procs {
		if q.role == h.appRole {
			n++
		}
	}
	return n
}
