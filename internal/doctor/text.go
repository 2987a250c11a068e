package doctor

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText prints the report: the services as read, with the heartbeat verdict predicted for
// each, then every finding with its mechanism, what the lab measured, the configuration lines,
// the assumptions, and the command that reproduces it.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "wsgilab doctor: %d file(s) read, %d service(s), %d finding(s)\n\n", len(r.Read), len(r.Services), len(r.Findings))
	if len(r.Services) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SERVICE\tSERVER\tRUNS THE APP IN\tAPP\tHEARTBEAT\tPREDICTED (heartbeat idle)")
		for _, s := range r.Services {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Server, workers(s.Service), appSummary(s.App),
				heartbeatSummary(r.Oslo), s.Predicted)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "No finding: none of the configurations the lab has measured to fail.")
	}
	for _, f := range r.Findings {
		svc := ""
		if f.Service != "" {
			svc = f.Service + ": "
		}
		fmt.Fprintf(w, "[%s] %s%s\n", strings.ToUpper(f.Severity), svc, f.Title)
		wrap(w, "  Why       ", f.Mechanism)
		wrap(w, "  Measured  ", f.Evidence)
		wrap(w, "  Fix       ", f.Fix)
		for i, l := range f.Lines {
			label := "  Lines     "
			if i > 0 {
				label = "            "
			}
			if l.Line > 0 {
				fmt.Fprintf(w, "%s%s:%d: %s\n", label, l.File, l.Line, l.Text)
			} else {
				fmt.Fprintf(w, "%s%s %s\n", label, l.File, l.Text)
			}
		}
		for _, a := range f.Assumes {
			wrap(w, "  Assumes   ", a)
		}
		fmt.Fprintf(w, "  Reproduce %s\n\n", f.Reproduce)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "Notes:")
		for _, n := range r.Notes {
			wrap(w, "  - ", n)
		}
	}
}

func workers(s *Service) string {
	switch s.Server {
	case Apache:
		mpm := s.MPM
		if mpm == "" {
			mpm = "MPM ?"
		}
		if s.Mode == "daemon" {
			return fmt.Sprintf("%s, daemon %d x %d thread(s)", mpm, s.Processes, s.Threads)
		}
		if s.Threads > 0 {
			return fmt.Sprintf("%s, embedded, %d thread(s) per child", mpm, s.Threads)
		}
		return mpm + ", embedded"
	case UWSGI:
		t := "Python threads off"
		if s.PythonThreads {
			t = "Python threads on"
		}
		return fmt.Sprintf("%d x %d thread(s), %s", s.Processes, s.Threads, t)
	case Gunicorn:
		return fmt.Sprintf("%d %s worker(s)", s.Processes, s.Worker) + map[bool]string{true: fmt.Sprintf(" x %d threads", s.Threads)}[s.Worker == "gthread"]
	}
	return ""
}

func appSummary(a *App) string {
	if a == nil {
		return "not read"
	}
	return "monkey-patched: " + a.MonkeyPatch
}

func heartbeatSummary(o *Oslo) string {
	if o == nil {
		o = DefaultOslo()
	}
	if o.HeartbeatTimeout <= 0 {
		return "off"
	}
	return fmt.Sprintf("%d s, in_pthread %v", o.HeartbeatTimeout, o.HeartbeatInPthread)
}

// wrap writes text after label (which ends with its own spacing), wrapped at 100 columns,
// continuation lines indented under it.
func wrap(w io.Writer, label, text string) {
	const width = 100
	indent := strings.Repeat(" ", len(label))
	line, empty := label, true
	for _, word := range strings.Fields(text) {
		if !empty && len(line)+1+len(word) > width {
			fmt.Fprintln(w, line)
			line, empty = indent, true
		}
		if !empty {
			line += " "
		}
		line, empty = line+word, false
	}
	fmt.Fprintln(w, line)
}
