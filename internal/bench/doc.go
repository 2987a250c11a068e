// Package bench is wsgilab's load generator: ApacheBench's options, counting rules
// and report, wrk's speed (a lean HTTP/1.1 client over raw non-blocking sockets in
// epoll event loops, nothing allocated per request), exact-enough percentiles in constant memory (HDR
// histograms, no per-request storage), a per-second timeline and an open-loop
// constant-rate mode with coordinated-omission correction.
//
// `wsgilab bench` (Main) is the command; the lab's scenarios use the library:
//
//	res, err := bench.Run(ctx, bench.Config{
//		URL:            "http://127.0.0.1:8080/servers",
//		Duration:       30 * time.Second,
//		Concurrency:    10,
//		KeepAlive:      true,
//		CaptureHeaders: []string{"X-App-Time-Us", "X-Pid"},
//		OnResponse: func(r bench.Response) { // concurrent: synchronise
//			pid := r.CapturedString(1)
//			...
//		},
//	})
//	p99 := res.Histogram.Percentile(99)
//	for _, s := range res.Timeline { ... }
//
// Canceling ctx ends the run early: Run returns the partial Result (StopReason
// "canceled") with every connection closed and every goroutine it started gone.
//
// # Files
//
//   - config.go: Config, URL parsing, the request built once per run
//   - engine.go: Run, stopping, the watchdog for timeouts, assembling the Result
//   - loop_linux.go: the closed loop (ab's mode): epoll event loops running the
//     connections as state machines, wrk's design
//   - client.go, dial_linux.go: the open loop's client, one goroutine per connection;
//     the socket calls
//   - parse.go: response framing (status line, Content-Length, chunked)
//   - pacer.go: the open-loop schedule (Config.Rate)
//   - recorder.go: counts, histograms and the timeline, in constant memory
//   - result.go, response.go: Result (also the JSON output) and the per-request hook's Response
//   - report.go: ab's report, wsgilab's extra lines, ab's -e CSV
//   - options.go, cli.go: ab's command line and the command
//
// # JSON (--json FILE, Result.WriteJSON, ReadResult)
//
// The JSON is the Result struct marshalled; `wsgilab compare` and other commands read
// it with ReadResult. Durations are integer nanoseconds, in fields named *_ns.
//
//	url, method, host, port, path   the target (host/port/path as in ab's report)
//	concurrency, keep_alive         -c, -k
//	requests                        the -n asked for (0: none, duration-limited)
//	start                           RFC 3339 start time
//	elapsed_ns                      ab's "Time taken for tests"
//	stop_reason                     requests | duration | canceled | failures |
//	                                receive-error | connect-error
//	server_software                 first token of the first response's Server header
//	document_length                 body length of the first response (ab's rule)
//	variable_length                 -l
//	complete, failed                ab's "Complete requests", "Failed requests"
//	failures                        {connect, receive, length, exceptions, timeouts}
//	write_errors, non_2xx           ab's "Write errors", "Non-2xx responses"
//	status_codes                    {"200": n, ...} for completed requests
//	keep_alive_requests             ab's "Keep-Alive requests"
//	connections                     connections opened
//	total_transferred               bytes read, headers included (ab's "Total transferred")
//	html_transferred                body bytes (ab's "HTML transferred"; chunked: decoded)
//	total_sent, body_sent           request bytes written; whether requests had a body
//	throughput                      {requests_per_second, time_per_request_ms,
//	                                time_per_request_all_ms, transfer_rate_kbps}
//	connect, processing,            ab's Connection Times rows:
//	waiting, total                  {min_ns, mean_ns, sd_ns, median_ns, max_ns}
//	served                          ab's percentage table: [{percent, latency_ns}]
//	                                for 50 66 75 80 90 95 98 99 100
//	percentiles                     [{percentile, latency_ns}] for 50 90 99 99.9 99.99 100
//	histogram                       {unit: "ns", count, hdr}: total latency as an
//	                                HdrHistogram V2 compressed, base64 ("HISTF...");
//	                                hdrhistogram.Decode reads it
//	timeline                        per second of the run, by completion time:
//	                                [{second, completed, errors, non_2xx, p50_ns,
//	                                p99_ns, max_ns, sent}]
//	rate                            only with --rate: {target, achieved, intended, sent,
//	                                shortfall, max_backlog, max_lag_ns}
//
// See README.md for ab's counting rules as implemented, and where wsgilab departs
// from ab.
package bench
