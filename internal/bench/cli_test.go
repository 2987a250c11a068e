package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// mainRun runs the command in-process with the leak check.
func mainRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	check := checkNoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code = Main(ctx, args, &out, &errb)
	check()
	return code, out.String(), errb.String()
}

func TestBadInputOneLineErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.txt")
	refused := "http://" + closedPort(t) + "/"
	for _, tc := range []struct {
		args  []string
		code  int
		first string // stderr, which is one line
	}{
		// Bad arguments: one line, exit 2, as in every wsgilab subcommand (ab prints its
		// usage and exits 22 or 1).
		{[]string{"http://bad host/"}, 2, "wsgilab bench: invalid URL"},
		{[]string{"http://"}, 2, "wsgilab bench: invalid URL"},
		{[]string{"gopher://127.0.0.1/"}, 2, `wsgilab bench: unsupported scheme "gopher"`},
		{[]string{"-n", "0", "http://127.0.0.1/"}, 2, "wsgilab bench: Invalid number of requests"},
		{[]string{"-c", "0", "http://127.0.0.1/"}, 2, "wsgilab bench: Invalid Concurrency"},
		{[]string{"-n", "5", "-c", "10", "http://127.0.0.1/"}, 2, "wsgilab bench: Cannot use concurrency level greater than total number of requests"},
		{[]string{"-p", missing, "http://127.0.0.1/"}, 2, "wsgilab bench: Could not open POST data file (" + missing + "): no such file or directory"},
		{[]string{"-x", "border=1", "http://127.0.0.1/"}, 2, "wsgilab bench: option -x (HTML table attributes) is not supported"},
		{[]string{"--json", filepath.Join(missing, "out.json"), "http://127.0.0.1/"}, 2, "wsgilab bench: Cannot open output file"},
		{[]string{"--bogus", "http://127.0.0.1/"}, 2, "wsgilab bench: unknown flag: --bogus"},
		// Failures of the run itself keep ab's statuses: 1, or the errno of the system call.
		{[]string{"-n", "1", "http://no_such..host/"}, 1, "wsgilab bench: lookup no_such..host:"},
		{[]string{"-n", "5", refused}, 111, "wsgilab bench: connect to 127.0.0.1:"},
	} {
		code, _, stderr := mainRun(t, tc.args...)
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		if code != tc.code || !strings.HasPrefix(lines[0], tc.first) || len(lines) != 1 {
			t.Errorf("%q: exit %d, stderr:\n%s\nwant exit %d and one line starting %q", tc.args, code, stderr, tc.code, tc.first)
		}
		if code == 2 && !strings.Contains(lines[0], "Cannot open") && !strings.HasSuffix(lines[0], "(see 'wsgilab bench --help')") {
			t.Errorf("%q: the line does not point at --help: %s", tc.args, lines[0])
		}
	}
	if code, _, stderr := mainRun(t, "-n", "5", refused); !strings.HasSuffix(strings.TrimSpace(stderr), "connection refused (111)") || code != 111 {
		t.Errorf("refused: %d %q", code, stderr)
	}
}

func TestHelpAndVersion(t *testing.T) {
	code, out, _ := mainRun(t, "-h")
	if code != 0 || !strings.Contains(out, "-n requests") || !strings.Contains(out, "--rate R") || strings.Contains(out, "ab-w") {
		t.Errorf("help: %d\n%s", code, out)
	}
	code, out, _ = mainRun(t, "-V")
	if code != 0 || !strings.HasPrefix(out, "wsgilab bench") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestOutputFiles(t *testing.T) {
	dir := t.TempDir()
	gp, csv, js := filepath.Join(dir, "g.tsv"), filepath.Join(dir, "p.csv"), filepath.Join(dir, "r.json")
	srv := helloServer(t)
	code, out, stderr := mainRun(t, "-q", "-k", "-n", "300", "-c", "3", "-g", gp, "-e", csv, "--json", js, "--timeline", srv.URL("/"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "Timeline (per second") || !strings.Contains(out, "..done") || stderr != "" {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, stderr)
	}
	// -g: ab's header and one line per completed request, streamed.
	f, err := os.Open(gp)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		if n == 0 && sc.Text() != "starttime\tseconds\tctime\tdtime\tttime\twait" {
			t.Errorf("gnuplot header %q", sc.Text())
		}
		if n > 0 {
			fields := strings.Split(sc.Text(), "\t")
			if _, err := time.Parse("Mon Jan 02 15:04:05 2006", fields[0]); err != nil || len(fields) != 6 {
				t.Errorf("gnuplot line %q", sc.Text())
			}
		}
		n++
	}
	if n != 301 {
		t.Errorf("gnuplot file has %d lines, want 301", n)
	}
	b, _ := os.ReadFile(csv)
	if lines := strings.Count(string(b), "\n"); lines != 102 {
		t.Errorf("csv has %d lines", lines)
	}
	b, _ = os.ReadFile(js)
	var res Result
	if err := json.Unmarshal(b, &res); err != nil || res.Complete != 300 || res.Histogram.Count() != 300 {
		t.Errorf("json: %v complete %d", err, res.Complete)
	}
}

// TestSIGINTPrintsReport runs the command as a process (the test binary acting as
// `wsgilab bench`, see TestMain) and interrupts it, as a user would with Ctrl-C.
func TestSIGINTPrintsReport(t *testing.T) {
	var served atomic.Int64
	srv := newRawServer(t, func(c netConn, req *rawRequest) bool {
		time.Sleep(5 * time.Millisecond)
		ok := respond(c, req, 200, helloBody)
		served.Add(1)
		return ok
	})
	// The deadlines bound the waits (a run that ignores SIGINT would last 10 minutes); the
	// interrupt is sent once requests have completed, not after a sleep.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-k", "-c", "2", "--duration", "10m", srv.URL("/"))
	cmd.Env = append(os.Environ(), "WSGILAB_BENCH_MAIN=1")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt only once the banner is out: the signal handler is installed by
	// then (a slow start would otherwise die of the signal's default action).
	br := bufio.NewReader(stdout)
	var out strings.Builder
	for !strings.Contains(out.String(), "Benchmarking") {
		b, err := br.ReadByte()
		if err != nil {
			t.Fatalf("no banner: %v\n%s", err, out.String())
		}
		out.WriteByte(b)
	}
	for served.Load() < 3 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	rest, _ := io.ReadAll(br)
	out.Write(rest)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v (want status 1, as ab after SIGINT)\n%s\n%s", err, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "Complete requests:") || strings.Contains(out.String(), "Complete requests:      0\n") {
		t.Errorf("no report with completed requests:\n%s", out.String())
	}
}
