package observe

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Lines of a real access log (apache.AccessLogFormat, Apache 2.4.71, prefork + embedded
// mod_wsgi, the spikes scenario): mod_status's readiness probe (no app: X-Pid and
// X-App-Time-Us "-"), the app's readiness requests, and requests of the spikes client, one a
// cold start (3.6 s of %D, 2 µs of app time).
const (
	accessStatus = `127.0.0.1 [02/Dec/2026:03:12:36 +0000] "GET /server-status?auto HTTP/1.1" 200 805 3628 31621 - -`
	accessRoot   = `127.0.0.1 [02/Dec/2026:03:12:36 +0000] "GET / HTTP/1.1" 200 3 1448032 31621 31621 2`
	accessCall   = `127.0.0.1 [02/Dec/2026:03:12:38 +0000] "GET /call HTTP/1.1" 200 69 1347650 31619 31619 290559`
	accessReq16  = `127.0.0.1 [02/Dec/2026:03:12:39 +0000] "GET /?wsgilab-req=1.6 HTTP/1.1" 200 3 428 31621 31621 10`
	accessCold   = `127.0.0.1 [02/Dec/2026:03:12:42 +0000] "GET /?wsgilab-req=2.4 HTTP/1.1" 200 3 3604567 31623 31623 2`
)

func TestParseAccessLine(t *testing.T) {
	e, ok := ParseAccessLine(accessCold)
	if !ok {
		t.Fatal("not parsed")
	}
	if e.Request != "GET /?wsgilab-req=2.4 HTTP/1.1" || e.URL != "/?wsgilab-req=2.4" || e.Status != 200 ||
		e.ApacheUs != 3604567 || e.ApachePID != 31623 || e.AppPID != 31623 || e.AppUs == nil || *e.AppUs != 2 ||
		!e.Time.Equal(time.Date(2026, 12, 2, 3, 12, 42, 0, time.UTC)) {
		t.Errorf("cold request: %+v", e)
	}
	// Without an app answer X-Pid and X-App-Time-Us are "-".
	e, ok = ParseAccessLine(accessStatus)
	if !ok || e.URL != "/server-status?auto" || e.AppPID != 0 || e.AppUs != nil || e.ApachePID != 31621 || e.ApacheUs != 3628 {
		t.Errorf("status request: %v %+v", ok, e)
	}
	// uWSGI's and gunicorn's lines in the same layout (as they wrote them here; gunicorn's %(p)s
	// is "<pid>").
	for line, pid := range map[string]int{
		`127.0.0.1 [02/Dec/2026:03:40:27 +0000] "GET /x?a=1 HTTP/1.1" 200 62 373 15035 - -`:                  15035,
		`127.0.0.1 [02/Dec/2026:03:40:43 +0000] "GET /x?a=1 HTTP/1.1" 200 3 1112 <15136> 15136 -`:            15136,
		`127.0.0.1 [02/Dec/2026:03:40:43 +0000] "GET /?wsgilab-req=1.2 HTTP/1.1" 200 3 1112 <15136> 15136 3`: 15136,
	} {
		if e, ok := ParseAccessLine(line); !ok || e.ApachePID != pid || e.ApacheUs == 0 {
			t.Errorf("%q: %v %+v", line, ok, e)
		}
	}
	for _, bad := range []string{
		"",
		`127.0.0.1 [02/Dec/2026:03:12:36 +0000] "GET / HTTP/1.1" 200 3`,                         // Apache's common format
		`127.0.0.1 [02/Dec/2026:03:12:36 +0000] "-" 408 - 12 31621 - -`,                         // no request line
		`127.0.0.1 [02/Dec/2026:03:12:36 +0000] "GET / HTTP/1.1" 200 3 1448032 31621 31621 2 x`, // trailing field
	} {
		if e, ok := ParseAccessLine(bad); ok {
			t.Errorf("%q parsed: %+v", bad, e)
		}
	}
}

// The probe returns what was appended since its last sample; a line Apache is still writing
// waits for the next sample, which returns it whole.
func TestAccessLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	ctx, now := context.Background(), time.Now()
	a := NewAccessLog(path, 0)
	defer a.Close()
	if v, _, err := a.Sample(ctx, now); v != nil || err != nil {
		t.Fatalf("before the file exists: %v, %v", v, err)
	}
	half := len(accessReq16) / 2
	writeFile(t, path, accessStatus+"\n"+accessRoot+"\n"+"not an access line\n"+accessCall+"\n"+accessReq16[:half])
	r := sampleAccess(t, a)
	if len(r.Entries) != 3 || r.Skipped != 1 || r.Entries[0].URL != "/server-status?auto" ||
		r.Entries[1].URL != "/" || r.Entries[2].URL != "/call" || r.Entries[2].AppUs == nil || *r.Entries[2].AppUs != 290559 {
		t.Fatalf("first sample: %+v", r)
	}
	if v, _, _ := a.Sample(ctx, now); v != nil {
		t.Errorf("nothing appended, got %+v", v)
	}
	appendTo(t, path, accessReq16[half:]+"\n"+accessCold+"\n")
	r = sampleAccess(t, a)
	if len(r.Entries) != 2 || r.Skipped != 0 || r.Entries[0].Request != "GET /?wsgilab-req=1.6 HTTP/1.1" ||
		r.Entries[0].ApacheUs != 428 || r.Entries[0].AppPID != 31621 || r.Entries[1].URL != "/?wsgilab-req=2.4" {
		t.Errorf("second sample (the partial line completed): %+v", r)
	}

	// From an offset: a cell sharing a log reads its own part.
	b := NewAccessLog(path, int64(len(accessStatus)+1))
	defer b.Close()
	if r := sampleAccess(t, b); len(r.Entries) != 4 || r.Entries[0].URL != "/" {
		t.Errorf("from the second line: %+v", r)
	}
}

// Through an Observer, the readings land in Tick.Processes and Tick.Access, JSON "processes"
// and "access".
func TestObserverProcessesAndAccess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	writeFile(t, path, accessReq16+"\n")
	n := 0
	procs := NewProcesses(func() []ProcessInfo {
		n++
		if n == 1 {
			return nil
		}
		return []ProcessInfo{{PID: 10, Role: "child"}, {PID: 11, Role: "wsgi-daemon"}}
	})
	o := New(Target{Cell: "c", Interval: 20 * time.Millisecond}, procs, NewAccessLog(path, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	o.Run(ctx)
	tl := o.Timeline()
	if len(tl.Ticks) < 2 {
		t.Fatalf("%d ticks", len(tl.Ticks))
	}
	first, second := tl.Ticks[0], tl.Ticks[1]
	if first.Processes == nil || first.Processes.Processes == nil || len(first.Processes.Processes) != 0 ||
		first.Access == nil || len(first.Access.Entries) != 1 || len(first.Other) != 0 {
		t.Errorf("first tick %+v", first)
	}
	if second.Processes == nil || len(second.Processes.Processes) != 2 || second.Access != nil {
		t.Errorf("second tick %+v", second)
	}
	b, err := json.Marshal(tl.Ticks[:2])
	if err != nil {
		t.Fatal(err)
	}
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if string(raw[0]["processes"]) != `{"processes":[]}` || string(raw[1]["processes"]) != `{"processes":[{"pid":10,"role":"child"},{"pid":11,"role":"wsgi-daemon"}]}` {
		t.Errorf("processes JSON: %s, %s", raw[0]["processes"], raw[1]["processes"])
	}
	want := `{"entries":[{"t":"2026-12-02T03:12:39Z","request":"GET /?wsgilab-req=1.6 HTTP/1.1","url":"/?wsgilab-req=1.6","status":200,"apache_us":428,"apache_pid":31621,"app_pid":31621,"app_us":10}]}`
	if string(raw[0]["access"]) != want {
		t.Errorf("access JSON:\n got %s\nwant %s", raw[0]["access"], want)
	}
	if _, ok := raw[1]["access"]; ok {
		t.Errorf("a tick without new lines has an access reading")
	}
	var back []Tick
	if err := json.Unmarshal(b, &back); err != nil || back[0].Access.Entries[0].ApacheUs != 428 || back[1].Processes.Processes[1].PID != 11 {
		t.Errorf("round trip: %v %+v", err, back)
	}
}

func sampleAccess(t *testing.T, a *AccessLog) *AccessReading {
	t.Helper()
	v, ev, err := a.Sample(context.Background(), time.Now())
	if err != nil || len(ev) != 0 {
		t.Fatalf("sample: %v, events %v", err, ev)
	}
	r, ok := v.(*AccessReading)
	if !ok {
		t.Fatalf("reading %T %v", v, v)
	}
	return r
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}
