package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"wsgilab/internal/testsupport"
)

// fixedResult is a Result with known figures, built by recording samples so that
// the summaries and tables are computed the way a run computes them.
func fixedResult(t *testing.T) *Result {
	t.Helper()
	n, err := (&Config{URL: "http://example.test:8080/app/status?full=1", Requests: 1000, Concurrency: 10, KeepAlive: true}).normalize()
	if err != nil {
		t.Fatal(err)
	}
	e := &engine{cfg: n, rec: newRecorder(n), base: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), reason: "requests"}
	e.server = "Apache/2.4.71"
	for i := 0; i < 1000; i++ {
		// latencies from 0.2 ms to ~50 ms, a few slow ones; connects on 10 of them
		lat := time.Duration(200+(i*37)%4000) * time.Microsecond
		if i%100 == 99 {
			lat = time.Duration(20+i/100) * time.Millisecond
		}
		var conn time.Duration
		if i < 10 {
			conn = time.Duration(100+i) * time.Microsecond
		}
		start := time.Duration(i) * 2 * time.Millisecond
		s := sample{ref: start, start: start, connect: conn, endWrite: start + conn + 10*time.Microsecond,
			firstByte: start + lat - 50*time.Microsecond, end: start + lat, status: 200, body: 269, read: 507, sent: 90, keepAlive: true}
		switch {
		case i%250 == 7:
			s.status = 503
		case i%333 == 5:
			s.body, s.failure, s.truncated = 100, FailLength, true
		}
		e.rec.record(&s)
	}
	for i := 0; i < 3; i++ {
		e.rec.record(&sample{failure: FailConnect, end: time.Duration(i) * time.Millisecond})
	}
	e.rec.record(&sample{failure: FailException, timeout: true, end: 1500 * time.Millisecond})
	return e.result()
}

func TestReportGolden(t *testing.T) {
	res := fixedResult(t)
	for _, tc := range []struct {
		file string
		opt  ReportOptions
	}{
		{"report.golden", ReportOptions{}},
		{"report-S-d.golden", ReportOptions{NoConfidence: true, NoPercentiles: true}},
		{"report-timeline.golden", ReportOptions{Timeline: true}},
	} {
		var b bytes.Buffer
		if err := WriteReport(&b, res, tc.opt); err != nil {
			t.Fatal(err)
		}
		testsupport.Golden(t, tc.file, b.Bytes())
	}
	var csv bytes.Buffer
	if err := WriteCSV(&csv, res); err != nil {
		t.Fatal(err)
	}
	testsupport.Golden(t, "percentiles.csv.golden", csv.Bytes())
}

func TestReportRateGolden(t *testing.T) {
	res := fixedResult(t)
	res.Rate = &RateStats{Target: 500, Achieved: 480.25, Intended: 1000, Sent: 960, Shortfall: 40, MaxBacklog: 12, MaxLag: 23456 * time.Microsecond}
	var b bytes.Buffer
	if err := WriteReport(&b, res, ReportOptions{}); err != nil {
		t.Fatal(err)
	}
	testsupport.Golden(t, "report-rate.golden", b.Bytes())
}

// TestReportLayoutLive checks the layout of a real run's report, numbers masked,
// against the layout of ab's report (testdata/report-layout.golden).
func TestReportLayoutLive(t *testing.T) {
	srv := newRawServer(t, func(c netConn, req *rawRequest) bool {
		if req.Index%5 == 3 {
			return respond(c, req, 404, "missing")
		}
		return respond(c, req, 200, "present")
	})
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"-k", "-n", "200", "-c", "4", srv.URL("/page")}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	// Numbers and the padding before them vary from run to run; the labels, their
	// order and the lines present must not.
	// ab's sanity warnings depend on the timing of this run: leave them out.
	report := regexp.MustCompile(`(?m)^(ERROR|WARNING): The median.*\n.*\n`).ReplaceAllString(out.String(), "")
	masked := regexp.MustCompile(` *[0-9]+(\.[0-9]+)?`).ReplaceAllString(report, " N")
	testsupport.Golden(t, "report-layout.golden", []byte(masked))
	// ab's progress lines, on stderr: every 10% (at least 100) above 150 requests.
	if got := errb.String(); got != "Completed 100 requests\nCompleted 200 requests\nFinished 200 requests\n" {
		t.Errorf("stderr %q", got)
	}
}

func TestCSVRule(t *testing.T) {
	res := fixedResult(t)
	var b bytes.Buffer
	WriteCSV(&b, res)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 102 || lines[0] != "Percentage served,Time in ms" {
		t.Fatalf("%d lines, header %q", len(lines), lines[0])
	}
	prev := -1.0
	for i, l := range lines[1:] {
		p, v, _ := strings.Cut(l, ",")
		ms, err := strconv.ParseFloat(v, 64)
		if p != strconv.Itoa(i) || err != nil || ms < prev {
			t.Fatalf("line %q after %v", l, prev)
		}
		prev = ms
	}
	if lines[1] != "0,"+strconv.FormatFloat(abMsFloat(res.Total.Min), 'f', 3, 64) ||
		lines[101] != "100,"+strconv.FormatFloat(abMsFloat(res.Total.Max), 'f', 3, 64) {
		t.Errorf("ends %q %q, want min %v max %v", lines[1], lines[101], res.Total.Min, res.Total.Max)
	}
}

func TestABRounding(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int64
	}{{0, 0}, {499 * time.Microsecond, 0}, {500 * time.Microsecond, 1}, {1499999 * time.Nanosecond, 1}, {1500 * time.Microsecond, 2}} {
		if got := abMs(c.d); got != c.want {
			t.Errorf("abMs(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}

func TestValueAtIndexMatchesBuckets(t *testing.T) {
	h := newHistogram()
	vals := []int64{1, 7, 2047, 2048, 2049, 5000, 123456, 999999, 1e6, 5e7, 3e9}
	for _, v := range vals {
		h.RecordValue(v)
	}
	for i, v := range vals {
		got := valueAtIndex(h, int64(i))
		if !h.ValuesAreEquivalent(got, v) {
			t.Errorf("index %d: %d is not in %d's bucket", i, got, v)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	res := fixedResult(t)
	var b bytes.Buffer
	if err := res.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	// The documented top-level fields are there (other commands read them).
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b.Bytes(), &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"url", "elapsed_ns", "complete", "failed", "failures", "non_2xx", "throughput", "total",
		"served", "percentiles", "histogram", "timeline", "status_codes", "keep_alive_requests"} {
		if _, ok := top[k]; !ok {
			t.Errorf("JSON has no %q", k)
		}
	}
	back, err := ReadResult(&b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Complete != res.Complete || back.Failures != res.Failures || back.Total != res.Total ||
		back.Histogram.Count() != res.Histogram.Count() || len(back.Timeline) != len(res.Timeline) ||
		back.Histogram.Percentile(99) != res.Histogram.Percentile(99) || back.StatusCodes[503] != res.StatusCodes[503] {
		t.Errorf("round trip lost data:\n%+v\n%+v", back, res)
	}
}
