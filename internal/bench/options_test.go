package bench

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseArgsAB(t *testing.T) {
	body := filepath.Join(t.TempDir(), "post.txt")
	if err := os.WriteFile(body, []byte("x=1"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := ParseArgs([]string{"-n1000", "-c", "10", "-kq", "-H", "Accept-Encoding: gzip", "-H", "X-A:b",
		"-C", "a=1", "-C", "b=2", "-A", " user:pass", "-p", body, "-T", "application/json", "-l", "-r",
		"-s", "5", "-v", "2", "-d", "-S", "-e", "out.csv", "-g", "out.tsv", "http://127.0.0.1:8000/p"})
	if err != nil {
		t.Fatal(err)
	}
	c := o.Config
	if c.Requests != 1000 || c.Concurrency != 10 || !c.KeepAlive || !o.Quiet || c.Method != "POST" ||
		string(c.Body) != "x=1" || c.ContentType != "application/json" || !c.VariableLength || c.StopOnReceiveError ||
		c.Timeout != 5*time.Second || o.Verbosity != 2 || !o.Report.NoPercentiles || !o.Report.NoConfidence ||
		o.CSVFile != "out.csv" || o.GnuplotFile != "out.tsv" || c.MaxFailures != 10 || o.ProgressEvery != 0 {
		t.Errorf("options %+v config %+v", o, c)
	}
	h := c.Headers
	if h.Get("Accept-Encoding") != "gzip" || h.Get("X-A") != "b" || h.Get("Cookie") != "a=1; b=2" ||
		h.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("user:pass")) {
		t.Errorf("headers %v", h)
	}
}

func TestParseArgsDefaultsAndLimits(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		requests int64
		duration time.Duration
		conc     int
		progress int64
	}{
		{[]string{"http://h/"}, 1, 0, 1, 0},                                       // ab: -n 1 by default
		{[]string{"-n", "150", "http://h/"}, 150, 0, 1, 0},                        // no progress up to 150
		{[]string{"-n", "151", "http://h/"}, 151, 0, 1, 100},                      // every 10%, at least 100
		{[]string{"-n", "5000", "http://h/"}, 5000, 0, 1, 500},                    // every 10%
		{[]string{"-t", "3", "http://h/"}, 50000, 3 * time.Second, 1, 5000},       // -t implies -n 50000
		{[]string{"-t", "3", "-n", "70", "http://h/"}, 70, 3 * time.Second, 1, 0}, // an explicit -n wins
		{[]string{"--duration", "1m30s", "http://h/"}, 0, 90 * time.Second, 1, 0}, // no implied -n
		{[]string{"--rate", "100", "--duration", "2s", "http://h/"}, 0, 2 * time.Second, 0, 0},
		{[]string{"--rate", "1000", "-n", "30", "http://h/"}, 30, 0, 30, 0},
	} {
		o, err := ParseArgs(tc.args)
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		c := o.Config
		if c.Requests != tc.requests || c.Duration != tc.duration || c.Concurrency != tc.conc || o.ProgressEvery != tc.progress {
			t.Errorf("%v: requests %d duration %v concurrency %d progress %d", tc.args, c.Requests, c.Duration, c.Concurrency, o.ProgressEvery)
		}
	}
}

func TestParseArgsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{}, "wrong number of arguments"},
		{[]string{"http://a/", "http://b/"}, "wrong number of arguments"},
		{[]string{"-w", "http://a/"}, "option -w (HTML output) is not supported"},
		{[]string{"-Z", "x", "http://a/"}, "not supported"},
		{[]string{"--bogus", "http://a/"}, "unknown flag: --bogus"},
		{[]string{"-n", "http://a/"}, "invalid argument"},
		{[]string{"-n", "0", "http://a/"}, "Invalid number of requests"},
		{[]string{"-c", "0", "http://a/"}, "Invalid Concurrency"},
		{[]string{"-c", "30000", "-n", "40000", "http://a/"}, "Invalid Concurrency"},
		{[]string{"-c", "10", "-n", "5", "http://a/"}, "Cannot use concurrency level greater than total number of requests"},
		{[]string{"-c", "10", "http://a/"}, "Cannot use concurrency level greater"},
		{[]string{"ftp://a/"}, `unsupported scheme "ftp"`},
		{[]string{"http://"}, "invalid URL"},
		{[]string{"http://a:b:c/"}, "invalid URL"},
		{[]string{"-i", "-p", "/etc/hostname", "http://a/"}, "Cannot mix HEAD with other methods"},
		{[]string{"-p", "/etc/hostname", "-u", "/etc/hostname", "http://a/"}, "Cannot mix PUT with other methods"},
		{[]string{"-p", "/no/such/file", "http://a/"}, "Could not open POST data file (/no/such/file): no such file or directory"},
		{[]string{"-H", "NoColon", "http://a/"}, "invalid header"},
		{[]string{"-H", "Content-Length: 5", "http://a/"}, "set by wsgilab bench itself"},
		{[]string{"-t", "2", "--duration", "2s", "http://a/"}, "give one"},
		{[]string{"--rate", "-5", "http://a/"}, "invalid rate"},
		{[]string{"-m", "GE T", "http://a/"}, "invalid method"},
	} {
		_, err := ParseArgs(tc.args)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: err %v, want a UsageError", tc.args, err)
			continue
		}
		if !strings.Contains(ue.Msg, tc.msg) || strings.Contains(ue.Msg, "\n") {
			t.Errorf("%q: %+v, want %q on one line", tc.args, ue, tc.msg)
		}
	}
}

func TestParseHeaderLine(t *testing.T) {
	for _, tc := range []struct{ in, name, value string }{
		{"Accept-Encoding: gzip", "Accept-Encoding", "gzip"},
		{"x-lower:v", "X-Lower", "v"},
		{"Host:  example.com  ", "Host", "example.com"},
		{"X-Empty:", "X-Empty", ""},
		{"X-Colon: a:b", "X-Colon", "a:b"},
	} {
		n, v, err := parseHeaderLine(tc.in)
		if err != nil || n != tc.name || v != tc.value {
			t.Errorf("%q: %q %q %v", tc.in, n, v, err)
		}
	}
	for _, bad := range []string{"", "NoColon", ": v", "Bad Name: v", "X: a\r\nY: b", "X\x00: v"} {
		if _, _, err := parseHeaderLine(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParseArgs: no input makes the option parser panic, every error is a one-line
// UsageError, and an accepted command line makes a runnable
// Config whose request is well formed.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{
		"-n 100 -c 10 http://127.0.0.1/", "-kq -n1000 http://h:8080/x?y", "-H X:y -H Host:z http://h/",
		"-t 5 http://h/", "--rate 10 --duration 1s http://h/", "-c 0 http://h/", "-m PATCH http://h/",
		"-C a=b -A u:p http://h/", "-n -1 http://h/", "http://[::1]:80/", "-H 'a b: c' h/", "-s 0 http://h/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Fields(s)
		for _, a := range args {
			if strings.HasPrefix(a, "-p") || strings.HasPrefix(a, "-u") || strings.HasPrefix(a, "--post") || strings.HasPrefix(a, "--put") {
				return // would read files
			}
		}
		o, err := ParseArgs(args)
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("%q: non-usage error %v", args, err)
			}
			if strings.ContainsAny(ue.Msg, "\n\r") && utf8.ValidString(s) {
				t.Fatalf("%q: multi-line error %q", args, ue.Msg)
			}
			return
		}
		if o.Help || o.Version {
			return
		}
		n, err := o.Config.normalize()
		if err != nil {
			t.Fatalf("%q: accepted, but normalize fails: %v", args, err)
		}
		req := string(n.request)
		head, _, ok := strings.Cut(req, "\r\n\r\n")
		if !ok {
			t.Fatalf("%q: request without a header end: %q", args, req)
		}
		for i, line := range strings.Split(head, "\r\n") {
			if strings.ContainsAny(line, "\r\n\x00") || (i > 0 && !strings.Contains(line, ": ")) {
				t.Fatalf("%q: bad request line %q", args, line)
			}
		}
	})
}
