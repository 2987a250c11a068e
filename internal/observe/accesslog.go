package observe

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// AccessEntry is one line of Apache's access log in apache.AccessLogFormat,
// `%h %t "%r" %>s %b %D %P %{X-Pid}o %{X-App-Time-Us}o`.
//
// JSON:
//
//	{"t": "2026-12-02T03:12:39Z",              %t: when Apache received the request (to the second)
//	 "request": "GET /?wsgilab-req=1.6 HTTP/1.1",   %r, the request line
//	 "url": "/?wsgilab-req=1.6",               its target, query string included
//	 "status": 200,                            %>s
//	 "apache_us": 428,                         %D: Apache's time for the request, in microseconds
//	 "apache_pid": 31621,                      %P: the Apache child that took the connection
//	 "app_pid": 31621,                         X-Pid: the app's process (absent for "-": no app answer)
//	 "app_us": 10}                             X-App-Time-Us: the app's own time (absent for "-")
type AccessEntry struct {
	Time      time.Time `json:"t,omitzero"`
	Request   string    `json:"request"`
	URL       string    `json:"url"`
	Status    int       `json:"status"`
	ApacheUs  int64     `json:"apache_us"`
	ApachePID int       `json:"apache_pid"`
	AppPID    int       `json:"app_pid,omitempty"`
	AppUs     *float64  `json:"app_us,omitempty"`
}

// AccessReading is what one sample found appended to the access log (Tick.Access).
//
// JSON:
//
//	{"entries": [AccessEntry, ...],   in the log's order
//	 "skipped": 0}                    lines not in apache.AccessLogFormat (omitted when 0)
type AccessReading struct {
	Entries []AccessEntry `json:"entries"`
	Skipped int           `json:"skipped,omitempty"`
}

// AccessLog is the probe of Apache's access log: on every Sample it reads the lines appended
// since the last one (a line still being written is kept for the next sample) and returns
// them as an *AccessReading, or no reading when nothing was appended. Like LogTail it starts
// at an offset, waits for the file to appear, and starts over on a rotated or truncated file.
type AccessLog struct {
	tf *tailedFile
}

// NewAccessLog tails the access log at path from offset (0: the whole log).
func NewAccessLog(path string, offset int64) *AccessLog {
	return &AccessLog{tf: &tailedFile{LogFile: LogFile{Path: path, Source: "apache", Offset: offset}, offset: offset}}
}

func (a *AccessLog) Name() string { return "access_log" }

// Sample returns the entries appended since the last sample. A file that does not exist yet
// is not an error.
func (a *AccessLog) Sample(_ context.Context, _ time.Time) (any, []Event, error) {
	lines, err := a.tf.readLines()
	if err != nil {
		err = fmt.Errorf("%s: %w", a.tf.Path, err)
	}
	if len(lines) == 0 {
		return nil, nil, err
	}
	r := &AccessReading{Entries: []AccessEntry{}}
	for _, ln := range lines {
		if ln == "" {
			continue
		}
		e, ok := ParseAccessLine(ln)
		if !ok {
			r.Skipped++
			continue
		}
		r.Entries = append(r.Entries, e)
	}
	return r, nil, err
}

// Close closes the file.
func (a *AccessLog) Close() error {
	if a.tf.f != nil {
		a.tf.f.Close()
		a.tf.f = nil
	}
	return nil
}

// accessLineRE parses apache.AccessLogFormat: host, [time], "method target protocol", status,
// bytes, %D, %P, X-Pid, X-App-Time-Us. uWSGI and gunicorn are configured to write the same
// layout (internal/server); gunicorn prints the process as "<pid>".
var accessLineRE = regexp.MustCompile(`^\S+ \[([^\]]*)\] "(\S+ (\S+)[^"]*)" (\d{3}) \S+ (\d+) <?(\d+)>? (\S+) (\S+)$`)

// ParseAccessLine reads one access-log line in apache.AccessLogFormat; false when the line is
// not in that format. X-Pid "-" leaves AppPID 0, X-App-Time-Us "-" leaves AppUs nil.
func ParseAccessLine(line string) (AccessEntry, bool) {
	m := accessLineRE.FindStringSubmatch(line)
	if m == nil {
		return AccessEntry{}, false
	}
	e := AccessEntry{Request: m[2], URL: m[3]}
	e.Time, _ = time.Parse("02/Jan/2006:15:04:05 -0700", m[1])
	e.Status, _ = strconv.Atoi(m[4])
	e.ApacheUs, _ = strconv.ParseInt(m[5], 10, 64)
	e.ApachePID, _ = strconv.Atoi(m[6])
	e.AppPID, _ = strconv.Atoi(m[7])
	if v, err := strconv.ParseFloat(m[8], 64); err == nil {
		e.AppUs = &v
	}
	return e, true
}
