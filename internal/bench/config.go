package bench

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config describes one load run. The zero value of every optional field means what
// ab does by default; only URL is required.
type Config struct {
	// URL is the target, "http://host[:port]/path?query" (the scheme may be omitted,
	// as with ab). Only plain HTTP is supported.
	URL string

	// Requests is the number of requests to complete (ab -n). 0 means no limit, in
	// which case Duration (or the context) ends the run. In a closed-loop run,
	// requests that fail without completing (connect errors, timeouts) are retried
	// and do not count, as in ab; with Rate every scheduled request counts once.
	Requests int64
	// Concurrency is the number of connections working at once (ab -c). With Rate it
	// is the bound on requests in flight; 0 then means a bound derived from the rate.
	// 0 otherwise means 1.
	Concurrency int
	// Duration ends the run after this long (ab -t, --duration). Requests still in
	// flight at that moment are abandoned and not counted.
	Duration time.Duration
	// Timeout is how long one request may take from its start to the end of its
	// response (ab -s). 0 means 30s, as in ab; negative means no timeout.
	Timeout time.Duration

	// KeepAlive reuses connections (ab -k). Without it every request opens a new
	// connection and asks the server to close it.
	KeepAlive bool
	// Method defaults to GET, or POST when Body is set.
	Method string
	// Headers are added to every request. Host, User-Agent and Accept given here
	// replace the defaults, as ab's -H does.
	Headers http.Header
	// Body is sent with every request (ab -p / -u), with ContentType (default
	// "text/plain", as ab) and a Content-Length.
	Body        []byte
	ContentType string

	// Rate switches to an open loop (--rate): requests are scheduled at this many per
	// second whatever the server does, and each latency is measured from its
	// scheduled send time, so a stalled server shows up as latency instead of as
	// fewer samples (coordinated omission corrected, as wrk2 does). When every
	// connection is busy, due requests wait (the backlog) instead of opening more
	// connections.
	Rate float64

	// VariableLength accepts responses of different lengths (ab -l); otherwise a
	// response whose body length differs from the first one counts as a failed
	// request ("Length"), as in ab.
	VariableLength bool
	// StopOnReceiveError ends the run at the first socket receive error (a reset),
	// as ab does without -r. Otherwise such requests are counted as failed
	// ("Receive") and the run goes on.
	StopOnReceiveError bool
	// MaxFailures ends the run with ErrTooManyFailures once more than this many
	// requests have failed without completing (connect errors, timeouts, exceptions),
	// which is how ab gives up on a dead server ("Test aborted after 10 failures").
	// 0 means no limit.
	MaxFailures int64

	// CaptureHeaders names response headers whose values are passed to OnResponse
	// (e.g. "X-App-Time-Us", "X-Pid").
	CaptureHeaders []string
	// RawHeaders passes each response's raw header block to OnResponse (for -v).
	RawHeaders bool
	// OnResponse, when set, is called once per request (completed or failed), from the
	// goroutine running the connection (in the closed loop, an event loop that runs
	// many connections) and concurrently with other calls: it must be safe for
	// concurrent use and quick, since it runs on the measuring path and delays the
	// connections behind it. The Response and the slices in it are only valid during
	// the call. When nil it costs nothing.
	OnResponse func(Response)

	// ProgressEvery and Progress report the count of completed requests each time it
	// reaches a multiple of ProgressEvery (ab's "Completed N requests").
	ProgressEvery int64
	Progress      func(completed int64)
}

// DefaultTimeout is ab's default for -s.
const DefaultTimeout = 30 * time.Second

// MaxConcurrency is ab's limit for -c.
const MaxConcurrency = 20000

// ConfigError is returned by Run for a Config it cannot run.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

// target is the parsed URL.
type target struct {
	host       string // as given: name or address (without brackets)
	port       int
	hostHeader string // host[:port] for the Host header
	path       string // path and query, as sent
}

// parseTarget accepts what ab accepts ("[http://]host[:port]/path") plus a missing
// path, which means "/".
func parseTarget(raw string) (target, error) {
	var t target
	s := strings.TrimSpace(raw)
	if s == "" {
		return t, &ConfigError{"invalid URL: empty"}
	}
	if i := strings.Index(s, "://"); i >= 0 {
		scheme := strings.ToLower(s[:i])
		if scheme != "http" {
			return t, &ConfigError{fmt.Sprintf("unsupported scheme %q in URL %q (only http:// is supported)", s[:i], raw)}
		}
	} else {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return t, &ConfigError{fmt.Sprintf("invalid URL %q: %v", raw, errText(err))}
	}
	if u.User != nil {
		return t, &ConfigError{fmt.Sprintf("invalid URL %q: credentials in the URL are not supported (use -A)", raw)}
	}
	t.host = u.Hostname()
	if t.host == "" {
		return t, &ConfigError{fmt.Sprintf("invalid URL %q: no host", raw)}
	}
	t.port = 80
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return t, &ConfigError{fmt.Sprintf("invalid URL %q: bad port %q", raw, p)}
		}
		t.port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return t, &ConfigError{fmt.Sprintf("invalid URL %q: empty port", raw)}
	}
	t.hostHeader = u.Host
	if strings.HasSuffix(t.hostHeader, ":80") {
		t.hostHeader = strings.TrimSuffix(t.hostHeader, ":80")
	}
	t.path = u.EscapedPath()
	if t.path == "" {
		t.path = "/"
	}
	if u.RawQuery != "" || u.ForceQuery {
		t.path += "?" + u.RawQuery
	}
	for i := 0; i < len(t.path); i++ {
		if c := t.path[i]; c <= ' ' || c == 0x7f {
			return t, &ConfigError{fmt.Sprintf("invalid URL %q: control character or space in path", raw)}
		}
	}
	return t, nil
}

// errText is err's message without the "parse "...": " prefix net/url adds.
func errText(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err.Error()
	}
	return err.Error()
}

// normalized is a Config with defaults applied, checked, and turned into what the
// engine works from.
type normalized struct {
	Config
	target  target
	request []byte   // the whole request, headers and body, sent as is
	capture [][]byte // lower-case CaptureHeaders
	head    bool     // HEAD: responses have no body
}

func (c *Config) normalize() (*normalized, error) {
	n := &normalized{Config: *c}
	t, err := parseTarget(c.URL)
	if err != nil {
		return nil, err
	}
	n.target = t
	if n.Requests < 0 {
		return nil, &ConfigError{"invalid number of requests"}
	}
	if n.Rate < 0 || n.Rate != n.Rate {
		return nil, &ConfigError{"invalid rate"}
	}
	if n.Concurrency < 0 || n.Concurrency > MaxConcurrency {
		return nil, &ConfigError{fmt.Sprintf("invalid concurrency [range 1..%d]", MaxConcurrency)}
	}
	if n.Concurrency == 0 {
		n.Concurrency = 1
		if n.Rate > 0 {
			// Little's law with a generous 100 ms per request: enough connections for
			// a healthy server, few enough to stay bounded when it is not.
			n.Concurrency = min(1000, max(10, int(n.Rate/10+0.999)))
			if n.Requests > 0 {
				n.Concurrency = int(min(int64(n.Concurrency), n.Requests))
			}
		}
	}
	if n.Requests > 0 && int64(n.Concurrency) > n.Requests {
		return nil, &ConfigError{"cannot use concurrency level greater than total number of requests"}
	}
	if n.Requests == 0 && n.Duration <= 0 {
		return nil, &ConfigError{"no end to the run: set Requests or Duration"}
	}
	if n.Duration < 0 {
		return nil, &ConfigError{"invalid duration"}
	}
	if n.Timeout == 0 {
		n.Timeout = DefaultTimeout
	}
	if n.Method == "" {
		n.Method = "GET"
		if n.Body != nil {
			n.Method = "POST"
		}
	}
	if !validToken(n.Method) {
		return nil, &ConfigError{fmt.Sprintf("invalid method %q", n.Method)}
	}
	n.head = n.Method == "HEAD"
	for _, h := range n.CaptureHeaders {
		if !validToken(h) {
			return nil, &ConfigError{fmt.Sprintf("invalid header name %q to capture", h)}
		}
		n.capture = append(n.capture, []byte(strings.ToLower(h)))
	}
	req, err := buildRequest(n)
	if err != nil {
		return nil, err
	}
	n.request = req
	return n, nil
}

// buildRequest renders the request once; every request of the run sends these bytes.
// It is HTTP/1.1 (ab sends HTTP/1.0): keep-alive is then the default, and without it
// the request says "Connection: close" so that the server, not the client, closes and
// keeps the TIME_WAIT state (a client closing first at 20k connections/s would run out
// of ephemeral ports within seconds).
func buildRequest(n *normalized) ([]byte, error) {
	var b strings.Builder
	b.WriteString(n.Method)
	b.WriteByte(' ')
	b.WriteString(n.target.path)
	b.WriteString(" HTTP/1.1\r\n")
	hdr := n.Headers
	has := func(name string) bool {
		for k := range hdr {
			if strings.EqualFold(k, name) {
				return true
			}
		}
		return false
	}
	if !has("Host") {
		b.WriteString("Host: " + n.target.hostHeader + "\r\n")
	}
	if !has("User-Agent") {
		b.WriteString("User-Agent: " + UserAgent + "\r\n")
	}
	if !has("Accept") {
		b.WriteString("Accept: */*\r\n")
	}
	if !n.KeepAlive {
		b.WriteString("Connection: close\r\n")
	}
	if n.Body != nil {
		ct := n.ContentType
		if ct == "" {
			ct = "text/plain"
		}
		if !has("Content-Type") {
			b.WriteString("Content-Type: " + ct + "\r\n")
		}
		b.WriteString("Content-Length: " + strconv.Itoa(len(n.Body)) + "\r\n")
	}
	keys := make([]string, 0, len(hdr))
	for k := range hdr {
		keys = append(keys, k)
	}
	sort.Strings(keys) // a stable request from run to run
	for _, k := range keys {
		if !validToken(k) {
			return nil, &ConfigError{fmt.Sprintf("invalid header name %q", k)}
		}
		lk := strings.ToLower(k)
		if lk == "content-length" || lk == "transfer-encoding" || (lk == "connection" && !n.KeepAlive) {
			return nil, &ConfigError{fmt.Sprintf("header %q is set by wsgilab bench itself", k)}
		}
		for _, v := range hdr[k] {
			if strings.ContainsAny(v, "\r\n\x00") {
				return nil, &ConfigError{fmt.Sprintf("invalid value for header %q", k)}
			}
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	out := make([]byte, 0, b.Len()+len(n.Body))
	out = append(out, b.String()...)
	return append(out, n.Body...), nil
}

// UserAgent is sent unless Headers sets one.
const UserAgent = "wsgilab-bench/1"

// validToken reports whether s is an RFC 9110 token (method or header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x7f || c <= ' ' || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// dialAddr is host:port for the resolver and dialer.
func (t target) dialAddr() string { return net.JoinHostPort(t.host, strconv.Itoa(t.port)) }
