// Package doctor reads a deployment's configuration (Apache + mod_wsgi, uWSGI, gunicorn, the
// oslo.messaging options of its nova.conf, its WSGI file) and predicts, from what wsgilab has
// measured on the real stack, which of the write-ups' failures it is exposed to: AMQP
// connections dropped when idle, RPC replies lost between threads, a worker class that does not
// serve the app at all, cold-start latency spikes, heartbeats off without short keepalives, a
// heartbeat timeout too short for the broker.
//
// One file per thing it reads (apache.go, uwsgi.go, gunicorn.go, oslo.go, app.go, env.go), the
// rules in rules.go, the text report in text.go. Every finding names the configuration lines it
// rests on (file:line) and the `wsgilab run` command that reproduces it with that configuration.
// The closed loop (closedloop_test.go) runs doctor on the configuration wsgilab generated for
// every cell of the heartbeat matrix and compares its prediction with the cell's measured
// verdict.
package doctor

import (
	"fmt"
	"sort"
	"strings"
)

// Kind is the JSON kind of a report.
const Kind = "wsgilab.doctor/v1"

// Line is one configuration line a fact comes from.
//
// JSON: {"file": "/etc/apache2/sites-enabled/nova-api.conf", "line": 12, "text": "WSGIDaemonProcess ..."}
type Line struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Text string `json:"text"`
}

func (l Line) String() string { return fmt.Sprintf("%s:%d: %s", l.File, l.Line, l.Text) }

// Server kinds, as wsgilab's servers are named.
const (
	Apache   = "apache"
	UWSGI    = "uwsgi"
	Gunicorn = "gunicorn"
)

// Service is one WSGI application as a server runs it: which processes and threads run it and
// how they are created. Apache gives one per WSGIScriptAlias; a uWSGI ini or a gunicorn
// configuration, one.
//
// JSON: {"server": "apache", "name": "nova-api", "mpm": "prefork", "mode": "daemon",
// "processes": 3, "threads": 1, "python_threads": true, "worker": "", "script": "/usr/bin/nova-api-wsgi",
// "lines": {"mode": Line, ...}}
type Service struct {
	Server string `json:"server"`
	// Name says which one: the mod_wsgi daemon group, "embedded <url>", the ini's file name.
	Name string `json:"name"`

	// Apache: the loaded MPM ("" when the configuration read loads none: a vhost file alone)
	// and mod_wsgi's mode, embedded (in the MPM's children) or daemon (WSGIDaemonProcess).
	MPM  string `json:"mpm,omitempty"`
	Mode string `json:"mode,omitempty"`
	// Spare is the prefork MPM's process pool (Apache's defaults where not set), for embedded
	// mode's cold starts.
	Spare *Spare `json:"spare,omitempty"`

	// Processes and Threads: the processes that run the app and the request threads in each
	// (0: unknown). Embedded mode's threads are the MPM's (ThreadsPerChild; 1 under prefork).
	Processes int `json:"processes,omitempty"`
	Threads   int `json:"threads"`
	// PythonThreads is false where threads the app starts never run: uWSGI without
	// enable-threads (and one thread per worker).
	PythonThreads bool `json:"python_threads"`
	// Worker is gunicorn's worker class as gunicorn runs it (a sync worker with threads is
	// gthread).
	Worker   string `json:"worker,omitempty"`
	LazyApps bool   `json:"lazy_apps,omitempty"`
	Preload  bool   `json:"preload,omitempty"`

	// Script is the WSGI file (or "module:callable") the server loads; App is what was read of
	// it (nil when it could not be: a module, or no such file here).
	Script string `json:"script,omitempty"`
	App    *App   `json:"app,omitempty"`

	// Lines are the configuration lines each fact comes from, by fact: "mpm", "mode",
	// "processes", "threads", "python_threads", "worker", "spare", "script".
	Lines map[string]Line `json:"lines,omitempty"`
}

// Spare is the prefork MPM's process pool, with Apache's defaults where a directive is not set.
//
// JSON: {"start_servers": 5, "min_spare_servers": 5, "max_spare_servers": 10,
// "max_request_workers": 256, "defaults": true}
type Spare struct {
	StartServers      int  `json:"start_servers"`
	MinSpareServers   int  `json:"min_spare_servers"`
	MaxSpareServers   int  `json:"max_spare_servers"`
	MaxRequestWorkers int  `json:"max_request_workers"`
	Defaults          bool `json:"defaults"` // MinSpareServers and MaxSpareServers are Apache's defaults
}

func (s *Service) line(fact string) (Line, bool) {
	l, ok := s.Lines[fact]
	return l, ok
}

func (s *Service) setLine(fact string, l Line) {
	if l.File == "" {
		return
	}
	if s.Lines == nil {
		s.Lines = map[string]Line{}
	}
	s.Lines[fact] = l
}

// Deployment is everything read: the services, the oslo.messaging options, the environment
// the app gets, and what could not be told.
type Deployment struct {
	Services []*Service
	Oslo     *Oslo
	Env      Env
	// Read lists every file read, in order.
	Read []string
	// Notes are what doctor could not tell and assumed, said once for the report.
	Notes []string
}

// Severity of a finding: High is a failure the lab measured under this configuration (lost
// connections, a service that does not serve); Medium a measured degradation (latency spikes,
// slow failure detection); Low a risk from the broker's own guidance.
const (
	High   = "high"
	Medium = "medium"
	Low    = "low"
)

// Finding is one risk of one service.
//
// JSON: {"rule": "green-heartbeat-idle", "severity": "high", "service": "nova-api",
// "title": "...", "mechanism": "...", "evidence": "...", "fix": "...", "lines": [Line, ...],
// "assumes": ["..."], "reproduce": "wsgilab run heartbeat --mpm prefork ...", "predicts": "DROPPED"}
type Finding struct {
	Rule      string   `json:"rule"`
	Severity  string   `json:"severity"`
	Service   string   `json:"service,omitempty"`
	Title     string   `json:"title"`
	Mechanism string   `json:"mechanism"`
	Evidence  string   `json:"evidence"`
	Fix       string   `json:"fix"`
	Lines     []Line   `json:"lines"`
	Assumes   []string `json:"assumes,omitempty"`
	Reproduce string   `json:"reproduce"`
	// Predicts is what the heartbeat scenario would measure for the service because of this
	// finding (DROPPED, ERROR), "" when the finding is not about the idle connections.
	Predicts string `json:"predicts,omitempty"`
}

// Report is doctor's answer.
//
// JSON: {"kind": "wsgilab.doctor/v1", "read": ["/etc/apache2/apache2.conf", ...],
// "services": [ServiceReport, ...], "oslo": Oslo, "findings": [Finding, ...], "notes": ["..."]}
type Report struct {
	Kind     string          `json:"kind"`
	Read     []string        `json:"read"`
	Services []ServiceReport `json:"services"`
	Oslo     *Oslo           `json:"oslo,omitempty"`
	Findings []Finding       `json:"findings"`
	Notes    []string        `json:"notes,omitempty"`
}

// ServiceReport is a service with the heartbeat scenario's predicted verdict for it: STABLE,
// DROPPED or ERROR, what the closed loop compares with a cell's measured verdict.
type ServiceReport struct {
	*Service
	Predicted string `json:"predicted_heartbeat_verdict"`
}

// Diagnose applies the rules to d.
func Diagnose(d *Deployment) *Report {
	r := &Report{Kind: Kind, Read: d.Read, Oslo: d.Oslo, Findings: []Finding{}, Services: []ServiceReport{}}
	if r.Read == nil {
		r.Read = []string{}
	}
	for _, s := range d.Services {
		fs := applyRules(d, s)
		r.Findings = append(r.Findings, fs...)
		r.Services = append(r.Services, ServiceReport{Service: s, Predicted: Predict(fs)})
	}
	if len(d.Services) == 0 && d.Oslo != nil {
		// The oslo.messaging options alone still say something.
		r.Findings = append(r.Findings, applyRules(d, nil)...)
	}
	r.Notes = d.Notes // the rules add theirs
	order := map[string]int{High: 0, Medium: 1, Low: 2}
	sort.SliceStable(r.Findings, func(i, j int) bool { return order[r.Findings[i].Severity] < order[r.Findings[j].Severity] })
	return r
}

// Predicted heartbeat verdicts.
const (
	Stable  = "STABLE"
	Dropped = "DROPPED"
	Error   = "ERROR"
)

// Predict is the heartbeat scenario's verdict the findings of one service predict: ERROR when
// the service would not serve, DROPPED when its idle connections would be closed, else STABLE.
func Predict(fs []Finding) string {
	out := Stable
	for _, f := range fs {
		switch f.Predicts {
		case Error:
			return Error
		case Dropped:
			out = Dropped
		}
	}
	return out
}

// note adds a note once.
func (d *Deployment) note(format string, a ...any) {
	n := fmt.Sprintf(format, a...)
	for _, m := range d.Notes {
		if m == n {
			return
		}
	}
	d.Notes = append(d.Notes, n)
}

func (d *Deployment) read(path string) {
	for _, p := range d.Read {
		if p == path {
			return
		}
	}
	d.Read = append(d.Read, path)
}

// InputError is input doctor cannot read (a missing file, a line it cannot parse): the command
// exits 2 with it.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputErr(format string, a ...any) error { return &InputError{Err: fmt.Errorf(format, a...)} }

// oneLine squeezes a multi-line text into one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
