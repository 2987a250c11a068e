package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
)

// Version is printed by -V.
const Version = "wsgilab bench 1.0 (ApacheBench 2.3 compatible options and report)"

// Main runs `wsgilab bench args...`: ab's command line, ab's report on stdout and
// progress on stderr, and ab's exit statuses for a run that fails (1, or the errno of the
// failed system call); a bad command line is one line and ExitUsage, as in every wsgilab
// subcommand (ab prints its usage and exits 22). It returns the exit status. Canceling
// ctx (the command wires SIGINT to it) stops the run and prints the report, as ab
// does on SIGINT.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const prog = "wsgilab bench"
	o, err := ParseArgs(args)
	if err != nil {
		// Every error of ParseArgs is about the command line (an option, the URL, a -p file).
		fmt.Fprintf(stderr, "%s: %v (see '%s --help')\n", prog, err, prog)
		return ExitUsage
	}
	if o.Help {
		WriteUsage(stdout, prog)
		return 0
	}
	if o.Version {
		fmt.Fprintln(stdout, Version)
		return 0
	}
	cfg := o.Config
	t, _ := parseTarget(cfg.URL) // checked by ParseArgs

	// Output files are opened before the run: a typo in a path should not cost a
	// whole benchmark (ab only finds out at the end). A path that cannot be written is a
	// bad argument like any other.
	var gp *gnuplotWriter
	if o.GnuplotFile != "" {
		f, err := os.Create(o.GnuplotFile)
		if err != nil {
			fmt.Fprintf(stderr, "%s: Cannot open gnuplot output file: %v\n", prog, pathErr(err))
			return ExitUsage
		}
		gp = newGnuplotWriter(f)
		defer f.Close()
	}
	for _, name := range []string{o.CSVFile, o.JSONFile} {
		if name == "" {
			continue
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "%s: Cannot open output file: %v\n", prog, pathErr(err))
			return ExitUsage
		}
		f.Close()
	}

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	fmt.Fprintf(out, "This is %s\n\n", Version)
	heartbeat := o.ProgressEvery > 0
	if heartbeat {
		fmt.Fprintf(out, "Benchmarking %s (be patient)\n", t.host)
	} else {
		fmt.Fprintf(out, "Benchmarking %s (be patient)...", t.host)
	}
	out.Flush()

	if o.Verbosity >= 2 {
		n, _ := cfg.normalize()
		fmt.Fprintf(out, "INFO: %s header == \n---\n%s\n---\n", n.Method, n.request[:len(n.request)-len(n.Body)])
		out.Flush()
	}
	if heartbeat {
		cfg.ProgressEvery = o.ProgressEvery
		cfg.Progress = func(n int64) { fmt.Fprintf(stderr, "Completed %d requests\n", n) }
	}
	cfg.OnResponse = responseHook(gp, o.Verbosity, out)
	if o.Verbosity >= 2 {
		cfg.RawHeaders = true
	}

	res, err := Run(ctx, cfg)
	if gp != nil {
		if ferr := gp.flush(); ferr != nil && err == nil {
			fmt.Fprintf(stderr, "%s: writing %s: %v\n", prog, o.GnuplotFile, ferr)
		}
	}
	if err != nil {
		out.Flush()
		fmt.Fprintf(stderr, "%s: %s\n", prog, errorLine(err))
		if res != nil && res.Complete > 0 {
			fmt.Fprintf(out, "Total of %d requests completed\n", res.Complete)
		}
		if res != nil && o.JSONFile != "" {
			// ab prints no report after an abort; the JSON still records what happened.
			_ = writeFile(o.JSONFile, res.WriteJSON)
		}
		return exitCode(err)
	}
	if heartbeat {
		fmt.Fprintf(stderr, "Finished %d requests\n", res.Complete)
	} else {
		fmt.Fprintf(out, "..done\n")
	}
	if err := WriteReport(out, res, o.Report); err != nil {
		return 1
	}
	out.Flush()
	if o.CSVFile != "" && res.Complete > 0 {
		if err := writeFile(o.CSVFile, func(w io.Writer) error { return WriteCSV(w, res) }); err != nil {
			fmt.Fprintf(stderr, "%s: Cannot write CSV output file: %v\n", prog, pathErr(err))
			return 1
		}
	}
	if o.JSONFile != "" {
		if err := writeFile(o.JSONFile, res.WriteJSON); err != nil {
			fmt.Fprintf(stderr, "%s: Cannot write JSON output file: %v\n", prog, pathErr(err))
			return 1
		}
	}
	if res.StopReason == "canceled" {
		return 1 // ab exits 1 after printing the report on SIGINT
	}
	return 0
}

// responseHook builds the per-request hook the command needs (gnuplot lines, -v
// traces), or nil so that the engine runs without one.
func responseHook(gp *gnuplotWriter, verbosity int, out *bufio.Writer) func(Response) {
	if gp == nil && verbosity < 2 {
		return nil
	}
	var mu sync.Mutex
	return func(r Response) {
		if gp != nil && r.Failure.completes() {
			gp.add(&r)
		}
		if verbosity >= 2 {
			mu.Lock()
			if r.RawHeader != nil {
				fmt.Fprintf(out, "LOG: header received:\n%s\n", strings.TrimRight(string(r.RawHeader), "\r\n"))
			}
			if r.Status != 0 && r.Status/100 != 2 {
				fmt.Fprintf(out, "WARNING: Response code not 2xx (%03d)\n", r.Status)
			} else if verbosity >= 3 && r.Status != 0 {
				fmt.Fprintf(out, "LOG: Response code = %03d\n", r.Status)
			}
			if r.Err != nil && verbosity >= 3 {
				fmt.Fprintf(out, "LOG: request failed (%s): %v\n", r.Failure, r.Err)
			}
			mu.Unlock()
		}
	}
}

// gnuplotWriter streams ab's -g file, one line per completed request, in completion
// order (ab writes it at the end, sorted by total time, from per-request storage).
type gnuplotWriter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	buf []byte
}

func newGnuplotWriter(w io.Writer) *gnuplotWriter {
	g := &gnuplotWriter{w: bufio.NewWriterSize(w, 64<<10)}
	g.w.WriteString("starttime\tseconds\tctime\tdtime\tttime\twait\n")
	return g
}

func (g *gnuplotWriter) add(r *Response) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.buf[:0]
	b = r.Start.AppendFormat(b, "Mon Jan 02 15:04:05 2006")
	b = fmt.Appendf(b, "\t%d\t%d\t%d\t%d\t%d\n", r.Start.Unix(), abMs(r.Connect), abMs(r.Latency-r.Connect),
		abMs(r.Latency), abMs(r.Wait))
	g.buf = b
	g.w.Write(b)
}

func (g *gnuplotWriter) flush() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.w.Flush()
}

func writeFile(name string, write func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func pathErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

// errorLine renders a run error on one line, ab style: what failed, the system's
// message, and the errno in parentheses.
func errorLine(err error) string {
	msg := err.Error()
	var errno syscall.Errno
	if errors.As(err, &errno) {
		msg += fmt.Sprintf(" (%d)", int(errno))
	}
	return msg
}

// exitCode follows ab, which exits with the errno of a failed system call.
func exitCode(err error) int {
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 && int(errno) < 256 {
		return int(errno)
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ExitUsage
	}
	return 1
}
