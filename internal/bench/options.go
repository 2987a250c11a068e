package bench

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Options is a parsed `wsgilab bench` command line: the run's Config plus what only
// the command does with the results.
type Options struct {
	Config      Config
	Quiet       bool // ab -q: no progress lines
	Verbosity   int  // ab -v
	Report      ReportOptions
	CSVFile     string // ab -e
	GnuplotFile string // ab -g
	JSONFile    string // --json
	Help        bool
	Version     bool
	// ProgressEvery is ab's heartbeat: every 10% of -n (at least 100), when -n > 150.
	ProgressEvery int64
}

// UsageError is a command-line error: one line, and exit status ExitUsage. This is where
// wsgilab bench parts from ab, which prints its whole usage after most errors and exits
// with 22 (EINVAL) or 1: every wsgilab subcommand answers bad input the same way.
type UsageError struct {
	Msg string
}

func (e *UsageError) Error() string { return e.Msg }

// ExitUsage is the exit status of a bad command line, as in every wsgilab subcommand.
const ExitUsage = 2

func usageErr(format string, a ...any) *UsageError {
	return &UsageError{Msg: fmt.Sprintf(format, a...)}
}

// abDefaultTimedRequests is what ab's -t implies for -n.
const abDefaultTimedRequests = 50000

// unsupportedAB are ab's options that wsgilab bench does not implement; they get a
// clear error rather than pflag's "unknown shorthand flag".
var unsupportedAB = []struct {
	short, what string
	arg         bool
}{
	{"b", "TCP window size", true}, {"B", "bind address", true}, {"w", "HTML output", false},
	{"x", "HTML table attributes", true}, {"y", "HTML tr attributes", true}, {"z", "HTML td attributes", true},
	{"X", "proxy", true}, {"P", "proxy authentication", true}, {"f", "SSL/TLS protocol", true},
	{"Z", "SSL/TLS cipher suite", true}, {"E", "client certificate", true}, {"I", "TLS SNI", false},
}

type flagValues struct {
	requests, concurrency, timelimit, timeout, verbosity int
	keepAlive, head, quiet, variable, recvOK             bool
	noPerc, noConf, help, version, timeline              bool
	headers, cookies                                     []string
	method, postFile, putFile, contentType, auth         string
	csvFile, gnuplotFile, jsonFile                       string
	rate                                                 float64
	duration                                             time.Duration
	unsupportedS                                         []string
	unsupportedB                                         []bool
}

func newFlagSet(v *flagValues) *pflag.FlagSet {
	fs := pflag.NewFlagSet("wsgilab bench", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.IntVarP(&v.requests, "requests", "n", 1, "Number of requests to perform")
	fs.IntVarP(&v.concurrency, "concurrency", "c", 1, "Number of multiple requests to make at a time")
	fs.IntVarP(&v.timelimit, "timelimit", "t", 0, "Seconds to max. to spend on benchmarking\nThis implies -n 50000 (unless -n is given)")
	fs.IntVarP(&v.timeout, "timeout", "s", 30, "Seconds to max. wait for each response (0: no limit)")
	fs.StringVarP(&v.postFile, "postfile", "p", "", "File containing data to POST. Remember also to set -T")
	fs.StringVarP(&v.putFile, "putfile", "u", "", "File containing data to PUT. Remember also to set -T")
	fs.StringVarP(&v.contentType, "content-type", "T", "", "Content-type header to use for POST/PUT data, eg.\n'application/x-www-form-urlencoded'\nDefault is 'text/plain'")
	fs.IntVarP(&v.verbosity, "verbosity", "v", 0, "How much troubleshooting info to print")
	fs.BoolVarP(&v.head, "head", "i", false, "Use HEAD instead of GET")
	fs.StringArrayVarP(&v.cookies, "cookie", "C", nil, "Add cookie, eg. 'Apache=1234'. (repeatable)")
	fs.StringArrayVarP(&v.headers, "header", "H", nil, "Add Arbitrary header line, eg. 'Accept-Encoding: gzip'\nInserted after all normal header lines. (repeatable)")
	fs.StringVarP(&v.auth, "auth", "A", "", "Add Basic WWW Authentication, the attributes\nare a colon separated username and password.")
	fs.BoolVarP(&v.version, "version", "V", false, "Print version number and exit")
	fs.BoolVarP(&v.keepAlive, "keepalive", "k", false, "Use HTTP KeepAlive feature")
	fs.BoolVarP(&v.noPerc, "no-percentiles", "d", false, "Do not show percentiles served table.")
	fs.BoolVarP(&v.noConf, "no-confidence", "S", false, "Do not show confidence estimators and warnings.")
	fs.BoolVarP(&v.quiet, "quiet", "q", false, "Do not show progress when doing more than 150 requests")
	fs.BoolVarP(&v.variable, "variable-length", "l", false, "Accept variable document length (use this for dynamic pages)")
	fs.StringVarP(&v.gnuplotFile, "gnuplot", "g", "", "Output collected data to gnuplot format file.")
	fs.StringVarP(&v.csvFile, "csv", "e", "", "Output CSV file with percentages served")
	fs.BoolVarP(&v.recvOK, "no-recv-exit", "r", false, "Don't exit on socket receive errors.")
	fs.StringVarP(&v.method, "method", "m", "", "Method name")
	fs.BoolVarP(&v.help, "help", "h", false, "Display usage information (this message)")
	fs.Float64Var(&v.rate, "rate", 0, "Open loop: send R requests/second on a fixed schedule,\nlatency measured from each request's scheduled time\n(-c bounds the requests in flight)")
	fs.DurationVar(&v.duration, "duration", 0, "Run for this long (e.g. 30s, 2m); no implied -n")
	fs.StringVar(&v.jsonFile, "json", "", "Write every figure, the latency histogram and the\nper-second timeline to the file, as JSON")
	fs.BoolVar(&v.timeline, "timeline", false, "Print the per-second timeline after the report")
	v.unsupportedS = make([]string, len(unsupportedAB))
	v.unsupportedB = make([]bool, len(unsupportedAB))
	for i, u := range unsupportedAB {
		name := "ab-" + u.short
		if u.arg {
			fs.StringVarP(&v.unsupportedS[i], name, u.short, "", u.what)
		} else {
			fs.BoolVarP(&v.unsupportedB[i], name, u.short, false, u.what)
		}
		fs.Lookup(name).Hidden = true
	}
	return fs
}

// ParseArgs parses ab's options (and wsgilab's long ones) into Options. Errors are
// *UsageError. It reads the -p/-u file.
func ParseArgs(args []string) (*Options, error) {
	var v flagValues
	fs := newFlagSet(&v)
	if err := fs.Parse(args); err != nil {
		return nil, usageErr("%s", err.Error())
	}
	o := &Options{Help: v.help, Version: v.version}
	if v.help || v.version {
		return o, nil
	}
	for i, u := range unsupportedAB {
		if fs.Changed("ab-" + u.short) {
			_ = i
			return nil, usageErr("option -%s (%s) is not supported by wsgilab bench", u.short, u.what)
		}
	}
	if fs.NArg() != 1 {
		return nil, usageErr("wrong number of arguments")
	}
	c := &o.Config
	c.URL = fs.Arg(0)
	if _, err := parseTarget(c.URL); err != nil {
		return nil, &UsageError{Msg: err.Error()}
	}

	// -n, -t and --duration. ab lets the last of -n/-t win; here an explicit -n wins
	// in any order, and --duration (a Go duration, no implied -n) is the long form.
	nSet, tSet, dSet := fs.Changed("requests"), fs.Changed("timelimit"), fs.Changed("duration")
	if nSet && v.requests <= 0 {
		return nil, usageErr("Invalid number of requests")
	}
	if tSet && dSet {
		return nil, usageErr("-t and --duration are the same limit: give one")
	}
	if tSet && v.timelimit <= 0 {
		return nil, usageErr("invalid time limit %d", v.timelimit)
	}
	if dSet && v.duration <= 0 {
		return nil, usageErr("invalid duration %s", v.duration)
	}
	c.Requests = int64(v.requests)
	switch {
	case tSet:
		c.Duration = time.Duration(v.timelimit) * time.Second
		if !nSet {
			c.Requests = abDefaultTimedRequests
		}
	case dSet:
		c.Duration = v.duration
		if !nSet {
			c.Requests = 0
		}
	}

	if v.concurrency <= 0 || v.concurrency > MaxConcurrency {
		return nil, usageErr("Invalid Concurrency [Range 1..%d]", MaxConcurrency)
	}
	c.Concurrency = v.concurrency
	if v.rate != 0 {
		if !(v.rate > 0) || v.rate > 1e7 {
			return nil, usageErr("invalid rate %g", v.rate)
		}
		c.Rate = v.rate
		if !fs.Changed("concurrency") {
			c.Concurrency = 0 // derived from the rate
			if c.Requests > 0 {
				c.Concurrency = int(min(c.Requests, int64(min(1000, max(10, int(v.rate/10+0.999))))))
			}
		}
	}
	if c.Requests > 0 && int64(c.Concurrency) > c.Requests {
		return nil, usageErr("Cannot use concurrency level greater than total number of requests")
	}
	if v.timeout < 0 {
		return nil, usageErr("invalid timeout %d", v.timeout)
	}
	c.Timeout = time.Duration(v.timeout) * time.Second
	if v.timeout == 0 {
		c.Timeout = -1
	}
	c.KeepAlive = v.keepAlive
	c.VariableLength = v.variable
	c.StopOnReceiveError = !v.recvOK
	c.MaxFailures = 10 // ab: "Test aborted after 10 failures"

	// Method and body: ab refuses to mix -i, -p and -u; -m names any method, and
	// with -p/-u sends the file with that method.
	switch {
	case v.head && (v.postFile != "" || v.putFile != ""):
		return nil, usageErr("Cannot mix HEAD with other methods")
	case v.postFile != "" && v.putFile != "":
		return nil, usageErr("Cannot mix PUT with other methods")
	case v.head && v.method != "" && !strings.EqualFold(v.method, "HEAD"):
		return nil, usageErr("Cannot mix HEAD with other methods")
	}
	if v.method != "" && !validToken(v.method) {
		return nil, usageErr("invalid method %q", v.method)
	}
	switch {
	case v.postFile != "":
		body, err := readBodyFile(v.postFile)
		if err != nil {
			return nil, err
		}
		c.Body, c.Method = body, "POST"
	case v.putFile != "":
		body, err := readBodyFile(v.putFile)
		if err != nil {
			return nil, err
		}
		c.Body, c.Method = body, "PUT"
	case v.head:
		c.Method = "HEAD"
	}
	if v.method != "" {
		c.Method = v.method
	}
	c.ContentType = v.contentType

	hdr := http.Header{}
	for _, line := range v.headers {
		name, value, err := parseHeaderLine(line)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		hdr.Add(name, value)
	}
	if len(v.cookies) > 0 {
		hdr.Add("Cookie", strings.Join(v.cookies, "; "))
	}
	if v.auth != "" {
		cred := strings.TrimLeft(v.auth, " \t")
		hdr.Add("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred)))
	}
	if len(hdr) > 0 {
		c.Headers = hdr
	}
	// Fail on what Run would refuse (a header wsgilab sets itself, ...) now, with
	// the usage error, rather than after the banner.
	if _, err := c.normalize(); err != nil {
		return nil, usageErr("%v", err)
	}

	o.Quiet = v.quiet
	o.Verbosity = v.verbosity
	o.Report = ReportOptions{NoPercentiles: v.noPerc, NoConfidence: v.noConf, Timeline: v.timeline}
	o.CSVFile, o.GnuplotFile, o.JSONFile = v.csvFile, v.gnuplotFile, v.jsonFile
	if !v.quiet && c.Requests > 150 {
		o.ProgressEvery = max(c.Requests/10, 100)
	}
	return o, nil
}

// parseHeaderLine splits an ab -H argument, "Name: value".
func parseHeaderLine(line string) (name, value string, err error) {
	name, value, ok := strings.Cut(line, ":")
	if !ok {
		return "", "", fmt.Errorf("invalid header %q: want 'Name: value'", line)
	}
	name = strings.TrimSpace(name)
	if !validToken(name) {
		return "", "", fmt.Errorf("invalid header name in %q", line)
	}
	value = strings.Trim(value, " \t")
	if strings.ContainsAny(value, "\r\n\x00") {
		return "", "", fmt.Errorf("invalid header value in %q", line)
	}
	return http.CanonicalHeaderKey(name), value, nil
}

func readBodyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		msg := err.Error()
		if pe, ok := err.(*os.PathError); ok {
			msg = pe.Err.Error()
		}
		return nil, usageErr("Could not open POST data file (%s): %s", path, msg)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// WriteUsage prints the option list in ab's layout.
func WriteUsage(w io.Writer, prog string) {
	var v flagValues
	fs := newFlagSet(&v)
	var b bytes.Buffer
	fmt.Fprintf(&b, "Usage: %s [options] [http://]hostname[:port]/path\n", prog)
	fmt.Fprintf(&b, "Options are:\n")
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		opt := "--" + f.Name
		if f.Shorthand != "" {
			opt = "-" + f.Shorthand
		}
		arg := ""
		switch f.Value.Type() {
		case "int", "string", "stringArray", "float64", "duration":
			arg = argName(f)
		}
		lines := strings.Split(f.Usage, "\n")
		fmt.Fprintf(&b, "    %-16s%s\n", strings.TrimSpace(opt+" "+arg), lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(&b, "    %-16s%s\n", "", l)
		}
	})
	var long []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && f.Shorthand != "" {
			long = append(long, "-"+f.Shorthand+" --"+f.Name)
		}
	})
	fmt.Fprintf(&b, "Long forms of ab's options:\n")
	for i := 0; i < len(long); i += 4 {
		fmt.Fprintf(&b, "    %s\n", strings.Join(long[i:min(i+4, len(long))], ", "))
	}
	_, _ = w.Write(b.Bytes())
}

func argName(f *pflag.Flag) string {
	switch f.Name {
	case "requests":
		return "requests"
	case "timelimit":
		return "timelimit"
	case "postfile":
		return "postfile"
	case "putfile":
		return "putfile"
	case "header", "cookie", "auth":
		return "attribute"
	case "gnuplot", "csv", "json":
		return "filename"
	case "rate":
		return "R"
	case "duration":
		return "D"
	}
	return f.Name
}
