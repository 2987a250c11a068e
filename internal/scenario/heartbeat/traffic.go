package heartbeat

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"wsgilab/internal/bench"
	"wsgilab/internal/runner"
)

// Traffic is what one burst of requests (warm-up or probe) saw from the client side.
//
// JSON:
//
//	{"paths": ["/cast", "/call"], "requests": 24, "errors": 0, "non_2xx": 0,
//	 "first": "...", "last": "...",           first request sent, last response received
//	 "pids": [4242, 4243],                    service processes that answered (X-Pid)
//	 "p50_ms": 3.1, "max_ms": 41.7,
//	 "first_per_pid_ms": {"4242": 41.7},      latency of each process's first request in this burst
//	 "error": ""}                             why the load generator stopped early, if it did
type Traffic struct {
	Paths         []string           `json:"paths"`
	Requests      int64              `json:"requests"`
	Errors        int64              `json:"errors"`
	Non2xx        int64              `json:"non_2xx"`
	First         time.Time          `json:"first"`
	Last          time.Time          `json:"last"`
	PIDs          []int              `json:"pids"`
	P50Ms         float64            `json:"p50_ms"`
	MaxMs         float64            `json:"max_ms"`
	FirstPerPIDMs map[string]float64 `json:"first_per_pid_ms,omitempty"`
	Error         string             `json:"error,omitempty"`
}

// burst sends requests to every path of the plan at once, each with the plan's concurrency and
// without keep-alive so that Apache hands each request to whichever process accepts it. A
// path's load stops once every one of wantPIDs distinct service processes has answered it and
// MinRequests completed, or after MaxRequests, or at BurstLimit. Covering every process on every path matters: each
// mod_wsgi process holds its own AMQP connections (a cast's and a call's with its reply
// queue), and a connection the burst misses would have gone silent earlier than the others.
func burst(ctx context.Context, url string, plan Plan, wantPIDs int) Traffic {
	t := Traffic{Paths: plan.Paths, FirstPerPIDMs: map[string]float64{}}
	if plan.BurstLimit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, plan.BurstLimit)
		defer cancel()
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		allSeen   = map[int]bool{}
		errs      []string
		wg        sync.WaitGroup
	)
	for _, path := range plan.Paths {
		wg.Go(func() {
			seen := map[int]bool{}
			ok := 0
			// Rounds of doubling concurrency: Apache and mod_wsgi hand connections to the
			// process that accepts first, and one process that keeps up can take them all
			// (the kernel wakes the most recent waiter); more requests in flight than one
			// process has slots forces the others to take some.
			for round := 0; round < burstRounds && ctx.Err() == nil; round++ {
				mu.Lock()
				done := len(seen) >= wantPIDs && ok >= plan.MinRequests
				mu.Unlock()
				if done {
					return
				}
				pctx, cancel := context.WithCancel(ctx)
				cfg := bench.Config{
					URL:            url + path,
					Requests:       int64(plan.MaxRequests),
					Concurrency:    plan.Concurrency << min(round, burstDoublings),
					Timeout:        plan.RequestTimeout,
					CaptureHeaders: []string{"X-Pid"},
					OnResponse: func(r bench.Response) {
						mu.Lock()
						defer mu.Unlock()
						if t.First.IsZero() || r.Start.Before(t.First) {
							t.First = r.Start
						}
						if end := r.Start.Add(r.Latency); end.After(t.Last) {
							t.Last = end
						}
						t.Requests++
						if r.Failure != bench.NoFailure || r.Err != nil {
							t.Errors++
							return
						}
						if r.Status < 200 || r.Status > 299 {
							t.Non2xx++
						}
						ok++
						latencies = append(latencies, r.Latency)
						if pid, err := strconv.Atoi(r.CapturedString(0)); err == nil {
							seen[pid] = true
							if !allSeen[pid] {
								allSeen[pid] = true
								t.FirstPerPIDMs[strconv.Itoa(pid)] = runner.Millis(r.Latency)
							}
						}
						if len(seen) >= wantPIDs && ok >= plan.MinRequests {
							cancel()
						}
					},
				}
				_, err := bench.Run(pctx, cfg)
				cancel()
				mu.Lock()
				switch {
				case err != nil && pctx.Err() == nil:
					errs = append(errs, path+": "+err.Error())
				case ctx.Err() == context.DeadlineExceeded:
					errs = append(errs, fmt.Sprintf("%s: stopped after %s with %d of %d processes answered", path, plan.BurstLimit, len(seen), wantPIDs))
				}
				mu.Unlock()
				if err != nil && pctx.Err() == nil {
					return
				}
			}
		})
	}
	wg.Wait()
	t.Error = strings.Join(errs, "; ")
	for pid := range allSeen {
		t.PIDs = append(t.PIDs, pid)
	}
	slices.Sort(t.PIDs)
	if len(latencies) > 0 {
		slices.Sort(latencies)
		t.P50Ms = runner.Millis(latencies[len(latencies)/2])
		t.MaxMs = runner.Millis(latencies[len(latencies)-1])
	}
	return t
}

// A burst doubles its concurrency burstDoublings times to reach every process, then goes on at
// that concurrency for the rest of its burstRounds: on a loaded machine (the suite under two
// busy loops) a process still reconnecting after a drop missed four rounds that the other
// process served in full, and answered only later.
const (
	burstDoublings = 3
	burstRounds    = 8
)
