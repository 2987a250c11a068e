package runner

import (
	"fmt"
	"slices"
	"strings"

	"wsgilab/internal/apache"
	"wsgilab/internal/server"
	"wsgilab/internal/server/gunicorn"
	"wsgilab/internal/server/uwsgi"
	"wsgilab/internal/stack"
)

// Allowed values of the matrix dimensions, in the order tables print them.
var (
	MPMs       = []string{"prefork", "worker", "event"}
	Modes      = []string{"embedded", "daemon"}
	Heartbeats = []string{"green", "pthread", "off"}
	Servers    = stack.Servers()
	OnOff      = []string{"off", "on"}
)

// The servers that have dimensions of their own.
const (
	apacheKind   = apache.Kind
	uwsgiKind    = uwsgi.Kind
	gunicornKind = gunicorn.Kind
)

var gunicornWorkers = gunicorn.Workers

// Matrix is the set of values per dimension; Specs is their product. Each server has its own
// dimensions: Apache MPM x mod_wsgi mode, uWSGI's Python threads x lazy-apps, gunicorn's
// worker class x preload; the heartbeat mode applies to every cell.
//
// JSON: {"servers": ["apache"], "mpms": ["prefork", ...], "modes": ["embedded", ...],
// "heartbeats": ["green", ...], "uwsgi_threads": [false, true], "uwsgi_lazy_apps": [false],
// "gunicorn_workers": ["sync", ...], "gunicorn_preload": [false]}
type Matrix struct {
	Servers         []string `json:"servers,omitempty"`
	MPMs            []string `json:"mpms"`
	Modes           []string `json:"modes"`
	Heartbeats      []string `json:"heartbeats,omitempty"`
	UWSGIThreads    []bool   `json:"uwsgi_threads,omitempty"`
	UWSGILazyApps   []bool   `json:"uwsgi_lazy_apps,omitempty"`
	GunicornWorkers []string `json:"gunicorn_workers,omitempty"`
	GunicornPreload []bool   `json:"gunicorn_preload,omitempty"`
}

// CellSpec is one configuration along the matrix's dimensions.
//
// JSON: {"server": "apache", "mpm": "prefork", "mode": "embedded", "heartbeat": "green",
// "monkey_patch": true, "tcp_keepalive": false, "control": "", "threads": false,
// "lazy_apps": false, "worker": "", "preload": false}
type CellSpec struct {
	// Server is "" or "apache" (Apache + mod_wsgi: MPM and Mode), "uwsgi" (Threads: Python
	// threads on; LazyApps) or "gunicorn" (Worker, Preload).
	Server       string `json:"server,omitempty"`
	MPM          string `json:"mpm,omitempty"`
	Mode         string `json:"mode,omitempty"`
	Heartbeat    string `json:"heartbeat,omitempty"`
	MonkeyPatch  bool   `json:"monkey_patch"`
	TCPKeepalive bool   `json:"tcp_keepalive,omitempty"`
	// Control says why this cell is a control ("" for a matrix cell).
	Control  string `json:"control,omitempty"`
	Threads  bool   `json:"threads,omitempty"`
	LazyApps bool   `json:"lazy_apps,omitempty"`
	Worker   string `json:"worker,omitempty"`
	Preload  bool   `json:"preload,omitempty"`
}

// Specs expands the matrix: server by server (Apache when none is given), each server's own
// dimensions, then the heartbeat; every cell is monkey-patched (the write-ups' service), which
// a scenario may change.
func (m Matrix) Specs() []CellSpec {
	hbs := m.Heartbeats
	if len(hbs) == 0 {
		hbs = []string{""}
	}
	servers := m.Servers
	if len(servers) == 0 {
		servers = []string{apache.Kind}
	}
	var out []CellSpec
	add := func(s CellSpec) {
		for _, hb := range hbs {
			s.Heartbeat, s.MonkeyPatch = hb, true
			out = append(out, s)
		}
	}
	for _, srv := range servers {
		switch srv {
		case apache.Kind:
			for _, mpm := range m.MPMs {
				for _, mode := range m.Modes {
					add(CellSpec{MPM: mpm, Mode: mode})
				}
			}
		case uwsgi.Kind:
			for _, th := range orBool(m.UWSGIThreads, false, true) {
				for _, lazy := range orBool(m.UWSGILazyApps, false) {
					add(CellSpec{Server: srv, Threads: th, LazyApps: lazy})
				}
			}
		case gunicorn.Kind:
			workers := m.GunicornWorkers
			if len(workers) == 0 {
				workers = gunicorn.Workers
			}
			for _, w := range workers {
				for _, pre := range orBool(m.GunicornPreload, false) {
					add(CellSpec{Server: srv, Worker: w, Preload: pre})
				}
			}
		}
	}
	return out
}

func orBool(v []bool, def ...bool) []bool {
	if len(v) == 0 {
		return def
	}
	return v
}

// Name is the cell id the spec gives: "prefork-embedded-green" for Apache,
// "uwsgi-threads-green" / "uwsgi-nothreads-lazy-green", "gunicorn-eventlet-preload-green", with
// "-nopatch" and "-keepalive" for the controls.
func (c CellSpec) Name() string {
	var s string
	switch c.Server {
	case "", apache.Kind:
		s = c.MPM + "-" + c.Mode
	case uwsgi.Kind:
		s = c.Server + "-threads"
		if !c.Threads {
			s = c.Server + "-nothreads"
		}
		if c.LazyApps {
			s += "-lazy"
		}
	default:
		s = c.Server
		if c.Worker != "" {
			s += "-" + c.Worker
		}
		if c.Preload {
			s += "-preload"
		}
	}
	if c.Heartbeat != "" {
		s += "-" + c.Heartbeat
	}
	if !c.MonkeyPatch {
		s += "-nopatch"
	}
	if c.TCPKeepalive {
		s += "-keepalive"
	}
	return s
}

// Columns are what a table shows of the spec's server: the MPM and mod_wsgi mode for Apache,
// the server's name and its worker model for the others.
func (c CellSpec) Columns() (server, workers string) {
	switch c.Server {
	case "", apache.Kind:
		return c.MPM, c.Mode
	case uwsgi.Kind:
		w := "threads " + map[bool]string{true: "on", false: "off"}[c.Threads]
		if c.LazyApps {
			w += ", lazy-apps"
		}
		return c.Server, w
	default:
		w := c.Worker
		if c.Preload {
			w += ", preload"
		}
		return c.Server, w
	}
}

// ServerOptions are the spec's server knobs (processes and threads are the scenario's).
func (c CellSpec) ServerOptions() server.Options {
	o := server.Options{Server: c.Server, MPM: c.MPM, Mode: c.Mode, EnableThreads: c.Threads, LazyApps: c.LazyApps,
		Worker: c.Worker}
	if c.Server == gunicorn.Kind {
		o.Preload = c.Preload
	}
	return o
}

// IsApache says the spec's server is Apache + mod_wsgi (the default).
func (c CellSpec) IsApache() bool { return c.Server == "" || c.Server == apache.Kind }

// ParseList splits a comma-separated flag value and checks every item against allowed,
// dropping duplicates; the error names the flag and the allowed values.
func ParseList(flag, value string, allowed []string) ([]string, error) {
	var out []string
	for _, item := range strings.Split(value, ",") {
		item = strings.TrimSpace(strings.ToLower(item))
		if item == "" {
			continue
		}
		if !slices.Contains(allowed, item) {
			return nil, fmt.Errorf("--%s: unknown value %q (allowed: %s)", flag, item, strings.Join(allowed, ", "))
		}
		if !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--%s: no value given (allowed: %s)", flag, strings.Join(allowed, ", "))
	}
	return out, nil
}
